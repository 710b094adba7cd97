#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/eltwise/unary_f32.h"
#include "kernels/gemm/gemm.h"
#include "runtime/program_check.h"
#include "runtime/step_kind.h"

namespace fnn {
namespace {

bool valid_u8_quant(float scale, int32_t zero_point) {
  return std::isfinite(scale) && scale > 0.f && zero_point >= 0 && zero_point <= 255;
}

}  // namespace

StepCheck::StepCheck(const std::vector<TensorInfo>& tensors, const Step& s, size_t index)
    : t_(tensors), s_(s),
      where_("step " + std::to_string(index) + " '" + printable_name(s.name) + "' (" +
             step_kind_name(s.kind) + "): ") {}

void StepCheck::fail(const std::string& what) const { throw std::invalid_argument(where_ + what); }

size_t StepCheck::product(std::initializer_list<size_t> v) {
  size_t p = 1;
  for (size_t x : v) {
    if (__builtin_mul_overflow(p, x, &p) || p > kMaxElems) return 0;
  }
  return p;
}

void StepCheck::no_clamp() const {
  expect(!(s_.lo > -__builtin_inff()) && !(s_.hi < __builtin_inff()), "clamps an output its kind does not clamp");
}

void StepCheck::inputs(size_t n) const {
  expect(s_.in.size() == n, "takes " + std::to_string(n) + " input(s), has " + std::to_string(s_.in.size()));
}

void StepCheck::unary(bool clamps) const {
  inputs(1);
  if (!clamps) no_clamp();
  same_size(s_.in[0], s_.out, "input and output differ");
}

void StepCheck::unary_sized(size_t elems) const {
  inputs(1);
  no_clamp();
  size_is(s_.in[0], elems, "the input");
  size_is(s_.out, elems, "the output");
}

void StepCheck::all_f32() const {
  for (int t : s_.in) expect(dtype(t) == DType::kF32, "reads float32 inputs only");
  expect(dtype(s_.out) == DType::kF32, "writes a float32 output only");
}

void StepCheck::fused_unary(const std::vector<FusedUnary>& v) const {
  if (v.empty()) return;
  expect(v.size() <= kMaxFusedUnary, "fuses more than " + std::to_string(kMaxFusedUnary) + " activations");
  for (const FusedUnary& f : v) {
    expect(f.op < static_cast<size_t>(UnaryOp::kCount), "fuses an unknown unary function " + std::to_string(f.op));
  }
  expect(dtype(s_.out) == DType::kF32, "has a fused activation, so writes a float32 output");
}

void StepCheck::valid_quant(const QuantIn& q, const char* what) const {
  expect(valid_u8_quant(q.scale, q.zero_point), std::string(what) + " scale / zero point out of range");
}

void StepCheck::u8_inputs_or_f32(const std::vector<QuantIn>& u8) const {
  if (u8.empty()) {
    all_f32();
    return;
  }
  expect(u8.size() == s_.in.size(), "needs one u8 scale and zero point per input");
  for (size_t k = 0; k < s_.in.size(); ++k) {
    const TensorInfo& t = t_[s_.in[k]];
    valid_quant(u8[k], "an input");
    expect(t.dtype == DType::kU8 && t.scale == u8[k].scale && t.zero_point == u8[k].zero_point,
           "input " + std::to_string(k) + " is not the u8 tensor its parameters say");
  }
}

void StepCheck::same_size(int a, int b, const char* what) const {
  expect(elems(a) == elems(b), std::string(what) + ": " + std::to_string(elems(a)) + " vs " +
                                   std::to_string(elems(b)) + " elements per sample");
}

void StepCheck::size_is(int t, size_t want, const char* what) const {
  expect(want != 0 && elems(t) == want,
         std::string(what) + " has " + std::to_string(elems(t)) + " elements per sample, the step's shape says " +
             (want != 0 ? std::to_string(want) : std::string("an overflowing count")));
}

void StepCheck::dims(std::initializer_list<size_t> v, const char* what) const {
  for (size_t x : v) expect(x >= 1 && x <= kMaxDim, std::string(what) + " has an extent outside [1, 2^24]");
}

namespace {

// The windows of `out` outputs span (out - 1) * stride + (k - 1) * dil + 1 padded rows:
// `pad` before the input, the rest after it. compile() pads symmetrically, or one more
// after (SAME_UPPER), and rounds down, so the padding after is at most pad + 1. More
// outputs than that can produce mean the geometry is inconsistent (a crafted file), and
// is refused. Every operand is at most 2^24 (dims() ran first): the products stay below
// 2^50, far from overflow.
void extent_fits(const StepCheck& c, size_t out, size_t k, size_t stride, size_t dil, size_t in,
                 size_t pad, const char* axis) {
  // The kernels clip every window to the input, so padding after it may be any size (an
  // asymmetric TF 'same' or a folded Pad); it is capped like every other extent.
  const size_t span = (out - 1) * stride + (k - 1) * dil + 1;
  c.expect(span <= in + pad + StepCheck::kMaxDim,
           std::string(axis) + ": " + std::to_string(out) + " outputs need " + std::to_string(span) +
               " padded values, more than the input " + std::to_string(in) + " with padding " +
               std::to_string(pad) + " before and at most 2^24 after");
}

}  // namespace

void StepCheck::conv_geometry(const Conv2dGeometry& g) const {
  dims({g.h, g.w, g.c, g.oh, g.ow, g.oc, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.groups}, "conv geometry");
  expect(g.pad_top <= kMaxDim && g.pad_left <= kMaxDim, "conv padding past 2^24");
  expect(g.c % g.groups == 0 && g.oc % g.groups == 0, "channels are not a multiple of the groups");
  extent_fits(*this, g.oh, g.kh, g.sh, g.dh, g.h, g.pad_top, "conv rows");
  extent_fits(*this, g.ow, g.kw, g.sw, g.dw, g.w, g.pad_left, "conv columns");
  size_is(s_.in[0], product({g.h, g.w, g.c}), "the input");
}

// A pooling window always holds at least one real input (the kernels seed each output from
// its first real tap).
void StepCheck::pool_geometry(const Pool2dGeometry& g) const {
  dims({g.h, g.w, g.c, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw}, "pool geometry");
  expect(g.pad_top < g.kh && g.pad_left < g.kw, "pool padding as large as the window");
  expect((g.oh - 1) * g.sh < g.h + g.pad_top && (g.ow - 1) * g.sw < g.w + g.pad_left,
         "the last pool window lies wholly in the padding");
  extent_fits(*this, g.oh, g.kh, g.sh, 1, g.h, g.pad_top, "pool rows");
  extent_fits(*this, g.ow, g.kw, g.sw, 1, g.w, g.pad_left, "pool columns");
}

void StepCheck::packed_gemm(const std::vector<std::shared_ptr<PackedWeights>>& packed, size_t count,
                            size_t k, size_t n, const QuantIn& input) const {
  expect(packed.size() == count,
         "needs " + std::to_string(count) + " packed weights, has " + std::to_string(packed.size()));
  for (const auto& pw : packed) {
    expect(pw != nullptr, "a packed weight is missing");
    expect(pw->kind() == packed[0]->kind(), "groups with different weight kinds");
    expect(pw->k() == k && pw->n() == n, "weights are " + std::to_string(pw->k()) + " x " +
                                             std::to_string(pw->n()) + ", the step needs " +
                                             std::to_string(k) + " x " + std::to_string(n));
  }
  if (packed[0]->kind() == WeightKind::kInt8) {
    valid_quant(input, "int8 input");
    expect(dtype(s_.in[0]) == DType::kU8, "int8 weights read a u8 input (a quantize step first)");
    expect(t_[s_.in[0]].scale == input.scale && t_[s_.in[0]].zero_point == input.zero_point,
           "the u8 input's scale / zero point are not the ones its int8 weights read it with");
  } else {
    all_f32();
  }
}

}  // namespace fnn
