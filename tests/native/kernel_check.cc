// The native micro-kernel check: every kernel of this binary that this CPU can run, against
// its op's scalar kernel, on random tiles of every height and odd widths and depths, with
// canaries around C. Integer results must be bit-exact; float results within a bound of the
// sum of |products| (a SIMD FMA rounds once where the scalar kernel rounds twice).
//
// It needs no Python: it is how the AArch64 kernels are tested, under qemu-aarch64, where the
// Python suite (tests/kernels/test_ukernels.py, the same idea through the bindings) cannot run.
//
//   fnn_kernel_check [--expect-isas scalar,neon,neondot] [--skip-unchecked]
//
// prints the CPU's ISA levels and one line per kernel, and exits 1 on any mismatch, on a kernel
// of an op it has no check for (a new op must get one here; --skip-unchecked lists those
// instead, for x86, whose other ops the Python suite checks), or when the available levels are
// not the expected ones (so a qemu -cpu without dotprod proves the dispatch falls back).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/isa.h"
#include "kernels/common/half.h"
#include "kernels/common/ukernel_registry.h"
#include "kernels/conv/dwconv_ukernels.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "kernels/quant/quant.h"

namespace fnn {
namespace {

std::mt19937 rng(12345);

float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); }
int32_t integer(int32_t lo, int32_t hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng); }

const UkernelInfo& scalar_of(UkernelOp op) {
  const UkernelList all = all_ukernels();
  for (size_t i = 0; i < all.size; ++i) {
    if (all.begin[i].op == op && std::strcmp(all.begin[i].isa, "scalar") == 0) return all.begin[i];
  }
  std::fprintf(stderr, "no scalar kernel for %s\n", ukernel_op_name(op));
  std::exit(2);
}

struct Failure {
  std::string what;
};

// ---- GEMM: tiles of every height, widths and depths around the panel and K-group sizes ----

const size_t kDepths[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64};

std::vector<size_t> widths(size_t nr) {
  std::vector<size_t> out = {1, 3, 4, 5, 8, 15, 16};
  if (nr > 16) out.insert(out.end(), {17, 20, 31, 32});
  return out;
}

// A tile's C buffer: rows of `stride` elements (canaries past nc when stride > nc) and a row
// of canaries past mr.
template <typename T>
struct CBuffer {
  size_t mr, nc, stride;
  std::vector<T> v;
  CBuffer(size_t mr_, size_t nc_, T canary, size_t stride_ = 0)
      : mr(mr_), nc(nc_), stride(stride_ != 0 ? stride_ : nc_ + 3), v((mr_ + 1) * stride, canary) {}
  T* data() { return v.data(); }
};

template <typename T>
bool same_bits(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Compares a kernel's C with the reference's: the tile within `tol(m, n)` (0: bit-exact), and
// everything outside the tile untouched.
template <typename T, typename Tol>
void compare(const CBuffer<T>& got, const CBuffer<T>& want, const CBuffer<T>& before, Tol tol,
             const std::string& where, std::vector<Failure>& fails) {
  for (size_t m = 0; m <= got.mr; ++m) {
    for (size_t n = 0; n < got.stride; ++n) {
      const size_t i = m * got.stride + n;
      const bool inside = m < got.mr && n < got.nc;
      if (!inside) {
        if (!same_bits(got.v[i], before.v[i])) {
          fails.push_back({where + ": wrote outside the tile at row " + std::to_string(m) + " column " +
                           std::to_string(n)});
          return;
        }
        continue;
      }
      const double t = tol(m, n);
      const double g = static_cast<double>(got.v[i]), w = static_cast<double>(want.v[i]);
      const bool ok = t == 0 ? same_bits(got.v[i], want.v[i])
                             : (std::isnan(g) && std::isnan(w)) || std::fabs(g - w) <= t;
      if (!ok) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), ": row %zu column %zu: got %.9g, scalar %.9g (tolerance %.3g)", m, n, g, w, t);
        fails.push_back({where + buf});
        return;
      }
    }
  }
}

// Float-output GEMM ops: W of element type WE packed as [groups][16][G] per panel (G = 1 for
// f32 / f16, 2 for bf16 pairs), `widen` its value as a float.
template <UkernelOp Op, typename WE, size_t G, typename Encode, typename Widen>
void check_gemm_float(const UkernelInfo& u, Encode encode, Widen widen, std::vector<Failure>& fails) {
  using Fn = typename UkernelSig<Op>::Fn;
  const Fn fn = ukernel_fn<Op>(u);
  const UkernelInfo& s = scalar_of(Op);
  const Fn ref = ukernel_fn<Op>(s);
  const size_t panels = u.nr / kGemmNR;
  for (size_t k : kDepths) {
    const size_t groups = (k + G - 1) / G;
    const size_t panel_elems = groups * kGemmNR * G;
    for (size_t nc : widths(u.nr)) {
      if (nc > u.nr) continue;
      // W: `panels` panels, columns >= nc and K padding zero.
      std::vector<WE> w(panels * panel_elems, encode(0.0f));
      std::vector<float> wf(panels * kGemmNR * k, 0.0f);  // the widened values, [panel col][k]
      for (size_t p = 0; p < panels; ++p) {
        for (size_t col = 0; col < kGemmNR && p * kGemmNR + col < nc; ++col) {
          for (size_t kk = 0; kk < k; ++kk) {
            const WE e = encode(uniform(-1.0f, 1.0f));
            w[p * panel_elems + (kk / G) * kGemmNR * G + col * G + kk % G] = e;
            wf[(p * kGemmNR + col) * k + kk] = widen(e);
          }
        }
      }
      std::vector<float> bias(panels * kGemmNR);
      for (float& b : bias) b = uniform(-1.0f, 1.0f);
      for (size_t mr = 1; mr <= u.mr; ++mr) {
        const size_t a_stride = k + 3;
        std::vector<float> a(mr * a_stride + 1);
        for (float& x : a) x = uniform(-1.0f, 1.0f);
        const float* ap = a.data() + 1;  // not 16-byte aligned
        for (int variant = 0; variant < 4; ++variant) {
          GemmF32Params params{};
          params.bias = variant == 1 || variant == 3 ? bias.data() : nullptr;
          params.min = -INFINITY;
          params.max = INFINITY;
          params.flags = 0;
          params.w_panel_stride = panel_elems;
          if (variant == 2) params.flags = kGemmAccumulate;
          if (variant == 3) {
            params.flags = kGemmClamp;
            params.min = -0.5f;
            params.max = 0.75f;
          }
          CBuffer<float> got(mr, nc, -77.0f), want(mr, nc, -77.0f);
          if (variant == 2) {
            for (size_t m = 0; m < mr; ++m) {
              for (size_t n = 0; n < nc; ++n) got.v[m * got.stride + n] = want.v[m * want.stride + n] = uniform(-2, 2);
            }
          }
          const CBuffer<float> before = got;
          fn(mr, nc, k, ap, a_stride, w.data(), got.data(), got.stride, &params);
          // The scalar kernel, per panel and per block of its rows.
          for (size_t p = 0; p * kGemmNR < nc; ++p) {
            GemmF32Params sp = params;
            if (sp.bias != nullptr) sp.bias = bias.data() + p * kGemmNR;
            for (size_t m0 = 0; m0 < mr; m0 += s.mr) {
              const size_t rows = mr - m0 < s.mr ? mr - m0 : s.mr;
              const size_t cols = nc - p * kGemmNR < kGemmNR ? nc - p * kGemmNR : kGemmNR;
              ref(rows, cols, k, ap + m0 * a_stride, a_stride, w.data() + p * panel_elems,
                  want.data() + m0 * want.stride + p * kGemmNR, want.stride, &sp);
            }
          }
          auto tol = [&](size_t m, size_t n) {
            double mag = std::fabs(variant == 2 ? before.v[m * before.stride + n] : 0.0) +
                         (params.bias != nullptr ? std::fabs(bias[n]) : 0.0);
            for (size_t kk = 0; kk < k; ++kk) mag += std::fabs(ap[m * a_stride + kk] * wf[n * k + kk]);
            return 1e-6 * mag + 1e-30;
          };
          compare(got, want, before, tol,
                  std::string(u.name) + " mr=" + std::to_string(mr) + " nc=" + std::to_string(nc) +
                      " k=" + std::to_string(k) + " variant=" + std::to_string(variant),
                  fails);
          if (!fails.empty()) return;
        }
      }
    }
  }
}

// u8 A x s8 W: bit-exact in all three outputs.
void check_gemm_qu8(const UkernelInfo& u, std::vector<Failure>& fails) {
  constexpr UkernelOp Op = UkernelOp::kGemmQu8Qs8w;
  const auto fn = ukernel_fn<Op>(u);
  const UkernelInfo& s = scalar_of(Op);
  const auto ref = ukernel_fn<Op>(s);
  for (size_t k : kDepths) {
    const size_t groups = (k + 3) / 4;
    for (size_t nc : widths(u.nr)) {
      if (nc > u.nr) continue;
      std::vector<int8_t> w(groups * 64, 0);
      std::vector<int32_t> colsum(16, 0), bias_i32(16);
      std::vector<float> scale(16), bias_f32(16);
      for (size_t col = 0; col < nc; ++col) {
        for (size_t kk = 0; kk < k; ++kk) {
          const int8_t v = static_cast<int8_t>(integer(-127, 127));
          w[(kk / 4) * 64 + col * 4 + kk % 4] = v;
          colsum[col] += v;
        }
      }
      for (size_t n = 0; n < 16; ++n) {
        bias_i32[n] = integer(-5000, 5000);
        scale[n] = uniform(1e-4f, 3e-3f);
        bias_f32[n] = uniform(-1.0f, 1.0f);
      }
      for (size_t mr = 1; mr <= u.mr; ++mr) {
        const size_t a_stride = k + 5;
        std::vector<uint8_t> a(mr * a_stride + 1);
        for (uint8_t& x : a) x = static_cast<uint8_t>(integer(0, 255));
        const uint8_t* ap = a.data() + 1;
        for (uint32_t kind : {kQGemmOutInt32, kQGemmOutF32, kQGemmOutU8}) {
          for (int variant = 0; variant < 2; ++variant) {
            QGemmParams p{};
            p.out_kind = kind;
            p.a_zero_point = variant == 0 ? 0 : integer(1, 255);
            p.colsum = colsum.data();
            p.bias_i32 = variant == 0 ? nullptr : bias_i32.data();
            p.scale = scale.data();
            p.bias_f32 = variant == 0 ? nullptr : bias_f32.data();
            p.min = variant == 0 ? -INFINITY : -3.0f;
            p.max = variant == 0 ? INFINITY : 2.5f;
            p.out_zero_point = integer(0, 255);
            p.qmin = variant == 0 ? 0 : 10;
            p.qmax = variant == 0 ? 255 : 240;
            const std::string where = std::string(u.name) + " mr=" + std::to_string(mr) + " nc=" +
                                      std::to_string(nc) + " k=" + std::to_string(k) + " out=" +
                                      std::to_string(kind) + " variant=" + std::to_string(variant);
            auto run = [&](auto canary) {
              using T = decltype(canary);
              CBuffer<T> got(mr, nc, canary), want(mr, nc, canary);
              const CBuffer<T> before = got;
              fn(mr, nc, k, ap, a_stride, w.data(), got.data(), got.stride, &p);
              for (size_t m0 = 0; m0 < mr; m0 += s.mr) {
                const size_t rows = mr - m0 < s.mr ? mr - m0 : s.mr;
                ref(rows, nc, k, ap + m0 * a_stride, a_stride, w.data(), want.data() + m0 * want.stride,
                    want.stride, &p);
              }
              compare(got, want, before, [](size_t, size_t) { return 0.0; }, where, fails);
            };
            if (kind == kQGemmOutInt32) run(int32_t{-77});
            if (kind == kQGemmOutF32) run(-77.0f);
            if (kind == kQGemmOutU8) run(uint8_t{0xA5});
            if (!fails.empty()) return;
          }
        }
      }
    }
  }
}

// ---- Depthwise: runs of pixels over windows of every specialized shape and a generic one ----

// One run's geometry (dwconv_ukernels.h): `rows` valid window rows of kw columns, n pixels from
// input column ix0, m output rows, stride and dilation s and d both ways, W input columns.
struct DwCase {
  size_t c, rows, kw, n, m, s, d;
  std::ptrdiff_t ix0;
  size_t w_cols;
};

std::vector<DwCase> dw_cases() {
  std::vector<DwCase> out;
  for (size_t c : {1, 3, 4, 5, 8, 13, 16, 37}) {
    for (size_t rows : {1, 2, 3, 4, 5}) {
      for (size_t kw : {1, 2, 3, 5, 7}) {
        for (size_t s : {1, 2}) {
          const size_t d = kw == 3 && c == 5 ? 2 : 1;
          const size_t n = 6;
          const size_t pad = (kw - 1) * d / 2;
          // Both edges in the padding: the last pixel's window runs past the last column too.
          const size_t span = (n - 1) * s + (kw - 1) * d + 1;
          const size_t w_cols = span > 2 * pad + 1 ? span - 2 * pad : 1;
          out.push_back({c, rows, kw, n, rows == 3 ? 2u : 1u, s, d, -static_cast<std::ptrdiff_t>(pad), w_cols});
        }
      }
    }
  }
  return out;
}

// The taps of case k over input x (its first window row) and weights w.
template <typename Taps, typename X, typename W>
Taps dw_taps(const DwCase& k, const X* x, const W* w) {
  Taps t;
  t.x = x;
  t.w = w;
  t.rows = k.rows;
  t.cols = k.kw;
  t.x_row = k.d * k.w_cols * k.c;
  t.x_pix = k.c;
  t.w_row = k.kw * k.c;
  t.w_col = k.c;
  t.ix0 = k.ix0;
  t.x_cols = k.w_cols;
  t.sw = k.s;
  t.dw = k.d;
  t.m = k.m;
  t.x_next = k.s * k.w_cols * k.c;
  return t;
}

void check_dwconv_f32(const UkernelInfo& u, std::vector<Failure>& fails) {
  const auto fn = ukernel_fn<UkernelOp::kDwconvF32>(u);
  const auto ref = ukernel_fn<UkernelOp::kDwconvF32>(scalar_of(UkernelOp::kDwconvF32));
  for (const DwCase& k : dw_cases()) {
    const size_t in_rows = (k.m - 1) * k.s + (k.rows - 1) * k.d + 1;
    std::vector<float> x(in_rows * k.w_cols * k.c + 1), w(k.rows * k.kw * k.c), bias(k.c);
    for (float& v : x) v = uniform(-1.0f, 1.0f);
    for (float& v : w) v = uniform(-1.0f, 1.0f);
    for (float& v : bias) v = uniform(-1.0f, 1.0f);
    const F32DwTaps t = dw_taps<F32DwTaps>(k, x.data() + 1, w.data());  // x not 16-byte aligned
    for (int variant = 0; variant < 2; ++variant) {
      const float* b = variant == 1 ? bias.data() : nullptr;
      const float lo = variant == 1 ? -0.5f : -INFINITY, hi = variant == 1 ? 0.6f : INFINITY;
      // One pixel per buffer row: the outputs are consecutive, so the row stride is c.
      CBuffer<float> got(k.m * k.n, k.c, -77.0f, k.c);
      CBuffer<float> want = got, mag = got;
      const CBuffer<float> before = got;
      fn(k.n, k.c, t, b, lo, hi, got.data());
      ref(k.n, k.c, t, b, lo, hi, want.data());
      // The bound: the same sums of |x| |w| (+ |bias|), unclamped.
      std::vector<float> ax(x), aw(w), ab(bias);
      for (float& v : ax) v = std::fabs(v);
      for (float& v : aw) v = std::fabs(v);
      for (float& v : ab) v = std::fabs(v);
      F32DwTaps at = t;
      at.x = ax.data() + 1;
      at.w = aw.data();
      ref(k.n, k.c, at, b != nullptr ? ab.data() : nullptr, -INFINITY, INFINITY, mag.data());
      char where[160];
      std::snprintf(where, sizeof(where), "%s c=%zu window=%zux%zu n=%zu m=%zu stride=%zu dilation=%zu variant=%d",
                    u.name, k.c, k.rows, k.kw, k.n, k.m, k.s, k.d, variant);
      compare(got, want, before, [&](size_t m, size_t n) { return 1e-6 * mag.v[m * k.c + n] + 1e-30; }, where, fails);
      if (!fails.empty()) return;
    }
  }
}

// int8: bit-exact, u8 and f32 outputs, with and without zero points, biases and bounds.
void check_dwconv_qu8(const UkernelInfo& u, std::vector<Failure>& fails) {
  const auto fn = ukernel_fn<UkernelOp::kDwconvQu8>(u);
  const auto ref = ukernel_fn<UkernelOp::kDwconvQu8>(scalar_of(UkernelOp::kDwconvQu8));
  for (const DwCase& k : dw_cases()) {
    const size_t in_rows = (k.m - 1) * k.s + (k.rows - 1) * k.d + 1;
    std::vector<uint8_t> x(in_rows * k.w_cols * k.c + 1);
    std::vector<int8_t> w(k.rows * k.kw * k.c);
    std::vector<float> scale(k.c), bias_f32(k.c);
    std::vector<int32_t> bias_i32(k.c);
    for (uint8_t& v : x) v = static_cast<uint8_t>(integer(0, 255));
    for (int8_t& v : w) v = static_cast<int8_t>(integer(-127, 127));
    for (size_t j = 0; j < k.c; ++j) {
      scale[j] = uniform(2e-4f, 4e-3f);
      bias_f32[j] = uniform(-1.0f, 1.0f);
      bias_i32[j] = integer(-3000, 3000);
    }
    const QDwTaps t = dw_taps<QDwTaps>(k, x.data() + 1, w.data());
    for (int variant = 0; variant < 4; ++variant) {
      QDwParams p;
      p.a_zero_point = variant % 2 == 0 ? 0 : integer(1, 255);
      p.scale = scale.data();
      p.out_u8 = variant < 2;
      p.bias_i32 = variant == 1 ? bias_i32.data() : nullptr;
      p.bias_f32 = variant == 3 ? bias_f32.data() : nullptr;
      p.out_zero_point = integer(0, 255);
      p.qmin = variant == 1 ? 5 : 0;
      p.qmax = variant == 1 ? 250 : 255;
      p.lo = variant == 3 ? -0.75f : -INFINITY;
      p.hi = variant == 3 ? 0.5f : INFINITY;
      char where[160];
      std::snprintf(where, sizeof(where), "%s c=%zu window=%zux%zu n=%zu m=%zu stride=%zu dilation=%zu variant=%d",
                    u.name, k.c, k.rows, k.kw, k.n, k.m, k.s, k.d, variant);
      auto run = [&](auto canary) {
        using T = decltype(canary);
        CBuffer<T> got(k.m * k.n, k.c, canary, k.c);
        CBuffer<T> want = got;
        const CBuffer<T> before = got;
        fn(k.n, k.c, t, p, got.data());
        ref(k.n, k.c, t, p, want.data());
        compare(got, want, before, [](size_t, size_t) { return 0.0; }, where, fails);
      };
      if (p.out_u8) run(uint8_t{0xA5});
      else run(-77.0f);
      if (!fails.empty()) return;
    }
  }
}

// ---- Quantization: min / max with the finiteness flag, and the u8 quantize pass ----

std::vector<float> quant_input(size_t n, int kind) {
  std::vector<float> x(n);
  for (float& v : x) v = uniform(-3.0f, 3.0f);
  if (n > 0 && kind == 1) x[n / 2] = NAN;
  if (n > 0 && kind == 2) x[n - 1] = INFINITY;
  if (n > 1 && kind == 3) x[0] = -INFINITY;
  return x;
}

void check_minmax(const UkernelInfo& u, std::vector<Failure>& fails) {
  const auto fn = ukernel_fn<UkernelOp::kF32Minmax>(u);
  const auto ref = ukernel_fn<UkernelOp::kF32Minmax>(scalar_of(UkernelOp::kF32Minmax));
  for (size_t n : {0, 1, 3, 4, 7, 8, 9, 16, 31, 33, 100}) {
    for (int kind = 0; kind < 4; ++kind) {
      const std::vector<float> x = quant_input(n, kind);
      float l1 = 0.5f, h1 = 0.25f, l2 = 0.5f, h2 = 0.25f;
      const bool f1 = fn(x.data(), n, &l1, &h1), f2 = ref(x.data(), n, &l2, &h2);
      // lo / hi are unspecified when a value is not finite.
      if (f1 != f2 || (f2 && (!same_bits(l1, l2) || !same_bits(h1, h2)))) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), " n=%zu kind=%d: got (%g, %g, finite %d), scalar (%g, %g, %d)", n, kind, l1, h1,
                      f1, l2, h2, f2);
        fails.push_back({std::string(u.name) + buf});
        return;
      }
    }
  }
}

void check_qu8(const UkernelInfo& u, std::vector<Failure>& fails) {
  const auto fn = ukernel_fn<UkernelOp::kF32Qu8>(u);
  const auto ref = ukernel_fn<UkernelOp::kF32Qu8>(scalar_of(UkernelOp::kF32Qu8));
  for (size_t n : {1, 3, 7, 8, 9, 16, 31, 33, 100}) {
    for (float scale : {0.013f, 0.5f, 1.0f / 255}) {
      std::vector<float> x = quant_input(n, 0);
      // Exact halves of the scale: ties must round to even.
      for (size_t i = 0; i < n; i += 3) x[i] = scale * (static_cast<float>(integer(-300, 300)) + 0.5f);
      const int32_t zp = integer(0, 255);
      CBuffer<uint8_t> got(1, n, 0xA5), want(1, n, 0xA5);
      const CBuffer<uint8_t> before = got;
      fn(x.data(), n, scale, zp, got.data());
      ref(x.data(), n, scale, zp, want.data());
      compare(got, want, before, [](size_t, size_t) { return 0.0; },
              std::string(u.name) + " n=" + std::to_string(n), fails);
      if (!fails.empty()) return;
    }
  }
}

uint16_t f32_bits_to_bf16(float f) { return f32_to_bf16(f); }

// Runs the check of u's op; false when there is none.
bool check(const UkernelInfo& u, std::vector<Failure>& fails) {
  switch (u.op) {
    case UkernelOp::kGemmF32:
      check_gemm_float<UkernelOp::kGemmF32, float, 1>(u, [](float f) { return f; }, [](float f) { return f; }, fails);
      return true;
    case UkernelOp::kGemmF32F16w:
      check_gemm_float<UkernelOp::kGemmF32F16w, uint16_t, 1>(u, f32_to_f16, f16_to_f32, fails);
      return true;
    case UkernelOp::kGemmF32Bf16w:
      check_gemm_float<UkernelOp::kGemmF32Bf16w, uint16_t, 2>(u, f32_bits_to_bf16, bf16_to_f32, fails);
      return true;
    case UkernelOp::kGemmQu8Qs8w:
      check_gemm_qu8(u, fails);
      return true;
    case UkernelOp::kDwconvF32:
      check_dwconv_f32(u, fails);
      return true;
    case UkernelOp::kDwconvQu8:
      check_dwconv_qu8(u, fails);
      return true;
    case UkernelOp::kF32Minmax:
      check_minmax(u, fails);
      return true;
    case UkernelOp::kF32Qu8:
      check_qu8(u, fails);
      return true;
    default:
      return false;
  }
}

}  // namespace
}  // namespace fnn

int main(int argc, char** argv) {
  using namespace fnn;
  std::string expect;
  bool skip_unchecked = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--expect-isas") == 0 && i + 1 < argc) {
      expect = argv[++i];
    } else if (std::strcmp(argv[i], "--skip-unchecked") == 0) {
      skip_unchecked = true;
    } else {
      std::fprintf(stderr, "usage: %s [--expect-isas scalar,neon,...] [--skip-unchecked]\n", argv[0]);
      return 2;
    }
  }
  std::string levels;
  for (IsaLevel l : available_isas()) levels += (levels.empty() ? "" : ",") + std::string(isa_name(l));
  std::printf("arch %s, available ISA levels: %s\n", cpu_features().arch.c_str(), levels.c_str());
  int status = 0;
  if (!expect.empty() && expect != levels) {
    std::printf("FAIL: expected ISA levels %s\n", expect.c_str());
    status = 1;
  }
  const IsaLevel best = best_isa();
  const UkernelList all = all_ukernels();
  size_t checked = 0;
  for (size_t i = 0; i < all.size; ++i) {
    const UkernelInfo& u = all.begin[i];
    if (std::strcmp(u.isa, "scalar") == 0) continue;  // the reference itself
    if (!ukernel_serves(u, best, true)) {
      std::printf("skip %-48s (%s: not on this CPU)\n", u.name, u.isa);
      continue;
    }
    std::vector<Failure> fails;
    if (!check(u, fails)) {
      std::printf("%s %-48s op %s has no check in kernel_check.cc\n", skip_unchecked ? "skip" : "FAIL",
                  u.name, ukernel_op_name(u.op));
      if (!skip_unchecked) status = 1;
      continue;
    }
    ++checked;
    if (fails.empty()) {
      std::printf("ok   %s\n", u.name);
    } else {
      std::printf("FAIL %s%s\n", u.name, fails[0].what.c_str() + std::strlen(u.name));
      status = 1;
    }
  }
  std::printf("%zu kernels checked against scalar: %s\n", checked, status == 0 ? "all pass" : "FAILURES");
  return status;
}
