// What a step kind is: one StepKindImpl per kind, in its own file steps/<kind>.cc, found by
// step_impl(kind) (a table the step_kinds.inc list generates). The program, its checker, the
// session, the .fnn reader / writer and the bindings call through it and never switch on
// the kind, so a new kind is one new file plus its line in step_kinds.inc. Room is left for
// the training issue: a kind's backward pass belongs in the same file, as another method.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "runtime/step.h"
#include "runtime/step_record.h"
#include "runtime/tensor_info.h"

namespace fnn {

class Program;
class PackedWeights;

// Checks one step against the program's tensors and fails with a message naming the step.
// Every bound keeps the kernels' index arithmetic far from overflow (a crafted file is
// checked by the same code as a compiled graph).
class StepCheck {
 public:
  static constexpr size_t kMaxDim = size_t{1} << 24;    // any extent, kernel size, stride, pad
  static constexpr size_t kMaxElems = size_t{1} << 40;  // elements per sample of a tensor

  StepCheck(const std::vector<TensorInfo>& tensors, const Step& s, size_t index);

  [[noreturn]] void fail(const std::string& what) const;
  void expect(bool ok, const std::string& what) const {
    if (!ok) fail(what);
  }
  const Step& step() const { return s_; }
  const TensorInfo& tensor(int t) const { return t_[t]; }
  size_t elems(int t) const { return t_[t].sample_elems; }
  DType dtype(int t) const { return t_[t].dtype; }

  // The kind's parameters, present and of its type.
  template <typename P>
  const P& params() const {
    const P* p = s_.try_params<P>();
    expect(p != nullptr, s_.params ? "has parameters of another kind" : "has no parameters");
    return *p;
  }
  void no_params() const { expect(s_.params == nullptr, "has parameters its kind does not take"); }
  void no_clamp() const;
  void inputs(size_t n) const;
  // One input, as large as the output; the output is clamped only when the kind clamps.
  void unary(bool clamps = false) const;
  // One input and the output, `elems` values per sample each (0: a shape whose product
  // overflowed, refused); no clamp.
  void unary_sized(size_t elems) const;
  void all_f32() const;
  // An element-wise step reads float32 inputs, or (u8 non-empty) u8 tensors quantized as u8
  // says, one entry per input; its output is either.
  void u8_inputs_or_f32(const std::vector<QuantIn>& u8) const;
  void same_size(int a, int b, const char* what) const;
  // Tensor t holds `want` elements per sample (0: the shape's product overflowed).
  void size_is(int t, size_t want, const char* what) const;
  void dims(std::initializer_list<size_t> v, const char* what) const;
  void conv_geometry(const Conv2dGeometry& g) const;
  void pool_geometry(const Pool2dGeometry& g) const;
  // count packed weights of k x n, one weight kind; int8 ones read a u8 input quantized as
  // `input` says, float ones read and write float32.
  void packed_gemm(const std::vector<std::shared_ptr<PackedWeights>>& packed, size_t count, size_t k,
                   size_t n, const QuantIn& input) const;
  void valid_quant(const QuantIn& q, const char* what) const;
  // Fused activations (if any): at most kMaxFusedUnary known functions, on a float32 output.
  void fused_unary(const std::vector<FusedUnary>& v) const;

  // a * b * ..., or 0 when the product passes kMaxElems.
  static size_t product(std::initializer_list<size_t> v);

 private:
  const std::vector<TensorInfo>& t_;
  const Step& s_;
  std::string where_;
};

// How large the per-thread working tiles of a step are (a conv's im2col rows and the conv rows
// under a fused pool): kFast sizes them for GEMM throughput; kCompact takes the fewest rows a
// tile can have, for the smallest arena where those tiles dominate it (batch-1 edge plans).
// A session plans its scratch with one of them and its steps run with the same.
enum class Tiles : uint8_t { kFast, kCompact };
using StepTiles = std::vector<Tiles>;  // per step of a program

// One run of one step: its tensors' addresses in the leased arena (inputs and outputs bound
// for this run), its scratch, and the session's thread count and tile size.
struct StepRun {
  const Program& program;
  const Step& step;
  size_t batch;
  size_t threads;
  Tiles tiles;
  char* const* ptr;  // per tensor
  char* scratch;     // scratch_bytes() of this step, or null

  const TensorInfo& in_info(size_t k = 0) const;
  const TensorInfo& out_info() const;
  template <typename T = float>
  const T* in(size_t k = 0) const {
    return reinterpret_cast<const T*>(ptr[step.in[k]]);
  }
  template <typename T = float>
  T* out() const {
    return reinterpret_cast<T*>(ptr[step.out]);
  }
  // batch x the output's elements per sample.
  size_t out_values() const { return batch * out_info().sample_elems; }
};

class StepKindImpl {
 public:
  virtual ~StepKindImpl() = default;
  // The kind's name in Python, .fnn files and messages ("conv2d").
  virtual const char* name() const = 0;
  // What a listing shows for the step: its kind's name, plus what is fused into it.
  virtual std::string label(const Step& s) const;
  // Shapes, dtypes, offsets and parameters against the program's tensors; runs on every
  // program, compiled or loaded, before any session may run it.
  virtual void check(const StepCheck& c) const = 0;
  virtual void run(const StepRun& r) const = 0;
  // Bytes of scratch one run needs with `threads` threads and `tiles` (planned in the arena).
  virtual size_t scratch_bytes(const Program& p, const Step& s, size_t threads, Tiles tiles) const;
  // "f32", "f16", "bf16", "int8" or "sparse": what the step computes in.
  virtual const char* precision(const Step& s) const;
  // Bytes of weights the step holds (shared by every session of the program).
  virtual size_t weight_bytes(const Step& s) const;

  // Activation dtypes (Program::assign_activation_dtypes). Whether the step reads input k as
  // u8, and with which parameters:
  virtual bool reads_u8(const Step& s, size_t k, QuantIn* q) const;
  // Whether it can write a u8 output, given its inputs' dtypes:
  virtual bool writes_u8(const Step& s, const std::vector<TensorInfo>& tensors) const;
  // Whether a u8 output makes it read its input as u8 with the same parameters (a max-pool):
  virtual bool passes_u8(const Step& s) const;
  // Whether it moves bytes without reading them as numbers (a layout change): a u8 / s8 input
  // gives it an output of the same dtype and parameters (a u8 program input, NCHW to NHWC).
  virtual bool keeps_dtype(const Step& s) const;
  // Whether it reads u8 / s8 inputs with the tensors' own parameters, whatever they are
  // (dequantize).
  virtual bool reads_quantized(const Step& s) const;
  // Derived state once dtypes are final and the step is checked (int8 output stages).
  virtual void prepare(Step& s, const std::vector<TensorInfo>& tensors) const;

  // The parameter record of .fnn version 2 (the kind's own layout, fnn_format.h).
  virtual void write(StepRecordWriter& w, const Step& s) const;
  virtual std::shared_ptr<StepParams> read(StepRecordReader& r) const;
};

// A kind with a parameter struct P: check and run receive the parameters, and the .fnn record
// is P's fields in the order P::fields lists them (step_record.h encodes each field type):
//   struct SoftmaxParams : StepParams {
//     size_t cols = 0;
//     template <typename Self, typename F> static void fields(Self& p, F&& f) { f(p.cols); }
//   };
// Derived state (an int8 output stage) is left out of fields and rebuilt by prepare().
template <typename P>
class StepKindWith : public StepKindImpl {
 public:
  void check(const StepCheck& c) const final { check_params(c, c.params<P>()); }
  void run(const StepRun& r) const final { run_params(r, r.step.params_as<P>()); }
  void write(StepRecordWriter& w, const Step& s) const final {
    P::fields(s.template params_as<const P>(), [&](const auto& field) { w.put_field(field); });
  }
  std::shared_ptr<StepParams> read(StepRecordReader& r) const final {
    auto p = std::make_shared<P>();
    P::fields(*p, [&](auto& field) { r.get_field(field); });
    return p;
  }

 protected:
  virtual void check_params(const StepCheck& c, const P& p) const = 0;
  virtual void run_params(const StepRun& r, const P& p) const = 0;
};

// Defines a kind's accessor (the name step_kinds.inc gives it) as its one instance.
#define FNN_DEFINE_STEP_KIND(impl, Class) \
  const StepKindImpl& impl() {            \
    static const Class instance;          \
    return instance;                      \
  }

const StepKindImpl& step_impl(StepKind kind);
const char* step_kind_name(StepKind kind);
// The kind called `name` (step_kind_name's inverse); false for an unknown name.
bool parse_step_kind(const std::string& name, StepKind* kind);

// Each kind's implementation (steps/<kind>.cc), declared from the list.
#define FNN_STEP_KIND(id, impl, what) const StepKindImpl& impl();
#include "runtime/step_kinds.inc"
#undef FNN_STEP_KIND

}  // namespace fnn
