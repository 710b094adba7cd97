#include "kernels/gemm/gemm_general.h"

#include <algorithm>
#include <cstring>

#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_ukernels.h"
#include "memory/scratch.h"
#include "runtime/parallel.h"

namespace fnn {
namespace {

// Below this many elements, packing or transposing on one thread beats waking the pool.
constexpr size_t kParallelElems = size_t{1} << 16;

size_t pack_threads(size_t elems) {
  return elems < kParallelElems || in_parallel_task() ? 1 : get_num_threads();
}

void transpose_tile(size_t r0, size_t r1, size_t cols, const float* src, size_t ld_src, float* dst,
                    size_t ld_dst) {
  constexpr size_t kTile = 32;
  for (size_t rb = r0; rb < r1; rb += kTile) {
    const size_t re = std::min(r1, rb + kTile);
    for (size_t cb = 0; cb < cols; cb += kTile) {
      const size_t ce = std::min(cols, cb + kTile);
      for (size_t j = cb; j < ce; ++j) {
        float* d = dst + j * ld_dst;
        for (size_t i = rb; i < re; ++i) d[i] = src[i * ld_src + j];
      }
    }
  }
}

}  // namespace

void transpose_f32(size_t rows, size_t cols, const float* src, size_t ld_src, float* dst,
                   size_t ld_dst) {
  parallel_ranges(rows, 64, pack_threads(rows * cols), [&](size_t r0, size_t r1) {
    transpose_tile(r0, r1, cols, src, ld_src, dst, ld_dst);
  });
}

void sgemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, const float* a, size_t lda,
           const float* b, size_t ldb, float* c, size_t ldc, const float* bias, bool accumulate) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (accumulate) return;
    for (size_t i = 0; i < m; ++i) {
      if (bias != nullptr) {
        std::memcpy(c + i * ldc, bias, n * sizeof(float));
      } else {
        std::fill(c + i * ldc, c + i * ldc + n, 0.f);
      }
    }
    return;
  }
  const size_t panels = (n + kGemmNR - 1) / kGemmNR;
  const size_t packed_bytes = float_panels_bytes(WeightKind::kF32, k, n);
  const size_t bias_bytes = bias != nullptr ? panels * kGemmNR * sizeof(float) : 0;
  // A^T gets a row stride off a multiple of 4 KiB (the driver would re-stride it otherwise).
  const size_t lda_t = k % 1024 == 0 ? k + 16 : k;
  const size_t at_bytes = trans_a ? m * lda_t * sizeof(float) : 0;
  const size_t packed_pad = (packed_bytes + 63) / 64 * 64, bias_pad = (bias_bytes + 63) / 64 * 64;
  ScratchBlock scratch(packed_pad + bias_pad + at_bytes);
  char* base = scratch.as<char>();
  auto* packed = reinterpret_cast<float*>(base);
  float* bias_panels = bias != nullptr ? reinterpret_cast<float*>(base + packed_pad) : nullptr;
  // Panels are independent and contiguous in the layout: pack ranges of them in parallel.
  const size_t k_stride = trans_b ? 1 : ldb, n_stride = trans_b ? ldb : 1;
  parallel_ranges(panels, 4, pack_threads(k * n), [&](size_t p0, size_t p1) {
    const size_t c0 = p0 * kGemmNR, c1 = std::min(n, p1 * kGemmNR);
    pack_float_panels(WeightKind::kF32, b + c0 * n_stride, k, c1 - c0, k_stride, n_stride,
                      packed + p0 * k * kGemmNR);
  });
  if (bias_panels != nullptr) {
    std::memcpy(bias_panels, bias, n * sizeof(float));
    std::fill(bias_panels + n, bias_panels + panels * kGemmNR, 0.f);
  }
  if (trans_a) {
    auto* at = reinterpret_cast<float*>(base + packed_pad + bias_pad);
    transpose_f32(k, m, a, lda, at, lda_t);
    a = at;
    lda = lda_t;
  }
  F32Panels view;
  view.data = packed;
  view.k = k;
  view.n = n;
  view.bias = bias_panels;
  gemm_f32_panels(a, m, lda, view, c, ldc, Activation{}, accumulate);
}

}  // namespace fnn
