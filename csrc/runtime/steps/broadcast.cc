// broadcast: element-wise binary ops between tensors of different shapes (numpy rules: an SE
// block's (C, 1, 1) gate times its (C, H, W) map, a (1, 1, 3) normalization constant), and
// Transpose as a strided copy. compile describes each operand by strides over the output's
// stored dims, so NHWC storage, broadcasting and permutations are one mechanism.
#include "runtime/steps/broadcast.h"

#include <cmath>

#include "runtime/parallel.h"
#include "runtime/program.h"

namespace fnn {
namespace {

constexpr size_t kMaxRank = 6;

template <BroadcastOp kOp>
inline float op(float a, float b) {
  if constexpr (kOp == BroadcastOp::kCopy) return a;
  if constexpr (kOp == BroadcastOp::kAdd) return a + b;
  if constexpr (kOp == BroadcastOp::kSub) return a - b;
  if constexpr (kOp == BroadcastOp::kMul) return a * b;
  if constexpr (kOp == BroadcastOp::kDiv) return a / b;
  // NaN propagates, as numpy.maximum / ONNX Max do (a bare comparison would drop it).
  if constexpr (kOp == BroadcastOp::kMax) return (a != a || a > b) ? a : b;
  if constexpr (kOp == BroadcastOp::kMin) return (a != a || a < b) ? a : b;
  if constexpr (kOp == BroadcastOp::kPow) return std::pow(a, b);
  if constexpr (kOp == BroadcastOp::kPRelu) return a < 0.0f ? a * b : a;
  return a;
}

template <BroadcastOp kOp, bool kSwap>
inline float apply(float a, float b) {
  return kSwap ? op<kOp>(b, a) : op<kOp>(a, b);
}

inline float clamp(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

// One innermost run: the three stride cases the compiler can vectorize get their own loop.
template <BroadcastOp kOp, bool kSwap>
void run_inner(size_t n, const float* a, size_t sa, const float* b, size_t sb, float* y, float lo, float hi) {
  if (sa == 1 && sb == 1) {
    for (size_t i = 0; i < n; ++i) y[i] = clamp(apply<kOp, kSwap>(a[i], b[i]), lo, hi);
  } else if (sa == 1 && sb == 0) {
    const float bv = b[0];
    for (size_t i = 0; i < n; ++i) y[i] = clamp(apply<kOp, kSwap>(a[i], bv), lo, hi);
  } else if (sa == 0 && sb == 1) {
    const float av = a[0];
    for (size_t i = 0; i < n; ++i) y[i] = clamp(apply<kOp, kSwap>(av, b[i]), lo, hi);
  } else {
    for (size_t i = 0; i < n; ++i) y[i] = clamp(apply<kOp, kSwap>(a[i * sa], b[i * sb]), lo, hi);
  }
}

// Rows [r0, r1) of the flattened batch x outer dims: row r is sample r / rows_per_sample.
template <BroadcastOp kOp, bool kSwap>
void run_rows(const BroadcastParams& p, const float* a, const float* b, float* y, size_t r0, size_t r1,
              float lo, float hi) {
  const size_t rank = p.dims.size();
  const size_t inner = p.dims[rank - 1];
  size_t rows_per_sample = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows_per_sample *= p.dims[d];
  size_t idx[kMaxRank] = {};
  for (size_t r = r0; r < r1; ++r) {
    const size_t n = r / rows_per_sample;
    size_t rem = r % rows_per_sample, oa = n * p.a_sample + p.a_offset, ob = n * p.b_sample;
    for (size_t d = rank - 1; d-- > 0;) {
      idx[d] = rem % p.dims[d];
      rem /= p.dims[d];
      oa += idx[d] * p.a_strides[d];
      ob += idx[d] * p.b_strides[d];
    }
    run_inner<kOp, kSwap>(inner, a + oa, p.a_strides[rank - 1], b + ob, p.b_strides[rank - 1], y + r * inner, lo, hi);
  }
}

// A copy whose last dim is short (at most kShortInner) and whose input runs contiguously
// along the dim before it: ShuffleNet's channel shuffle, [pixels, C/g, g] reading
// in[i * C/g + j]. Row by row that is g values per row, the per-row setup costing more than
// the copy; as a block of the last two dims it is g contiguous reads, each stored at stride g.
constexpr size_t kShortInner = 8;

bool transposed_blocks(const BroadcastParams& p) {
  const size_t rank = p.dims.size();
  return p.op == static_cast<size_t>(BroadcastOp::kCopy) && rank >= 2 && p.dims[rank - 1] <= kShortInner &&
         p.a_strides[rank - 2] == 1 && p.a_strides[rank - 1] != 1;
}

// Blocks [k0, k1) (a block: the last two dims of one position of the others).
void copy_blocks(const BroadcastParams& p, const float* a, float* y, size_t k0, size_t k1) {
  const size_t rank = p.dims.size();
  const size_t m = p.dims[rank - 2], g = p.dims[rank - 1], sg = p.a_strides[rank - 1];
  size_t per_sample = 1;
  for (size_t d = 0; d + 2 < rank; ++d) per_sample *= p.dims[d];
  for (size_t k = k0; k < k1; ++k) {
    size_t rem = k % per_sample, oa = k / per_sample * p.a_sample + p.a_offset;
    for (size_t d = rank - 2; d-- > 0;) {
      oa += rem % p.dims[d] * p.a_strides[d];
      rem /= p.dims[d];
    }
    const float* in = a + oa;
    float* out = y + k * m * g;
    for (size_t i = 0; i < g; ++i) {
      for (size_t j = 0; j < m; ++j) out[j * g + i] = in[i * sg + j];
    }
  }
}

using RowsFn = void (*)(const BroadcastParams&, const float*, const float*, float*, size_t, size_t, float, float);

template <bool kSwap>
RowsFn rows_fn(size_t code) {
  switch (static_cast<BroadcastOp>(code)) {
    case BroadcastOp::kCopy: return run_rows<BroadcastOp::kCopy, kSwap>;
    case BroadcastOp::kAdd: return run_rows<BroadcastOp::kAdd, kSwap>;
    case BroadcastOp::kSub: return run_rows<BroadcastOp::kSub, kSwap>;
    case BroadcastOp::kMul: return run_rows<BroadcastOp::kMul, kSwap>;
    case BroadcastOp::kDiv: return run_rows<BroadcastOp::kDiv, kSwap>;
    case BroadcastOp::kMax: return run_rows<BroadcastOp::kMax, kSwap>;
    case BroadcastOp::kMin: return run_rows<BroadcastOp::kMin, kSwap>;
    case BroadcastOp::kPow: return run_rows<BroadcastOp::kPow, kSwap>;
    case BroadcastOp::kPRelu: return run_rows<BroadcastOp::kPRelu, kSwap>;
    default: return nullptr;
  }
}

// The largest element offset a sample's walk reaches (+1): it must stay inside the operand.
size_t extent(const std::vector<size_t>& dims, const std::vector<size_t>& strides) {
  size_t last = 0;
  for (size_t d = 0; d < dims.size(); ++d) last += (dims[d] - 1) * strides[d];
  return last + 1;
}

class BroadcastStep final : public StepKindWith<BroadcastParams> {
 public:
  const char* name() const override { return "broadcast"; }
  size_t weight_bytes(const Step& s) const override {
    return s.params_as<BroadcastParams>().constant.size() * sizeof(float);
  }
  void check_params(const StepCheck& c, const BroadcastParams& p) const override {
    const Step& s = c.step();
    c.expect(p.op < static_cast<size_t>(BroadcastOp::kCount), "unknown broadcast op " + std::to_string(p.op));
    const bool copy = p.op == static_cast<size_t>(BroadcastOp::kCopy);
    const bool has_constant = !p.constant.empty();
    c.expect(!(copy && has_constant), "a copy takes no constant");
    c.expect(!p.swap || has_constant, "only a constant operand is swapped");
    c.inputs(copy || has_constant ? 1 : 2);
    c.all_f32();
    c.expect(!p.dims.empty() && p.dims.size() <= kMaxRank, "needs 1 to 6 dims");
    c.expect(p.a_strides.size() == p.dims.size() && p.b_strides.size() == p.dims.size(),
             "needs one stride per dim for each operand");
    size_t out = 1;
    for (size_t d = 0; d < p.dims.size(); ++d) {
      c.expect(p.dims[d] >= 1 && p.dims[d] <= StepCheck::kMaxDim, "a dim outside [1, 2^24]");
      c.expect(p.a_strides[d] <= StepCheck::kMaxElems && p.b_strides[d] <= StepCheck::kMaxElems,
               "a stride past 2^40");
      out = StepCheck::product({out, p.dims[d]});
    }
    c.size_is(s.out, out, "the output");
    // Each dim's walk bounded by 2^40 keeps the extents below (6 x 2^40) from overflowing.
    for (size_t d = 0; d < p.dims.size(); ++d) {
      c.expect(StepCheck::product({p.dims[d], p.a_strides[d] + 1}) != 0 &&
                   StepCheck::product({p.dims[d], p.b_strides[d] + 1}) != 0,
               "an operand's walk passes 2^40 values");
    }
    const size_t in_a = c.elems(s.in[0]);
    c.expect(p.a_offset < in_a && extent(p.dims, p.a_strides) <= in_a - p.a_offset,
             "the first operand's offset and strides reach past its end");
    c.expect(p.a_sample == 0 || p.a_sample == in_a, "the first operand's sample stride is not its size");
    if (copy) return;
    const size_t in_b = has_constant ? p.constant.size() : c.elems(s.in[1]);
    c.expect(extent(p.dims, p.b_strides) <= in_b, "the second operand's strides reach past its end");
    if (has_constant) {
      c.expect(p.b_sample == 0, "a constant operand is the same for every sample");
    } else {
      c.expect(p.b_sample == 0 || p.b_sample == in_b, "the second operand's sample stride is not its size");
    }
  }
  void run_params(const StepRun& r, const BroadcastParams& p) const override {
    const float* a = r.in(0);
    const float* b = !p.constant.empty() ? p.constant.data() : (r.step.in.size() > 1 ? r.in(1) : a);
    const size_t inner = p.dims.back();
    const bool unclamped = !(r.step.lo > -__builtin_inff()) && !(r.step.hi < __builtin_inff());
    if (unclamped && transposed_blocks(p)) {
      const size_t block = inner * p.dims[p.dims.size() - 2];
      parallel_ranges(r.out_values() / block, (16384 + block - 1) / block, r.threads,
                      [&](size_t k0, size_t k1) { copy_blocks(p, a, r.out(), k0, k1); });
      return;
    }
    const size_t rows = r.out_values() / inner;
    const RowsFn fn = p.swap ? rows_fn<true>(p.op) : rows_fn<false>(p.op);
    parallel_ranges(rows, (16384 + inner - 1) / inner, r.threads,
                    [&](size_t r0, size_t r1) { fn(p, a, b, r.out(), r0, r1, r.step.lo, r.step.hi); });
  }
};

}  // namespace

FNN_DEFINE_STEP_KIND(broadcast_step, BroadcastStep)

}  // namespace fnn
