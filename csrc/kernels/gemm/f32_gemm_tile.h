// The SIMD float GEMM tile: up to MR rows x P panels of 16 columns of f32 accumulators, one
// body for every weight kind (f32, f16, bf16 pairs, bf16 x bf16 dot products) and every vector
// ISA. Two panels (P = 2, on AVX-512's 32 registers) share each A broadcast between two
// W registers: half the A loads and half the per-call work per multiply-add of one panel, and
// every column's sum is the same sequence of operations either way (bit-identical results).
//
//   V  the ISA's vector type for one 16-column row (vec16_avx2.h, vec16_avx512.h,
//      vec16_neon.h): kRegs
//      registers, masks for nc < 16, loads / stores, FMA, clamp, f16 and bf16 widening.
//   L  how W feeds the tile (the "rows" traits below): a W group of kGroupElems elements per
//      kSteps accumulate steps; row<V>(group, h, r) gives register r of step h's W row;
//      broadcast<V>(a) is the A operand of a tile row whose A is at `a`, madd<V>(acc, a, w)
//      accumulates one step; each step consumes kAStep elements of A. steps(k) is the number of steps for K = k.
//   Sets  accumulator sets per tile height: small tiles split K over S sets, dealt round
//      robin and summed before the store, so enough FMA chains are in flight.
//
// Each main-loop iteration does U = max(S, 4) steps with constant offsets (row pointers advance
// with k: constant offsets keep GCC to one address register per row; indexing by k made it
// spill on 16-register AVX2), then whole groups, then a partial group (odd K of bf16 pairs,
// whose padding half A has no element for).
// Everything is in an anonymous namespace: each ISA translation unit compiles its own copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "kernels/gemm/gemm_ukernels.h"

namespace fnn {
namespace {

// Bytes of W prefetched ahead of use: the panel streams from DRAM or L3 once per call. Small
// tiles consume it faster and need a longer lead. Measured on Zen 5 with W in DRAM: one row went
// from ~35-41 GB/s at 1.5 KB ahead to ~48-55 GB/s at 8 KB; 12 rows gain nothing past 1.5 KB.
constexpr size_t prefetch_bytes(size_t mr) {
  return mr >= 8 ? 1536 : (12288 / mr > 8192 ? 8192 : 12288 / mr / 64 * 64);
}

// ---- How W feeds the tile -------------------------------------------------------------------

// f32 A times one f32 W row per step (w[k][16]).
struct F32Rows {
  using AElem = float;
  using WElem = float;
  static constexpr size_t kSteps = 1, kGroupElems = kGemmNR, kAStep = 1;
  static constexpr bool kPlainFma = true;  // madd is acc + a * w, one rounding
  static constexpr size_t steps(size_t k) { return k; }
  template <typename V>
  static typename V::Reg row(const float* g, size_t, size_t r) {
    return V::load(g + r * V::kLanes);
  }
  template <typename V>
  static typename V::Reg broadcast(const float* a) {
    return V::set1(*a);
  }
  template <typename V>
  static typename V::Reg madd(typename V::Reg acc, typename V::Reg a, typename V::Reg w) {
    return V::fmadd(a, w, acc);
  }
};

// f32 A times one f16 W row per step (w[k][16]), widened exactly.
struct F16Rows : F32Rows {
  using WElem = uint16_t;
  template <typename V>
  static typename V::Reg row(const uint16_t* g, size_t, size_t r) {
    return V::f16(g + r * V::kLanes);
  }
};

// f32 A times bf16 W pair rows (w[k/2][16][2]): one 64-byte group, two steps (k, k+1).
struct Bf16PairRows : F32Rows {
  using WElem = uint16_t;
  static constexpr size_t kSteps = 2, kGroupElems = 2 * kGemmNR;
  template <typename V>
  static typename V::Reg row(const uint16_t* g, size_t h, size_t r) {
    return h == 0 ? V::bf16_even(g + 2 * r * V::kLanes) : V::bf16_odd(g + 2 * r * V::kLanes);
  }
};

// ---- The tile -------------------------------------------------------------------------------

template <typename V, typename L, size_t P = 1, typename Sets = typename V::Sets>
struct F32GemmTile {
  using Reg = typename V::Reg;
  static constexpr size_t RP = V::kRegs;  // registers of one panel row
  static constexpr size_t R = RP * P;     // ... of one tile row

  // nc > 16 * (P - 1): every panel has a column.
  template <size_t MR>
  static void run(size_t nc, size_t k, const typename L::AElem* a, size_t a_stride,
                  const typename L::WElem* w, float* c, size_t c_stride,
                  const GemmF32Params* params) {
    const size_t ps = P > 1 ? params->w_panel_stride : 0;
    constexpr size_t S = Sets::of(MR);
    constexpr size_t G = L::kSteps;
    constexpr size_t U = S > 4 ? S : 4;  // steps per main-loop iteration
    static_assert(U % G == 0 && (S & (S - 1)) == 0, "steps are dealt to the sets round robin");

    const typename L::AElem* ap[MR];
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) ap[m] = a + m * a_stride;

    Reg acc[S][MR][R];
    init<MR, S>(acc, nc, c, c_stride, params);

    const size_t steps = L::steps(k);
    size_t t = 0;
    for (; t + U <= steps; t += U) {
      steps_of_iteration<MR, S>(acc, ap, w, ps, std::make_index_sequence<U>{});
      w += U / G * L::kGroupElems;
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) ap[m] += U * L::kAStep;
    }
    for (; t + G <= steps; t += G) {
#pragma GCC unroll 2
      for (size_t h = 0; h < G; ++h) step<MR>(acc[h % S], ap, h * L::kAStep, w, ps, h);
      w += L::kGroupElems;
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) ap[m] += G * L::kAStep;
    }
    if (G > 1) {
      // A partial group: its missing steps are padding that A has no element for.
      for (size_t h = 0; t + h < steps; ++h) step<MR>(acc[0], ap, h * L::kAStep, w, ps, h);
    }

    store<MR, S>(acc, nc, c, c_stride, params);
  }

 private:
  // The U steps of one main-loop iteration as straight-line code: step u is half u % G of
  // group u / G, into set u % S; a 64-byte line of W is prefetched at its first step.
  //
  // With a vector type that multiplies by a lane (V::kLaneMadd: NEON's FMLA by element) and
  // plain f32 A, each row's U = kLanes A values are one load, and step u multiplies by lane u:
  // one A load per row per iteration instead of one per step, the same fused products.
  template <size_t MR, size_t S, size_t... Us>
  [[gnu::always_inline]] static void steps_of_iteration(Reg (&acc)[S][MR][R],
                                                        const typename L::AElem* const (&ap)[MR],
                                                        const typename L::WElem* w, size_t ps,
                                                        std::index_sequence<Us...>) {
    constexpr size_t G = L::kSteps;
    if constexpr (kLaneA<sizeof...(Us)>) {
      Reg a[MR];
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) a[m] = V::load(ap[m]);
      (prefetch_and_step<MR, Us / G, Us % G>(acc[Us % S], ap, Us * L::kAStep, w, ps,
                                              [&](size_t m) { return a[m]; }, std::integral_constant<size_t, Us>{}),
       ...);
    } else {
      (prefetch_and_step<MR, Us / G, Us % G>(acc[Us % S], ap, Us * L::kAStep, w, ps, nullptr,
                                              std::integral_constant<size_t, 0>{}),
       ...);
    }
  }

  template <size_t U>
  static constexpr bool kLaneA = V::kLaneMadd && L::kPlainFma && L::kAStep == 1 && U == V::kLanes &&
                                 std::is_same<typename L::AElem, float>::value;

  // a_lanes: null (A broadcast from memory per row), or row m's register of A values, whose
  // lane Lane::value is this step's.
  template <size_t MR, size_t Group, size_t Half, typename ALanes, typename Lane>
  [[gnu::always_inline]] static void prefetch_and_step(Reg (&acc)[MR][R],
                                                       const typename L::AElem* const (&ap)[MR],
                                                       size_t off, const typename L::WElem* w, size_t ps,
                                                       const ALanes& a_lanes, Lane) {
    const typename L::WElem* wg = w + Group * L::kGroupElems;
    if (Half == 0 && Group * L::kGroupElems * sizeof(*w) % 64 == 0) {
#pragma GCC unroll 2
      for (size_t p = 0; p < P; ++p) {
        __builtin_prefetch(reinterpret_cast<const char*>(wg + p * ps) + prefetch_bytes(MR), 0, 3);
      }
    }
    if constexpr (std::is_same<ALanes, std::nullptr_t>::value) {
      step<MR>(acc, ap, off, wg, ps, Half);
    } else {
      decltype(L::template row<V>(wg, Half, 0)) wr[R];
#pragma GCC unroll 4
      for (size_t r = 0; r < R; ++r) wr[r] = L::template row<V>(wg + r / RP * ps, Half, r % RP);
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) {
        const Reg a = a_lanes(m);
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) acc[m][r] = V::template fmadd_lane<Lane::value>(wr[r], a, acc[m][r]);
      }
    }
  }

  // One step for every tile row: W row h of group g (of each panel, ps apart), A at ap[m] + off.
  template <size_t MR>
  [[gnu::always_inline]] static void step(Reg (&acc)[MR][R], const typename L::AElem* const (&ap)[MR],
                                          size_t off, const typename L::WElem* g, size_t ps, size_t h) {
    decltype(L::template row<V>(g, h, 0)) wr[R];
#pragma GCC unroll 4
    for (size_t r = 0; r < R; ++r) wr[r] = L::template row<V>(g + r / RP * ps, h, r % RP);
#pragma GCC unroll 16
    for (size_t m = 0; m < MR; ++m) {
      const auto va = L::template broadcast<V>(ap[m] + off);
#pragma GCC unroll 4
      for (size_t r = 0; r < R; ++r) acc[m][r] = L::template madd<V>(acc[m][r], va, wr[r]);
    }
  }

  // Set 0 starts from C (a later K block), else from the bias, else zero; the others at zero.
  // Column masks are made where they are used, not held across the K loop (AVX2 has no
  // register to spare there).
  template <size_t MR, size_t S>
  [[gnu::always_inline]] static void init(Reg (&acc)[S][MR][R], size_t nc, const float* c,
                                          size_t c_stride, const GemmF32Params* params) {
    if (params->flags & kGemmAccumulate) {
#pragma GCC unroll 2
      for (size_t p = 0; p < P; ++p) {
        const typename V::Mask mask = V::mask(panel_columns(nc, p));
#pragma GCC unroll 16
        for (size_t m = 0; m < MR; ++m) {
#pragma GCC unroll 4
          for (size_t r = 0; r < RP; ++r) {
            acc[0][m][p * RP + r] = V::load(c + m * c_stride + p * kGemmNR + r * V::kLanes, mask, r);
          }
        }
      }
    } else {
      Reg init[R];
#pragma GCC unroll 4
      for (size_t r = 0; r < R; ++r) {
        init[r] = params->bias != nullptr ? V::load(params->bias + r / RP * kGemmNR + r % RP * V::kLanes)
                                          : V::zero();
      }
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) {
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) acc[0][m][r] = init[r];
      }
    }
#pragma GCC unroll 8
    for (size_t s = 1; s < S; ++s) {
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) {
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) acc[s][m][r] = V::zero();
      }
    }
  }

  // Sums the sets pairwise, clamps when kGemmClamp is set and stores nc columns of MR rows.
  template <size_t MR, size_t S>
  [[gnu::always_inline]] static void store(Reg (&acc)[S][MR][R], size_t nc, float* c,
                                           size_t c_stride, const GemmF32Params* params) {
#pragma GCC unroll 4
    for (size_t half = S / 2; half >= 1; half /= 2) {
#pragma GCC unroll 4
      for (size_t s = 0; s < half; ++s) {
#pragma GCC unroll 16
        for (size_t m = 0; m < MR; ++m) {
#pragma GCC unroll 4
          for (size_t r = 0; r < R; ++r) acc[s][m][r] = V::add(acc[s][m][r], acc[s + half][m][r]);
        }
      }
    }
    if (params->flags & kGemmClamp) {
      const Reg lo = V::set1(params->min), hi = V::set1(params->max);
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) {
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) acc[0][m][r] = V::clamp(acc[0][m][r], lo, hi);
      }
    }
    if (nc == P * kGemmNR) {
#pragma GCC unroll 16
      for (size_t m = 0; m < MR; ++m) {
#pragma GCC unroll 4
        for (size_t r = 0; r < R; ++r) {
          V::store(c + m * c_stride + r / RP * kGemmNR + r % RP * V::kLanes, acc[0][m][r]);
        }
      }
    } else {
#pragma GCC unroll 2
      for (size_t p = 0; p < P; ++p) {
        const typename V::Mask mask = V::mask(panel_columns(nc, p));
#pragma GCC unroll 16
        for (size_t m = 0; m < MR; ++m) {
#pragma GCC unroll 4
          for (size_t r = 0; r < RP; ++r) {
            V::store(c + m * c_stride + p * kGemmNR + r * V::kLanes, acc[0][m][p * RP + r], mask, r);
          }
        }
      }
    }
  }

  // Columns of panel p among the tile's nc.
  static size_t panel_columns(size_t nc, size_t p) {
    return nc - p * kGemmNR < kGemmNR ? nc - p * kGemmNR : kGemmNR;
  }
};

// A tile of one panel, or of two when the call has more than 16 columns: kernels of NR = 32.
template <typename V, typename L>
struct F32GemmTile2 {
  template <size_t MR>
  static void run(size_t nc, size_t k, const typename L::AElem* a, size_t a_stride,
                  const typename L::WElem* w, float* c, size_t c_stride, const GemmF32Params* params) {
    if (nc > kGemmNR) {
      F32GemmTile<V, L, 2>::template run<MR>(nc, k, a, a_stride, w, c, c_stride, params);
    } else {
      F32GemmTile<V, L, 1>::template run<MR>(nc, k, a, a_stride, w, c, c_stride, params);
    }
  }
};

}  // namespace
}  // namespace fnn
