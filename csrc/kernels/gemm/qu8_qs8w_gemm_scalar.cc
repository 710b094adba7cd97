// u8 A x s8 W int8 GEMM, portable reference. Every SIMD variant must match it bit for bit:
// its epilogue spells out the exact operation order the vector code uses (gemm_ukernels.h).
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

// The tile of the list (gemm_ukernels.inc).
constexpr size_t kMR = qu8_qs8w_gemm_ukernel_4x16c4__scalar_tile.mr;
constexpr size_t kNR = qu8_qs8w_gemm_ukernel_4x16c4__scalar_tile.nr;
constexpr size_t kKR = qu8_qs8w_gemm_ukernel_4x16c4__scalar_tile.kr;

// Two's-complement (wrapping) int32 arithmetic, as the vector units do it. For K <= 65536 no
// intermediate wraps; beyond that the result is still the exact value modulo 2^32.
int32_t wrap_add(int32_t x, int32_t y) {
  return static_cast<int32_t>(static_cast<uint32_t>(x) + static_cast<uint32_t>(y));
}
int32_t wrap_sub(int32_t x, int32_t y) {
  return static_cast<int32_t>(static_cast<uint32_t>(x) - static_cast<uint32_t>(y));
}
int32_t wrap_mul(int32_t x, int32_t y) {
  return static_cast<int32_t>(static_cast<uint32_t>(x) * static_cast<uint32_t>(y));
}

// vmaxps / vminps semantics: the second operand is returned when the first comparison fails
// (unordered included). The f32 output writes max(min, x): a NaN in x propagates. The u8
// output writes max(x, lo): a NaN becomes lo, so no NaN ever reaches the conversion.
float x86_max(float x, float y) { return x > y ? x : y; }
float x86_min(float x, float y) { return x < y ? x : y; }

}  // namespace

void qu8_qs8w_gemm_ukernel_4x16c4__scalar(size_t mr, size_t nc, size_t k, const uint8_t* a,
                                          size_t a_stride, const int8_t* w, void* c,
                                          size_t c_stride, const QGemmParams* params) {
  assert(mr >= 1 && mr <= kMR);
  assert(nc >= 1 && nc <= kNR);
  assert(k >= 1);
  assert(a != nullptr && w != nullptr && c != nullptr && params != nullptr);

  int32_t acc[kMR][kNR];
  std::memset(acc, 0, sizeof(acc));
  for (size_t kk = 0; kk < k; kk += kKR) {
    const int8_t* wg = w + (kk / kKR) * kNR * kKR;
    const size_t kn = k - kk < kKR ? k - kk : kKR;  // never read A past k
    for (size_t m = 0; m < mr; ++m) {
      const uint8_t* am = a + m * a_stride + kk;
      for (size_t n = 0; n < kNR; ++n) {
        int32_t s = 0;  // at most 4 * 255 * 128: no overflow
        for (size_t j = 0; j < kn; ++j) {
          s += static_cast<int32_t>(am[j]) * static_cast<int32_t>(wg[n * kKR + j]);
        }
        acc[m][n] = wrap_add(acc[m][n], s);
      }
    }
  }

  const QGemmParams& p = *params;
  for (size_t m = 0; m < mr; ++m) {
    for (size_t n = 0; n < nc; ++n) {
      int32_t v = acc[m][n];
      if (p.a_zero_point != 0) v = wrap_sub(v, wrap_mul(p.a_zero_point, p.colsum[n]));
      acc[m][n] = v;
    }
  }

  switch (p.out_kind) {
    case kQGemmOutInt32: {
      for (size_t m = 0; m < mr; ++m) {
        int32_t* cm = static_cast<int32_t*>(c) + m * c_stride;
        for (size_t n = 0; n < nc; ++n) {
          cm[n] = wrap_add(acc[m][n], p.bias_i32 != nullptr ? p.bias_i32[n] : 0);
        }
      }
      break;
    }
    case kQGemmOutF32: {
      for (size_t m = 0; m < mr; ++m) {
        float* cm = static_cast<float*>(c) + m * c_stride;
        for (size_t n = 0; n < nc; ++n) {
          // One rounding per statement: int -> f32 (nearest even), multiply, add. The build
          // is ISO C++ (no GNU extensions), so GCC does not contract these into an FMA.
          float f = static_cast<float>(acc[m][n]);
          f = f * p.scale[n];
          f = f + (p.bias_f32 != nullptr ? p.bias_f32[n] : 0.0f);
          f = x86_max(p.min, f);
          f = x86_min(p.max, f);
          cm[n] = f;
        }
      }
      break;
    }
    case kQGemmOutU8: {
      // Clamping before rounding to the integer bounds [qmin - zp, qmax - zp] gives the same
      // result as rounding, adding zp and clamping to [qmin, qmax], and keeps every value in
      // range of the conversion however large |acc * scale| is.
      const float lo = static_cast<float>(int64_t{p.qmin} - p.out_zero_point);
      const float hi = static_cast<float>(int64_t{p.qmax} - p.out_zero_point);
      for (size_t m = 0; m < mr; ++m) {
        uint8_t* cm = static_cast<uint8_t*>(c) + m * c_stride;
        for (size_t n = 0; n < nc; ++n) {
          const int32_t t = wrap_add(acc[m][n], p.bias_i32 != nullptr ? p.bias_i32[n] : 0);
          float f = static_cast<float>(t);
          f = f * p.scale[n];
          f = x86_max(f, lo);
          f = x86_min(f, hi);
          // nearbyint rounds in the current mode (nearest even by default), like cvtps2dq.
          const int32_t q = static_cast<int32_t>(std::nearbyint(f)) + p.out_zero_point;
          cm[n] = static_cast<uint8_t>(q);
        }
      }
      break;
    }
    default:
      assert(false && "unknown QGemmOutKind");
      break;
  }
}

}  // namespace fnn
