// The int8 GEMM epilogue of every SIMD ISA: zero-point compensation, then the int32, f32 or
// u8 output of gemm_ukernels.h (bit-exact with the scalar kernel), over V, the ISA's 16-column
// vector type (vec16_avx2.h for avx2 / avxvnni, vec16_avx512.h for avx512 / avx512vnni). Also
// the A loads the int8 tiles share. Include only from SIMD translation units; everything is in
// an anonymous namespace, so each compiles its own copy with its own flags.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/common/opaque.h"
#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

int32_t load_a4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The last 1-3 bytes of a row, zero-extended; the packer zero-pads W there.
int32_t load_a_tail(const uint8_t* p, size_t n) {
  // Byte loads, not memcpy(&v, p, n): a run-time-length memcpy is a library call per row,
  // which made the whole GEMM 5x slower at K = 9 (a 3x3 conv on one input channel).
  uint32_t v = p[0];
  if (n > 1) v |= uint32_t{p[1]} << 8;
  if (n > 2) v |= uint32_t{p[2]} << 16;
  return static_cast<int32_t>(v);
}

// Stores M rows of accumulators (acc[m][r]: columns r * kLanes ..) as the params ask; only
// the first nc columns of each row are written.
template <typename V, size_t M>
void store_rows(typename V::IReg (&acc)[M][V::kRegs], size_t nc, void* c, size_t c_stride,
                const QGemmParams& p) {
  constexpr size_t R = V::kRegs;
  using IReg = typename V::IReg;
  using Reg = typename V::Reg;
  const typename V::Mask mask = V::mask(nc);
  if (p.a_zero_point != 0) {
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) {
      const IReg vzc = V::imul(V::iset1(p.a_zero_point), V::iload(p.colsum + r * V::kLanes));
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m) acc[m][r] = V::isub(acc[m][r], vzc);
    }
  }
  IReg vbi[R];
  Reg vs[R];
#pragma GCC unroll 4
  for (size_t r = 0; r < R; ++r) {
    vbi[r] = p.bias_i32 != nullptr && p.out_kind != kQGemmOutF32
                 ? V::iload(p.bias_i32 + r * V::kLanes)
                 : V::izero();
    vs[r] = p.out_kind != kQGemmOutInt32 ? V::load(p.scale + r * V::kLanes) : V::zero();
  }
  switch (p.out_kind) {
    case kQGemmOutInt32: {
      int32_t* cm = static_cast<int32_t*>(c);
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m, cm += c_stride) {
        IReg v[R];
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) v[r] = V::iadd(acc[m][r], vbi[r]);
        V::store_i32(cm, v, mask, nc);
      }
      break;
    }
    case kQGemmOutF32: {
      Reg vb[R];
#pragma GCC unroll 4
      for (size_t r = 0; r < R; ++r) {
        vb[r] = p.bias_f32 != nullptr ? V::load(p.bias_f32 + r * V::kLanes) : V::zero();
      }
      const Reg vmin = V::set1(p.min), vmax = V::set1(p.max);
      float* cm = static_cast<float*>(c);
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m, cm += c_stride) {
        Reg f[R];
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) {
          f[r] = opaque(V::mul(V::to_f32(acc[m][r]), vs[r]));
          f[r] = V::add(f[r], vb[r]);
          // max / min return the second operand for NaN: a NaN result passes through.
          f[r] = V::min(vmax, V::max(vmin, f[r]));
        }
        V::store_f32(cm, f, mask, nc);
      }
      break;
    }
    case kQGemmOutU8: {
      const Reg vlo = V::set1(static_cast<float>(int64_t{p.qmin} - p.out_zero_point));
      const Reg vhi = V::set1(static_cast<float>(int64_t{p.qmax} - p.out_zero_point));
      const IReg vzp = V::iset1(p.out_zero_point);
      uint8_t* cm = static_cast<uint8_t*>(c);
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m, cm += c_stride) {
        IReg q[R];
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) {
          Reg f = V::mul(V::to_f32(V::iadd(acc[m][r], vbi[r])), vs[r]);
          // NaN becomes vlo (max returns its second operand): the output's qmin.
          f = V::min(V::max(f, vlo), vhi);
          q[r] = V::iadd(V::to_i32(f), vzp);  // in [qmin, qmax]
        }
        V::store_u8(cm, q, mask, nc);
      }
      break;
    }
    default:
      assert(false && "unknown QGemmOutKind");
      break;
  }
}

}  // namespace
}  // namespace fnn
