#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "kernels/common/half.h"
#include "kernels/eltwise/unary_config.h"
#include "kernels/gemm/codebook_config.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/gemm_config.h"
#include "kernels/quant/quant_config.h"
#include "memory/scratch.h"
#include "runtime/thread_pool.h"

namespace fnn {
namespace {

// Below this many multiply-adds per thread, waking another thread costs more than it saves.
constexpr size_t kMinMacsPerThread = size_t{1} << 17;
// K block of the float kernels: an MR x KC tile of A stays in L1, KC x 16 panel slices in L2.
constexpr size_t kFloatKc = 512;
constexpr size_t kPanelBlock = 8;
constexpr size_t kInt8PanelBlockBytes = size_t{256} << 10;

// Calls tile(row_begin, row_end, panel_begin, panel_end) over a grid of tasks covering the
// output; each output element belongs to exactly one task. Panel ranges start at multiples of
// panel_step (the panels one kernel call covers), so no task splits a kernel's tile.
template <typename TileFn>
void for_each_task(size_t m, size_t mr, size_t panels, size_t macs, const TileFn& tile,
                   size_t panel_step = 1) {
  if (m == 0 || panels == 0) return;
  if (in_parallel_task() || macs < 2 * kMinMacsPerThread) {
    tile(0, m, 0, panels);
    return;
  }
  const std::shared_ptr<ThreadPool> pool = global_thread_pool();
  const size_t threads =
      std::min(pool->num_threads(), std::max<size_t>(1, macs / kMinMacsPerThread));
  if (threads == 1) {
    tile(0, m, 0, panels);
    return;
  }
  const size_t m_tiles = (m + mr - 1) / mr;
  const size_t target = threads * 4;  // a few tasks per thread balance uneven progress
  const size_t units = (panels + panel_step - 1) / panel_step;
  size_t n_groups = std::min(units, target);
  const size_t panels_per_group = (units + n_groups - 1) / n_groups * panel_step;
  n_groups = (panels + panels_per_group - 1) / panels_per_group;
  size_t m_chunks = std::min(m_tiles, (target + n_groups - 1) / n_groups);
  const size_t tiles_per_chunk = (m_tiles + m_chunks - 1) / m_chunks;
  m_chunks = (m_tiles + tiles_per_chunk - 1) / tiles_per_chunk;
  pool->parallel_for(n_groups * m_chunks, [&](size_t t) {
    const size_t g = t % n_groups, mc = t / n_groups;
    const size_t r0 = mc * tiles_per_chunk * mr;
    const size_t r1 = std::min(m, r0 + tiles_per_chunk * mr);
    const size_t p0 = g * panels_per_group;
    const size_t p1 = std::min(panels, p0 + panels_per_group);
    tile(r0, r1, p0, p1);
  });
}

// What run_float reads of the weights: PackedWeights or per-call f32 panels.
struct PanelView {
  const void* data;
  size_t k, n, panels, k_padded;
  const float* bias;  // null: none
  bool has_bias() const { return bias != nullptr; }
  const void* panel_data() const { return data; }
};

PanelView view_of(const PackedWeights& w) {
  return {w.panel_data(), w.k(), w.n(), w.panels(), w.k_padded(), w.has_bias() ? w.bias() : nullptr};
}

template <typename AType, typename WType, typename Fn>
void run_float(const GemmUkernel<Fn>& uk, const AType* a, size_t m, size_t lda,
               const PanelView& w, float* c, size_t ldc, Activation act, size_t k_group,
               bool accumulate = false) {
  const size_t k = w.k, n = w.n, mr = uk.mr;
  // Rows exactly 4 KiB apart map to one L1 set: a 12-row tile then evicts itself (measured:
  // f32 at M >= 256, K = 1024 ran at 0.86-0.91x of the padded-stride speed). Re-stride such
  // an A through scratch; the copy is one pass over A against K/KC passes of the kernel.
  ScratchBlock restrided(m > mr && (lda * sizeof(AType)) % 4096 == 0
                             ? m * (lda + 16) * sizeof(AType) : 0);
  if (auto* copy = restrided.template as<AType>()) {
    for (size_t i = 0; i < m; ++i) std::memcpy(copy + i * (lda + 16), a + i * lda, k * sizeof(AType));
    a = copy;
    lda += 16;
  }
  // A single row tile gains nothing from K blocking: keep its accumulators in registers.
  size_t kc = m <= mr ? k : kFloatKc;
  kc = (kc + k_group - 1) / k_group * k_group;
  const bool clamp = !accumulate && (act.min != -std::numeric_limits<float>::infinity() ||
                                     act.max != std::numeric_limits<float>::infinity());
  const bool post = !accumulate && act.post != nullptr;
  const auto* panels = static_cast<const WType*>(w.panel_data());
  // Elements of one panel, and of one k row of it (a k_group-row pair counts k_group rows).
  const size_t panel_elems = w.k_padded * kGemmNR;
  for_each_task(m, mr, w.panels, m * n * k, [&](size_t r0, size_t r1, size_t p0, size_t p1) {
    // Panel blocks of kPanelBlock: their KC x 16 slices (256 KiB in f32) stay in L2 while
    // every row tile of the task streams past them.
    for (size_t pb = p0; pb < p1; pb += kPanelBlock) {
      const size_t pe = std::min(p1, pb + kPanelBlock);
      for (size_t kb = 0; kb < k; kb += kc) {
        const size_t kcur = std::min(kc, k - kb);
        GemmF32Params params;
        params.min = act.min;
        params.max = act.max;
        params.flags =
            (kb > 0 || accumulate ? uint32_t{kGemmAccumulate} : 0u) | (clamp && kb + kcur == k ? uint32_t{kGemmClamp} : 0u);
        params.w_panel_stride = panel_elems;
        for (size_t r = r0; r < r1; r += mr) {
          const size_t rows = std::min(mr, r1 - r);
          for (size_t p = pb; p < pe; p += uk.panels) {
            params.bias = w.has_bias() ? w.bias + p * kGemmNR : nullptr;
            const size_t nc = std::min(std::min(pe - p, uk.panels) * kGemmNR, n - p * kGemmNR);
            uk.fn(rows, nc, kcur, a + r * lda + kb, lda,
                  panels + p * panel_elems + kb * kGemmNR, c + r * ldc + p * kGemmNR, ldc,
                  &params);
          }
          if (post && kb + kcur == k) {
            apply_unary_rows(*act.post, c + r * ldc + pb * kGemmNR, rows, std::min(n, pe * kGemmNR) - pb * kGemmNR, ldc);
          }
        }
      }
    }
  }, uk.panels);
}

// Codebook weights on the f32 micro-kernel: each task decodes the K-block slices of its
// panel block into a task-local f32 buffer (panel layout, kcur x 16 per panel) once, then
// every row tile of the task reads them, so a convolution's many rows amortize the lookup.
// A single row tile decodes one panel at a time in L1-sized K blocks (kCodebookRowKc x 16
// floats, 16 KiB: the decoded rows are read back from L1, not L2; measured at 1 x 3136 x 128,
// one thread, 4-bit per layer: 97 us with the whole K decoded at once, 51 us in 256-row blocks).
constexpr size_t kCodebookRowKc = 256;
constexpr size_t kCodebookStackBytes = size_t{128} << 10;

void run_codebook(const GemmUkernel<F32GemmUkernelFn>& uk, F32CodebookDecodeFn decode,
                  const float* a, size_t m, size_t lda, const PackedWeights& w, float* c,
                  size_t ldc, Activation act) {
  const size_t k = w.k(), n = w.n(), mr = uk.mr;
  const size_t kc = std::min(k, m <= mr ? kCodebookRowKc : kFloatKc);
  const size_t block = m <= mr ? 1 : kPanelBlock;
  const bool clamp = act.min != -std::numeric_limits<float>::infinity() ||
                     act.max != std::numeric_limits<float>::infinity();
  const auto* idx = static_cast<const uint8_t*>(w.panel_data());
  const size_t row_bytes = w.index_row_bytes();
  const uint32_t bits = w.codebook_bits();
  const bool per_channel = w.per_channel();
  const size_t tables_per_panel = per_channel ? kGemmNR << bits : 0;
  if (m <= kCodebook4wMR && bits <= 4 && !per_channel) {
    // A few rows at 4 bits or less, one table: decoded in registers by the fused kernel
    // (1 x 3136 x 128, one thread, AVX-512: 51 us decoded through the buffer, 25 us fused;
    // f32 weights 30 us).
    const F32Codebook4wGemmUkernelFn fused = codebook_config().gemm4w;
    for_each_task(m, kCodebook4wMR, w.panels(), m * n * k, [&](size_t r0, size_t r1, size_t p0, size_t p1) {
      GemmF32Params params;
      params.min = act.min;
      params.max = act.max;
      params.flags = clamp ? uint32_t{kGemmClamp} : 0u;
      for (size_t p = p0; p < p1; ++p) {
        params.bias = w.has_bias() ? w.bias() + p * kGemmNR : nullptr;
        const size_t nc = std::min(kGemmNR, n - p * kGemmNR);
        fused(r1 - r0, nc, k, a + r0 * lda, lda, idx + p * k * row_bytes, w.tables(), c + r0 * ldc + p * kGemmNR,
              ldc, &params);
        if (act.post != nullptr) apply_unary_rows(*act.post, c + r0 * ldc + p * kGemmNR, r1 - r0, nc, ldc);
      }
    });
    return;
  }
  for_each_task(m, mr, w.panels(), m * n * k, [&](size_t r0, size_t r1, size_t p0, size_t p1) {
    // Up to 128 KiB on the stack: a convolution calls this once per tile from every thread,
    // and two threads taking scratch blocks per call made conv1 of the document's CNN (K = 9)
    // 4.7x slower than f32 at two threads (48 vs 10 us at batch 1).
    const size_t buffer_bytes = std::min(block, p1 - p0) * kc * kGemmNR * sizeof(float);
    alignas(64) float on_stack[kCodebookStackBytes / sizeof(float)];
    ScratchBlock buffer(buffer_bytes > kCodebookStackBytes ? buffer_bytes : 0);
    float* wbuf = buffer_bytes > kCodebookStackBytes ? buffer.as<float>() : on_stack;
    for (size_t pb = p0; pb < p1; pb += block) {
      const size_t pe = std::min(p1, pb + block);
      for (size_t kb = 0; kb < k; kb += kc) {
        const size_t kcur = std::min(kc, k - kb);
        for (size_t p = pb; p < pe; ++p) {
          decode(kcur, bits, per_channel, idx + (p * k + kb) * row_bytes,
                 w.tables() + p * tables_per_panel, wbuf + (p - pb) * kcur * kGemmNR);
        }
        GemmF32Params params;
        params.min = act.min;
        params.max = act.max;
        params.flags = (kb > 0 ? uint32_t{kGemmAccumulate} : 0u) |
                       (clamp && kb + kcur == k ? uint32_t{kGemmClamp} : 0u);
        params.w_panel_stride = kcur * kGemmNR;
        for (size_t r = r0; r < r1; r += mr) {
          const size_t rows = std::min(mr, r1 - r);
          for (size_t p = pb; p < pe; p += uk.panels) {
            params.bias = w.has_bias() ? w.bias() + p * kGemmNR : nullptr;
            const size_t nc = std::min(std::min(pe - p, uk.panels) * kGemmNR, n - p * kGemmNR);
            uk.fn(rows, nc, kcur, a + r * lda + kb, lda, wbuf + (p - pb) * kcur * kGemmNR,
                  c + r * ldc + p * kGemmNR, ldc, &params);
          }
          if (act.post != nullptr && kb + kcur == k) {
            apply_unary_rows(*act.post, c + r * ldc + pb * kGemmNR, rows, std::min(n, pe * kGemmNR) - pb * kGemmNR, ldc);
          }
        }
      }
    }
  }, uk.panels);
}

float round_to_int_range(float v) {
  // Keeps float -> int conversion defined; |v| this large is already saturated anyway.
  return std::min(std::max(v, -2147483648.0f), 2147483520.0f);
}

}  // namespace

void gemm_float(const float* a, size_t m, size_t lda, const PackedWeights& w, float* c,
                size_t ldc, Activation act, bool bf16_compute) {
  const GemmConfig& cfg = gemm_config();
  switch (w.kind()) {
    case WeightKind::kF32:
      run_float<float, float>(cfg.f32, a, m, lda, view_of(w), c, ldc, act, 1);
      return;
    case WeightKind::kF16:
      run_float<float, uint16_t>(cfg.f16w, a, m, lda, view_of(w), c, ldc, act, 1);
      return;
    case WeightKind::kBf16:
      if (!bf16_compute) {
        run_float<float, uint16_t>(cfg.bf16w, a, m, lda, view_of(w), c, ldc, act, 2);
        return;
      } else if (std::strcmp(cfg.bf16.isa, "scalar") == 0 &&
                 std::strcmp(cfg.bf16w.isa, "scalar") != 0) {
        // No bf16 dot-product instruction here: A rounded to bf16 (kept as f32) through the
        // vectorized widening kernel computes the same products, far faster than emulation.
        ScratchBlock scratch(m * w.k() * sizeof(float));
        auto* ar = scratch.as<float>();
        for (size_t i = 0; i < m; ++i) {
          for (size_t kk = 0; kk < w.k(); ++kk) {
            ar[i * w.k() + kk] = bf16_to_f32(f32_to_bf16(a[i * lda + kk]));
          }
        }
        run_float<float, uint16_t>(cfg.bf16w, ar, m, w.k(), view_of(w), c, ldc, act, 2);
        return;
      } else {
        // A rounded to bf16, rows padded with a zero to the pair size.
        const size_t kp = w.k_padded();
        ScratchBlock scratch(m * kp * sizeof(uint16_t));
        auto* ab = scratch.as<uint16_t>();
        for (size_t i = 0; i < m; ++i) {
          cfg.bf16_convert(a + i * lda, w.k(), ab + i * kp);
          for (size_t kk = w.k(); kk < kp; ++kk) ab[i * kp + kk] = 0;
        }
        run_float<uint16_t, uint16_t>(cfg.bf16, ab, m, kp, view_of(w), c, ldc, act, 2);
        return;
      }
    case WeightKind::kCodebook:
      run_codebook(cfg.f32, codebook_config().f32, a, m, lda, w, c, ldc, act);
      return;
    case WeightKind::kInt8:
      break;
  }
  throw std::invalid_argument("gemm_float: int8 weights need gemm_int8");
}

void gemm_f32_panels(const float* a, size_t m, size_t lda, const F32Panels& b, float* c,
                     size_t ldc, Activation act, bool accumulate) {
  if (b.k == 0) return;  // (callers handle an empty inner dimension)
  const PanelView view{b.data, b.k, b.n, (b.n + kGemmNR - 1) / kGemmNR, b.k, accumulate ? nullptr : b.bias};
  run_float<float, float>(gemm_config().f32, a, m, lda, view, c, ldc, act, 1, accumulate);
}

namespace {

void fill_qgemm_columns(const PackedWeights& w, const QuantArgs& q, float* scale,
                        int32_t* bias_i32) {
  const size_t n = w.n(), np = w.panels() * kGemmNR;
  for (size_t j = 0; j < np; ++j) {
    qgemm_column(q, w.w_scale()[j], w.has_bias() && j < n ? &w.bias()[j] : nullptr, &scale[j], &bias_i32[j]);
  }
}

}  // namespace

void qgemm_column(const QuantArgs& q, float w_scale, const float* bias, float* scale,
                  int32_t* bias_i32) {
  const float s = q.a_scale * w_scale;
  *scale = q.output == QOutput::kU8 ? s / q.out_scale : s;
  *bias_i32 = bias != nullptr && s != 0.f
                  ? static_cast<int32_t>(round_to_int_range(std::nearbyint(*bias / s)))
                  : 0;
}

QGemmColumns qgemm_columns(const PackedWeights& w, const QuantArgs& q) {
  if (w.kind() != WeightKind::kInt8) {
    throw std::invalid_argument("qgemm_columns: weights are not int8");
  }
  QGemmColumns cols;
  cols.scale.resize(w.panels() * kGemmNR);
  cols.bias_i32.resize(w.panels() * kGemmNR);
  fill_qgemm_columns(w, q, cols.scale.data(), cols.bias_i32.data());
  return cols;
}

void gemm_int8(const void* a, size_t m, size_t lda, const PackedWeights& w, void* c,
               size_t ldc, const QuantArgs& q, const QGemmColumns* columns) {
  if (w.kind() != WeightKind::kInt8) {
    throw std::invalid_argument("gemm_int8: weights are not int8");
  }
  const GemmUkernel<QGemmUkernelFn>& uk = gemm_config().qu8;
  const size_t k = w.k(), n = w.n(), np = w.panels() * kGemmNR;
  // A is copied when it needs a shift (s8 -> u8) or when its rows are a multiple of 4 KiB
  // apart: MR rows then share one L1 set and evict each other (measured at K = 4096).
  const bool restride = m > uk.mr && lda % 4096 == 0;
  const size_t copy_stride = restride ? k + 64 : k;
  const size_t copy_bytes = q.a_signed || restride ? m * copy_stride : 0;
  ScratchBlock vectors((columns ? 0 : np * 8) + copy_bytes);
  const float* scale = nullptr;
  const int32_t* bias_i32 = nullptr;
  uint8_t* copy = nullptr;
  if (columns != nullptr) {
    scale = columns->scale.data();
    bias_i32 = columns->bias_i32.data();
    copy = vectors.as<uint8_t>();
  } else {
    auto* vs = vectors.as<float>();
    auto* vb = reinterpret_cast<int32_t*>(vs + np);
    fill_qgemm_columns(w, q, vs, vb);
    scale = vs;
    bias_i32 = vb;
    copy = reinterpret_cast<uint8_t*>(vb + np);
  }
  const auto* a_u8 = static_cast<const uint8_t*>(a);
  int32_t zp = q.a_zero_point;
  size_t a_stride = lda;
  if (q.a_signed || restride) {
    // u8 kernels take s8 activations shifted by 128: (a + 128) - (zp + 128) == a - zp.
    const uint8_t flip = q.a_signed ? 0x80u : 0u;
    for (size_t i = 0; i < m; ++i) {
      const auto* row = static_cast<const uint8_t*>(a) + i * lda;
      for (size_t kk = 0; kk < k; ++kk) copy[i * copy_stride + kk] = row[kk] ^ flip;
    }
    a_u8 = copy;
    a_stride = copy_stride;
    if (q.a_signed) zp += 128;
  }
  const size_t out_bytes = q.output == QOutput::kU8 ? 1 : 4;
  const auto* panels = static_cast<const int8_t*>(w.panel_data());
  const size_t panel_bytes = w.k_padded() * kGemmNR;
  for_each_task(m, uk.mr, w.panels(), m * n * k, [&](size_t r0, size_t r1, size_t p0, size_t p1) {
    QGemmParams params;
    params.a_zero_point = zp;
    params.min = q.relu ? 0.f : -std::numeric_limits<float>::infinity();
    params.max = std::numeric_limits<float>::infinity();
    params.out_zero_point = q.out_zero_point;
    params.qmin = q.relu ? std::max(0, q.out_zero_point) : 0;
    params.qmax = 255;
    switch (q.output) {
      case QOutput::kInt32: params.out_kind = kQGemmOutInt32; break;
      case QOutput::kF32: params.out_kind = kQGemmOutF32; break;
      case QOutput::kU8: params.out_kind = kQGemmOutU8; break;
    }
    // Panel blocks of ~256 KiB stay in L2 while every row tile of the task passes them (at
    // K = 4096 one panel is 64 KiB: streaming all panels per row tile went to DRAM).
    const size_t block = std::max<size_t>(1, kInt8PanelBlockBytes / panel_bytes);
    for (size_t pb = p0; pb < p1; pb += block) {
    const size_t pe = std::min(p1, pb + block);
    for (size_t r = r0; r < r1; r += uk.mr) {
      const size_t rows = std::min(uk.mr, r1 - r);
      for (size_t p = pb; p < pe; ++p) {
        params.colsum = w.colsum() + p * kGemmNR;
        params.scale = scale + p * kGemmNR;
        params.bias_i32 = q.output == QOutput::kU8 && w.has_bias() ? bias_i32 + p * kGemmNR
                                                                   : nullptr;
        params.bias_f32 = q.output == QOutput::kF32 && w.has_bias() ? w.bias() + p * kGemmNR
                                                                    : nullptr;
        const size_t nc = std::min(kGemmNR, n - p * kGemmNR);
        uk.fn(rows, nc, k, a_u8 + r * a_stride, a_stride, panels + p * panel_bytes,
              static_cast<char*>(c) + (r * ldc + p * kGemmNR) * out_bytes, ldc, &params);
      }
    }
    }
  });
}

void dynamic_quant_params(const float* a, size_t m, size_t k, size_t lda, float* scale,
                          int32_t* zero_point) {
  const QuantConfig& qc = quant_config();
  float lo = 0.f, hi = 0.f;  // the range always includes 0 (ONNX DynamicQuantizeLinear)
  bool finite = true;
  for (size_t i = 0; i < m; ++i) finite &= qc.minmax(a + i * lda, k, &lo, &hi);
  if (!finite) {
    for (size_t i = 0; i < m; ++i) {
      for (size_t kk = 0; kk < k; ++kk) {
        if (!std::isfinite(a[i * lda + kk])) {
          throw std::invalid_argument("a contains NaN or infinity at [" + std::to_string(i) +
                                      ", " + std::to_string(kk) + "]: it cannot be quantized");
        }
      }
    }
  }
  const float s = (hi - lo) / 255.f;
  if (s == 0.f) {
    // All zeros: any scale represents them exactly; 1 keeps the arithmetic finite.
    *scale = 1.f;
    *zero_point = 0;
    return;
  }
  const float zp = std::nearbyint(std::min(std::max(0.f - lo / s, 0.f), 255.f));
  *scale = s;
  *zero_point = static_cast<int32_t>(zp);
}

void gemm_int8_dynamic(const float* a, size_t m, size_t lda, const PackedWeights& w, float* c,
                       size_t ldc, bool relu) {
  const size_t k = w.k();
  float scale;
  int32_t zp;
  dynamic_quant_params(a, m, k, lda, &scale, &zp);
  ScratchBlock qa(m * k);
  auto* q = qa.as<uint8_t>();
  // |a / scale| <= 255 by construction, well inside the kernels' exact range.
  const QuantConfig& qc = quant_config();
  for (size_t i = 0; i < m; ++i) qc.qu8(a + i * lda, k, scale, zp, q + i * k);
  QuantArgs args;
  args.a_scale = scale;
  args.a_zero_point = zp;
  args.output = QOutput::kF32;
  args.relu = relu;
  gemm_int8(q, m, k, w, c, ldc, args);
}

}  // namespace fnn
