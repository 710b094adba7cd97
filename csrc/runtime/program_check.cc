#include "runtime/program_check.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace fnn {
namespace {

// Any one extent, kernel size, stride, dilation or pad: keeps every index product of the
// conv / pool kernels far from overflow.
constexpr size_t kMaxDim = size_t{1} << 24;
// Elements per sample of one tensor.
constexpr size_t kMaxElems = size_t{1} << 40;
constexpr size_t kMaxIo = 16;

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

// a * b * ..., or 0 when the product overflows kMaxElems (no real tensor has 0 elements).
size_t product(std::initializer_list<size_t> v) {
  size_t p = 1;
  for (size_t x : v) {
    if (__builtin_mul_overflow(p, x, &p) || p > kMaxElems) return 0;
  }
  return p;
}

bool valid_u8_quant(float scale, int32_t zero_point) {
  return std::isfinite(scale) && scale > 0.f && zero_point >= 0 && zero_point <= 255;
}

class StepChecker {
 public:
  StepChecker(const std::vector<TensorInfo>& tensors, const Step& s, size_t index)
      : t_(tensors), s_(s),
        where_("step " + std::to_string(index) + " '" + printable_name(s.name) + "' (" +
               step_kind_name(s.kind) + "): ") {}

  [[noreturn]] void fail_here(const std::string& what) const { fail(where_ + what); }
  void expect(bool ok, const std::string& what) const {
    if (!ok) fail_here(what);
  }
  size_t elems(int t) const { return t_[t].sample_elems; }
  DType dtype(int t) const { return t_[t].dtype; }
  void inputs(size_t n) const {
    expect(s_.in.size() == n,
           "takes " + std::to_string(n) + " input(s), has " + std::to_string(s_.in.size()));
  }
  void all_f32() const {
    for (int t : s_.in) expect(dtype(t) == DType::kF32, "reads float32 inputs only");
    expect(dtype(s_.out) == DType::kF32, "writes a float32 output only");
  }
  // An element-wise step reads float32, or (with in_scale) u8 tensors quantized as it says;
  // its output is either.
  void u8_inputs_or_f32() const {
    if (s_.in_scale.empty()) {
      expect(s_.in_zero_point.empty(), "has input zero points but no input scales");
      all_f32();
      return;
    }
    expect(s_.in_scale.size() == s_.in.size() && s_.in_zero_point.size() == s_.in.size(),
           "needs one u8 scale and zero point per input");
    for (size_t k = 0; k < s_.in.size(); ++k) {
      const TensorInfo& t = t_[s_.in[k]];
      expect(valid_u8_quant(s_.in_scale[k], s_.in_zero_point[k]), "an input scale / zero point out of range");
      expect(t.dtype == DType::kU8 && t.scale == s_.in_scale[k] && t.zero_point == s_.in_zero_point[k],
             "input " + std::to_string(k) + " is not the u8 tensor its parameters say");
    }
  }
  void same_size(int a, int b, const char* what) const {
    expect(elems(a) == elems(b), std::string(what) + ": " + std::to_string(elems(a)) + " vs " +
                                     std::to_string(elems(b)) + " elements per sample");
  }
  void size_is(int t, size_t want, const char* what) const {
    expect(want != 0 && elems(t) == want,
           std::string(what) + " has " + std::to_string(elems(t)) +
               " elements per sample, the step's shape says " +
               (want != 0 ? std::to_string(want) : std::string("an overflowing count")));
  }
  // Fields this kind does not use must be empty: a blob or vector nothing reads is a defect.
  void unused(bool packed, bool sparse, bool bias, bool weights, bool parts) const {
    if (packed) expect(s_.packed.empty(), "has packed weights it does not use");
    if (sparse) expect(!s_.sparse, "has a sparse matrix it does not use");
    if (bias) expect(s_.bias.empty(), "has a bias it does not use");
    if (weights) expect(s_.weights.empty(), "has weights it does not use");
    if (weights) expect(s_.weights_s8.empty() && s_.w_scale.empty(), "has int8 weights it does not use");
    if (parts) expect(s_.parts.empty(), "has concat parts it does not use");
    if (s_.kind != StepKind::kAdd && s_.kind != StepKind::kGlobalAvgPool) {
      expect(s_.in_scale.empty() && s_.in_zero_point.empty(), "has u8 input parameters it does not use");
    }
  }
  void dims(std::initializer_list<size_t> v, const char* what) const {
    for (size_t x : v) expect(x >= 1 && x <= kMaxDim, std::string(what) + " has an extent outside [1, 2^24]");
  }
  // The windows of `out` outputs span (out - 1) * stride + (k - 1) * dil + 1 padded rows:
  // `pad` before the input, the rest after it. compile() pads symmetrically, or one more
  // after (SAME_UPPER), and rounds down, so the padding after is at most pad + 1. More
  // outputs than that can produce mean the geometry is inconsistent (a crafted file), and
  // is refused. Every operand is at most 2^24 (dims() ran first): the products stay below
  // 2^50, far from overflow.
  void extent_fits(size_t out, size_t k, size_t stride, size_t dil, size_t in, size_t pad,
                   const char* axis) const {
    const size_t span = (out - 1) * stride + (k - 1) * dil + 1;
    expect(span <= in + 2 * pad + 1,
           std::string(axis) + ": " + std::to_string(out) + " outputs need " + std::to_string(span) +
               " padded values, more than the input " + std::to_string(in) + " with padding " +
               std::to_string(pad) + " before and at most " + std::to_string(pad + 1) + " after");
  }
  void conv_geometry() const {
    const Conv2dGeometry& g = s_.conv;
    dims({g.h, g.w, g.c, g.oh, g.ow, g.oc, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.groups}, "conv geometry");
    expect(g.pad_top <= kMaxDim && g.pad_left <= kMaxDim, "conv padding past 2^24");
    expect(g.c % g.groups == 0 && g.oc % g.groups == 0, "channels are not a multiple of the groups");
    extent_fits(g.oh, g.kh, g.sh, g.dh, g.h, g.pad_top, "conv rows");
    extent_fits(g.ow, g.kw, g.sw, g.dw, g.w, g.pad_left, "conv columns");
    size_is(s_.in[0], product({g.h, g.w, g.c}), "the input");
  }
  // A pooling window always holds at least one real input (the kernels seed each output
  // from its first real tap).
  void pool_geometry(const Pool2dGeometry& g) const {
    dims({g.h, g.w, g.c, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw}, "pool geometry");
    expect(g.pad_top < g.kh && g.pad_left < g.kw, "pool padding as large as the window");
    expect((g.oh - 1) * g.sh < g.h + g.pad_top && (g.ow - 1) * g.sw < g.w + g.pad_left,
           "the last pool window lies wholly in the padding");
    extent_fits(g.oh, g.kh, g.sh, 1, g.h, g.pad_top, "pool rows");
    extent_fits(g.ow, g.kw, g.sw, 1, g.w, g.pad_left, "pool columns");
  }
  void packed_gemm(size_t count, size_t k, size_t n) const {
    expect(s_.packed.size() == count, "needs " + std::to_string(count) + " packed weights, has " +
                                          std::to_string(s_.packed.size()));
    for (const auto& pw : s_.packed) {
      expect(pw != nullptr, "a packed weight is missing");
      expect(pw->kind() == s_.packed[0]->kind(), "groups with different weight kinds");
      expect(pw->k() == k && pw->n() == n,
             "weights are " + std::to_string(pw->k()) + " x " + std::to_string(pw->n()) +
                 ", the step needs " + std::to_string(k) + " x " + std::to_string(n));
    }
    if (Program::is_int8_gemm(s_)) {
      expect(valid_u8_quant(s_.a_scale, s_.a_zero_point),
             "int8 input scale / zero point out of range");
      expect(dtype(s_.in[0]) == DType::kU8, "int8 weights read a u8 input (a quantize step first)");
    } else {
      all_f32();
    }
  }

  void run() const {
    const Step& s = s_;
    switch (s.kind) {
      case StepKind::kToNhwc:
      case StepKind::kToNchw:
        inputs(1);
        unused(true, true, true, true, true);
        all_f32();
        size_is(s.in[0], product({s.c, s.hw}), "the input");
        size_is(s.out, product({s.c, s.hw}), "the output");
        break;
      case StepKind::kQuantize:
        inputs(1);
        unused(true, true, true, true, true);
        expect(dtype(s.in[0]) == DType::kF32 && dtype(s.out) == DType::kU8, "quantizes float32 to u8 only");
        same_size(s.in[0], s.out, "input and output differ");
        break;
      case StepKind::kDense: {
        inputs(1);
        unused(false, true, true, true, true);
        expect(!s.packed.empty() && s.packed[0] != nullptr, "has no packed weights");
        packed_gemm(1, elems(s.in[0]), elems(s.out));
        break;
      }
      case StepKind::kSparseDense:
        inputs(1);
        unused(true, false, false, true, true);
        expect(s.sparse != nullptr, "has no sparse matrix");
        all_f32();
        size_is(s.in[0], s.sparse->cols(), "the input");
        size_is(s.out, s.sparse->rows(), "the output");
        expect(s.bias.empty() || s.bias.size() == s.sparse->rows(), "bias length is not the rows");
        break;
      case StepKind::kConv: {
        inputs(1);
        unused(false, true, true, true, true);
        conv_geometry();
        const Conv2dGeometry& g = s.conv;
        expect(!s.packed.empty() && s.packed[0] != nullptr, "has no packed weights");
        const size_t k = product({g.kh, g.kw, g.c / g.groups});
        expect(k != 0, "the patch size overflows");
        packed_gemm(g.groups, k, g.oc / g.groups);
        if (s.pool_fused) {
          const Pool2dGeometry& p = s.pool;
          dims({p.kh, p.kw}, "fused pool window");
          expect(p.h == g.oh && p.w == g.ow && p.c == g.oc && p.sh == p.kh && p.sw == p.kw &&
                     p.pad_top == 0 && p.pad_left == 0 && p.oh == g.oh / p.kh &&
                     p.ow == g.ow / p.kw && p.oh >= 1 && p.ow >= 1,
                 "a fused max-pool needs stride == window, no padding, over the conv's output");
          size_is(s.out, product({p.oh, p.ow, g.oc}), "the output");
        } else {
          size_is(s.out, product({g.oh, g.ow, g.oc}), "the output");
        }
        break;
      }
      case StepKind::kDepthwise: {
        inputs(1);
        unused(true, true, false, false, true);
        conv_geometry();
        const Conv2dGeometry& g = s.conv;
        expect(g.groups == g.c && g.oc == g.c, "a depthwise conv has groups == channels == outputs");
        size_is(s.out, product({g.oh, g.ow, g.oc}), "the output");
        const size_t taps = product({g.kh, g.kw, g.c});
        if (s.weights_s8.empty()) {
          all_f32();
          expect(s.w_scale.empty(), "has weight scales but no int8 weights");
          expect(taps != 0 && s.weights.size() == taps, "weights are not kh x kw x channels");
        } else {
          expect(s.weights.empty(), "has float weights besides its int8 ones");
          expect(taps != 0 && s.weights_s8.size() == taps, "int8 weights are not kh x kw x channels");
          expect(s.w_scale.size() == g.c, "needs one weight scale per channel");
          for (float v : s.w_scale) expect(std::isfinite(v) && v > 0.f, "a weight scale is not positive and finite");
          expect(valid_u8_quant(s.a_scale, s.a_zero_point), "int8 input scale / zero point out of range");
          expect(dtype(s.in[0]) == DType::kU8, "int8 weights read a u8 input (a quantize step first)");
        }
        expect(s.bias.empty() || s.bias.size() == g.c, "bias length is not the channels");
        break;
      }
      case StepKind::kMaxPool:
      case StepKind::kAvgPool: {
        inputs(1);
        unused(true, true, true, true, true);
        pool_geometry(s.pool);
        const Pool2dGeometry& g = s.pool;
        size_is(s.in[0], product({g.h, g.w, g.c}), "the input");
        size_is(s.out, product({g.oh, g.ow, g.c}), "the output");
        if (s.kind == StepKind::kAvgPool) {
          all_f32();
        } else {
          expect(dtype(s.in[0]) == dtype(s.out), "max-pool input and output dtypes differ");
        }
        break;
      }
      case StepKind::kGlobalAvgPool:
        inputs(1);
        unused(true, true, true, true, true);
        u8_inputs_or_f32();
        size_is(s.in[0], product({s.c, s.hw}), "the input");
        size_is(s.out, product({s.c}), "the output");
        break;
      case StepKind::kAdd:
        inputs(2);
        unused(true, true, true, true, true);
        u8_inputs_or_f32();
        same_size(s.in[0], s.out, "input 0 and output differ");
        same_size(s.in[1], s.out, "input 1 and output differ");
        break;
      case StepKind::kClamp:
      case StepKind::kSigmoid:
        inputs(1);
        unused(true, true, true, true, true);
        all_f32();
        same_size(s.in[0], s.out, "input and output differ");
        break;
      case StepKind::kSoftmax:
        inputs(1);
        unused(true, true, true, true, true);
        all_f32();
        same_size(s.in[0], s.out, "input and output differ");
        expect(s.c >= 1 && elems(s.out) % s.c == 0, "rows of c do not tile the tensor");
        break;
      case StepKind::kScaleShift:
        inputs(1);
        unused(true, true, true, false, true);
        all_f32();
        same_size(s.in[0], s.out, "input and output differ");
        expect(s.c >= 1 && elems(s.out) % s.c == 0, "channels do not tile the tensor");
        expect(s.weights.size() / 2 == s.c && s.weights.size() % 2 == 0, "needs c scales then c shifts");
        break;
      case StepKind::kConcat: {
        expect(!s.in.empty() && s.in.size() == s.parts.size(), "needs one part per input");
        unused(true, true, true, true, false);
        all_f32();
        size_t c = 0;
        for (size_t p : s.parts) {
          expect(p >= 1 && p <= kMaxDim, "a part outside [1, 2^24] channels");
          c += p;
        }
        expect(c == s.c && elems(s.out) % c == 0, "parts do not add up to the output's channels");
        const size_t pixels = elems(s.out) / c;
        for (size_t j = 0; j < s.in.size(); ++j) size_is(s.in[j], product({pixels, s.parts[j]}), "an input");
        break;
      }
    }
  }

 private:
  const std::vector<TensorInfo>& t_;
  const Step& s_;
  std::string where_;
};

}  // namespace

std::string printable_name(const std::string& name) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  size_t i = 0;
  for (; i < name.size() && out.size() < 80; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return i < name.size() ? out + "..." : out;
}

void check_program(const std::vector<TensorInfo>& tensors, const std::vector<Step>& steps,
                   const std::vector<int>& inputs, const std::vector<int>& outputs) {
  const int nt = static_cast<int>(tensors.size());
  for (int i = 0; i < nt; ++i) {
    const TensorInfo& t = tensors[i];
    const std::string where = "tensor " + std::to_string(i) + ": ";
    if (t.sample_elems < 1 || t.sample_elems > kMaxElems) {
      fail(where + "elements per sample outside [1, 2^40]");
    }
    if (t.dtype != DType::kF32 && t.dtype != DType::kU8) fail(where + "unknown dtype");
    if (t.dtype == DType::kU8 && !valid_u8_quant(t.scale, t.zero_point)) {
      fail(where + "u8 needs a positive finite scale and a zero point in 0..255");
    }
    if (t.external && t.dtype != DType::kF32) fail(where + "an input or output must be float32");
    if (t.alias_of < -1 || t.alias_of >= i) fail(where + "aliases a tensor that does not precede it");
    if (t.alias_of >= 0) {
      const TensorInfo& r = tensors[t.alias_of];
      if (r.alias_of >= 0 || t.external || r.sample_elems != t.sample_elems || r.dtype != t.dtype ||
          (t.dtype == DType::kU8 && (r.scale != t.scale || r.zero_point != t.zero_point))) {
        fail(where + "an alias must be internal and match its (unaliased) tensor in size and dtype");
      }
    }
  }
  auto root = [&](int t) { return tensors[t].alias_of >= 0 ? tensors[t].alias_of : t; };
  // 0: not written yet, 1: written (or a program input), 2: program input.
  std::vector<char> state(tensors.size(), 0);
  std::vector<char> io(tensors.size(), 0);
  auto io_list = [&](const std::vector<int>& list, const char* what) {
    if (list.empty() || list.size() > kMaxIo) fail(std::string("the program needs 1..16 ") + what);
    for (int t : list) {
      if (t < 0 || t >= nt || !tensors[t].external) fail(std::string(what) + " must be external tensors");
      if (io[t]) fail("tensor " + std::to_string(t) + " is listed twice among the inputs and outputs");
      io[t] = 1;
    }
  };
  io_list(inputs, "inputs");
  io_list(outputs, "outputs");
  for (int i = 0; i < nt; ++i) {
    if (tensors[i].external && !io[i]) {
      fail("tensor " + std::to_string(i) + " is external but neither an input nor an output");
    }
  }
  for (int t : inputs) state[t] = 2;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    StepChecker c(tensors, s, i);
    if (static_cast<int>(s.kind) < 0 || static_cast<int>(s.kind) >= kNumStepKinds) {
      c.fail_here("unknown kind");
    }
    c.expect(!s.pool_fused || s.kind == StepKind::kConv, "only a conv carries a fused pool");
    c.expect(s.out >= 0 && s.out < nt, "writes a tensor that does not exist");
    c.expect(tensors[s.out].alias_of < 0, "writes an alias");
    c.expect(state[s.out] == 0, "writes a tensor already written, or a program input");
    for (int t : s.in) {
      c.expect(t >= 0 && t < nt, "reads a tensor that does not exist");
      c.expect(root(t) != s.out, "reads its own output");
      c.expect(state[root(t)] != 0, "reads tensor " + std::to_string(t) + " before any step writes it");
    }
    c.run();
    state[s.out] = 1;
  }
  for (int t : outputs) {
    if (state[t] != 1) fail("output tensor " + std::to_string(t) + " is never written");
  }
}

}  // namespace fnn
