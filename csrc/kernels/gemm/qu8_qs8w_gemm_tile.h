// The SIMD int8 GEMM tile (u8 A x s8 W, exact int32 sums): one body for avx2, avx512,
// avx512vnni, avxvnni, neon and neondot, with the ISA's dot-product step as the trait D:
//
//   D::V            the 16-column vector type (vec16_avx2.h / vec16_avx512.h / vec16_neon.h); accumulators
//                   are its int32 registers, V::IReg
//   D::kAcc         accumulator registers per tile row
//   D::W, load_w(p) one K group of the panel (4 k x 16 columns, 64 bytes) made ready
//   D::dot(acc, a4, w)  acc += the 4 A bytes a4 of one row times the group
//   D::sets(M)      accumulator sets for an M-row tile: short tiles split K over U
//                   interleaved sets so enough dot chains are in flight to hide the latency
//   D::kLaneGroups  optional, G > 1: load_a_lanes(p) reads G groups of a row's A at once and
//                   dot_lane<j>(acc, lanes, w) multiplies by group j (NEON SDOT by element)
//   D::finish(acc, out) turns a row's accumulators into its 16 columns in order (avx512
//                   without VNNI keeps partial sums in lane pairs); QDotInOrder's copies
//                   them where they already are
//
// The K tail (k % 4, zero-padded in W) and the k / 4 % U leftover groups go first (integer
// sums do not depend on order), so the unrolled main loop runs straight into the epilogue:
// with the tail after it, GCC's partial PRE (-O3) and not-unrolled epilogue loops (-O2)
// copied every accumulator twice per step. Row m of A is base[m / 3] + (m % 3) * a_stride:
// a moving pointer per 3 rows and two strides instead of a pointer per row, so no general
// register spills at 12 rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/gemm/gemm_ukernels.h"
#include "kernels/gemm/qu8_qs8w_gemm_epilogue.h"

namespace fnn {
namespace {

// The finish of the dot steps whose accumulators are already the columns in order.
template <typename V>
struct QDotInOrder {
  static void finish(const typename V::IReg (&acc)[V::kRegs], typename V::IReg (&out)[V::kRegs]) {
#pragma GCC unroll 2
    for (size_t r = 0; r < V::kRegs; ++r) out[r] = acc[r];
  }
};

template <typename D>
struct Qu8Qs8wGemmTile {
  using Acc = typename D::V::IReg;
  static constexpr size_t A = D::kAcc;

  template <typename T>
  static constexpr size_t lane_groups() {
    if constexpr (has_lane_groups<T>(0)) return T::kLaneGroups;
    return 1;
  }
  template <typename T>
  static constexpr bool has_lane_groups(decltype(T::kLaneGroups)) { return true; }
  template <typename T>
  static constexpr bool has_lane_groups(...) { return false; }

  // Groups j = 0 .. G-1 of the main loop: W group j times lane j of each row's A.
  template <size_t M, typename AL, size_t... J>
  [[gnu::always_inline]] static void lane_groups_step(Acc (&acc)[M][A], const AL (&al)[M], const int8_t* w,
                                                      std::index_sequence<J...>) {
    (lane_group<M, J>(acc, al, D::load_w(w + 64 * J)), ...);
  }
  template <size_t M, size_t J, typename AL>
  [[gnu::always_inline]] static void lane_group(Acc (&acc)[M][A], const AL (&al)[M], const typename D::W& wv) {
#pragma GCC unroll 16
    for (size_t m = 0; m < M; ++m) D::template dot_lane<J>(acc[m], al[m], wv);
  }

  template <size_t M>
  static void run(size_t nc, size_t k, const uint8_t* a, size_t a_stride, const int8_t* w,
                  void* c, size_t c_stride, const QGemmParams* p) {
    constexpr size_t U = D::sets(M);
    constexpr size_t NB = (M + 2) / 3;
    const uint8_t* base[NB];
#pragma GCC unroll 4
    for (size_t b = 0; b < NB; ++b) base[b] = a + 3 * b * a_stride;
    const size_t a_stride2 = 2 * a_stride;
    // Row m's A at byte offset off of its K position.
    auto row = [&](size_t m, size_t off) {
      return base[m / 3] + off + (m % 3 == 0 ? 0 : m % 3 == 1 ? a_stride : a_stride2);
    };

    Acc acc[U * M][A];
#pragma GCC unroll 16
    for (size_t i = 0; i < U * M; ++i) {
#pragma GCC unroll 2
      for (size_t j = 0; j < A; ++j) acc[i][j] = D::V::izero();
    }
    if (k % 4 != 0) {
      const size_t kt = k - k % 4;
      const typename D::W wv = D::load_w(w + kt * 16);
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m) D::dot(acc[m], load_a_tail(row(m, kt), k % 4), wv);
    }
    // A trait with kLaneGroups = G > 1 (NEON's SDOT by element) loads G groups of a row's A at
    // once and takes group j from lane j: its main loop steps G groups, one set.
    constexpr size_t G = lane_groups<D>();
    static_assert(G == 1 || U == 1, "lane groups run one accumulator set");
    for (size_t g = k / 4 % (U * G); g != 0; --g) {
      const typename D::W wv = D::load_w(w);
      w += 64;
#pragma GCC unroll 16
      for (size_t m = 0; m < M; ++m) D::dot(acc[m], load_a4(row(m, 0)), wv);
#pragma GCC unroll 4
      for (size_t b = 0; b < NB; ++b) base[b] += 4;
    }
    if constexpr (G > 1) {
      for (size_t g = k / 4 / G; g != 0; --g) {
        decltype(D::load_a_lanes(a)) al[M];
#pragma GCC unroll 16
        for (size_t m = 0; m < M; ++m) al[m] = D::load_a_lanes(row(m, 0));
        lane_groups_step<M>(acc, al, w, std::make_index_sequence<G>{});
        w += 64 * G;
#pragma GCC unroll 4
        for (size_t b = 0; b < NB; ++b) base[b] += 4 * G;
      }
    } else {
      for (size_t g = k / 4 / U; g != 0; --g) {
#pragma GCC unroll 4
        for (size_t u = 0; u < U; ++u) {
          const typename D::W wv = D::load_w(w + 64 * u);
#pragma GCC unroll 16
          for (size_t m = 0; m < M; ++m) D::dot(acc[u * M + m], load_a4(row(m, 4 * u)), wv);
        }
        w += 64 * U;
#pragma GCC unroll 4
        for (size_t b = 0; b < NB; ++b) base[b] += 4 * U;
      }
    }
    // An empty asm that "changes" the accumulators keeps GCC's optimizers from reaching from
    // the epilogue into the loop (seen as copies of every accumulator per step).
#pragma GCC unroll 16
    for (size_t i = 0; i < U * M; ++i) {
#pragma GCC unroll 2
      for (size_t j = 0; j < A; ++j) __asm__("" : FNN_VREG(acc[i][j]));
    }
#pragma GCC unroll 16
    for (size_t i = M; i < U * M; ++i) {
#pragma GCC unroll 2
      for (size_t j = 0; j < A; ++j) acc[i % M][j] = D::V::iadd(acc[i % M][j], acc[i][j]);
    }
    typename D::V::IReg out[M][D::V::kRegs];
#pragma GCC unroll 16
    for (size_t m = 0; m < M; ++m) D::finish(acc[m], out[m]);
    store_rows<typename D::V, M>(out, nc, c, c_stride, *p);
  }
};

}  // namespace
}  // namespace fnn
