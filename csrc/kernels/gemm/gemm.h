// Dense GEMM: weights packed once, then C = A * W (+ bias) (+ clamp) for any number of rows.
//
// One driver serves every data type: it splits the output into tasks of (a range of MR-row
// tiles) x (a group of 16-column panels), runs them on the library's thread pool, and within
// a task walks panel blocks and (float kinds) K blocks so the A tile stays in L1 and the
// panels' K slices stay in L2. int8 runs the whole K per call: its int32 accumulators never
// leave the registers (K <= 65536 keeps them exact).
// Every output element is computed by exactly one task, in one fixed order, so results do not
// depend on the number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "memory/pool.h"

namespace fnn {

// kCodebook: b-bit indices (b in 2..8) into k-means centroids, one table per layer or per
// output column; decoded to f32 panel slices inside the GEMM driver (codebook_decode.h).
enum class WeightKind { kF32, kF16, kBf16, kInt8, kCodebook };
const char* weight_kind_name(WeightKind kind);

// W (K x N) in the micro-kernels' panel layout (gemm_ukernels.h), plus what the epilogues
// need, all in one pool block — or, for weights loaded from a .fnn file, in memory someone
// else owns (view()). The original array is not referenced after packing.
class PackedWeights {
 public:
  // w: K x N row-major (f32 for the float kinds, int8 for kInt8). bias: N floats or null.
  // w_scales (kInt8 only): N per-output-channel scales, or 1 value for per-tensor.
  static std::shared_ptr<PackedWeights> pack_float(WeightKind kind, const float* w, size_t k,
                                                   size_t n, const float* bias,
                                                   std::shared_ptr<Pool> pool);
  static constexpr size_t kMaxInt8K = 65536;  // 255 * 128 * K must fit int32
  static std::shared_ptr<PackedWeights> pack_int8(const int8_t* w, size_t k, size_t n,
                                                  const float* w_scales, size_t n_scales,
                                                  const float* bias, std::shared_ptr<Pool> pool);
  // Codebook weights: idx K x N row-major, every value < 2^bits (bits in 2..8); centroids
  // 2^bits floats (per layer) or N x 2^bits (per_channel: one table per output column).
  // Throws std::invalid_argument on a bits value or an index out of range.
  static constexpr uint32_t kMinCodebookBits = 2, kMaxCodebookBits = 8;
  static std::shared_ptr<PackedWeights> pack_codebook(const uint8_t* idx, size_t k, size_t n,
                                                      uint32_t bits, const float* centroids,
                                                      bool per_channel, const float* bias,
                                                      std::shared_ptr<Pool> pool);
  // Bytes of the packed layout of a K x N matrix: panels, then bias, then (int8) column sums
  // and scales, or (codebook) the tables, each section padded to 64. Throws
  // std::length_error if that overflows, std::invalid_argument for codebook bits outside
  // 2..8. bits / per_channel: codebook only.
  static size_t layout_bytes(WeightKind kind, size_t k, size_t n, uint32_t bits = 0,
                             bool per_channel = false);
  // Weights already in the packed layout (a blob of a mapped .fnn file): nothing is copied or
  // repacked; `owner` keeps the bytes alive. Throws std::invalid_argument unless k, n >= 1,
  // int8 k <= kMaxInt8K, block is 64-byte aligned and block_bytes == layout_bytes(kind, k, n,
  // bits, per_channel); codebook also unless bits is in 2..8 and every stored index (padding
  // columns too) is < 2^bits.
  static std::shared_ptr<PackedWeights> view(WeightKind kind, size_t k, size_t n, bool has_bias,
                                             const void* block, size_t block_bytes,
                                             std::shared_ptr<const void> owner,
                                             uint32_t bits = 0, bool per_channel = false);
  ~PackedWeights();
  PackedWeights(const PackedWeights&) = delete;
  PackedWeights& operator=(const PackedWeights&) = delete;

  WeightKind kind() const { return kind_; }
  size_t k() const { return k_; }
  size_t n() const { return n_; }
  size_t panels() const { return panels_; }
  size_t k_padded() const { return k_padded_; }
  bool has_bias() const { return has_bias_; }
  size_t nbytes() const { return nbytes_; }  // bytes of the layout (pool bytes held, or viewed)

  const void* panel_data() const { return data_; }  // also the start of the whole layout
  const float* bias() const { return bias_; }        // panels*16, zero-padded (float kinds, int8)
  const int32_t* colsum() const { return colsum_; }  // int8: panels*16
  const float* w_scale() const { return w_scale_; }  // int8: panels*16
  // Codebook: index bits, one table per column or one for all, the tables (per channel:
  // panels*16 tables of 2^bits, padding columns' zero), bytes of one panel's index row.
  uint32_t codebook_bits() const { return bits_; }
  bool per_channel() const { return per_channel_; }
  const float* tables() const { return w_scale_; }
  size_t index_row_bytes() const { return bits_ <= 4 ? 8 : 16; }

  // Unpacked copies, for tests and inspection.
  std::vector<float> unpack_float() const;   // K x N, the stored (rounded / decoded) values
  std::vector<int8_t> unpack_int8() const;   // K x N

 private:
  PackedWeights() = default;
  // An empty object with the geometry of K x N weights of `kind` (no storage yet).
  static std::shared_ptr<PackedWeights> shaped(WeightKind kind, size_t k, size_t n);
  void allocate(std::shared_ptr<Pool> pool);
  void set_sections(void* block);

  WeightKind kind_ = WeightKind::kF32;
  size_t k_ = 0, n_ = 0, panels_ = 0, k_padded_ = 0, nbytes_ = 0;
  bool has_bias_ = false;
  uint32_t bits_ = 0;          // codebook
  bool per_channel_ = false;   // codebook
  std::shared_ptr<Pool> pool_;
  void* block_ = nullptr;                // pool block, or null for a view
  std::shared_ptr<const void> owner_;    // a view's memory
  void* data_ = nullptr;
  float* bias_ = nullptr;
  int32_t* colsum_ = nullptr;
  float* w_scale_ = nullptr;  // int8 scales, or the codebook tables
};

// The float kinds' panel layout, shared by PackedWeights and per-call packing (sgemm, the
// training convolutions): op(B) is K x N with element (kk, col) at
// src[kk * k_stride + col * n_stride] (k_stride = N, n_stride = 1 for row-major B; 1 and K
// for a transposed one). dst receives float_panels_bytes(kind, k, n) bytes, padding zeroed.
size_t float_panels_bytes(WeightKind kind, size_t k, size_t n);
void pack_float_panels(WeightKind kind, const float* src, size_t k, size_t n, size_t k_stride,
                       size_t n_stride, void* dst);

struct UnaryEpilogue;  // kernels/eltwise/unary_config.h

struct Activation {
  float min = -__builtin_inff();
  float max = __builtin_inff();
  // Run on each finished output tile after the clamp (a fused activation), or null.
  const UnaryEpilogue* post = nullptr;
};

// C (m x n, row stride ldc) = A (m x k, row stride lda) * W + bias, clamped. Float kinds and
// codebook weights (decoded per K block x panel slice, then the f32 micro-kernel).
// bf16_compute: for kBf16 weights, round A to bf16 and use bf16 products (vdpbf16ps where the
// CPU has it) instead of widening W to f32.
void gemm_float(const float* a, size_t m, size_t lda, const PackedWeights& w, float* c,
                size_t ldc, Activation act, bool bf16_compute);

// f32 panels packed per call (pack_float_panels with kF32), as the driver reads them.
struct F32Panels {
  const float* data = nullptr;  // float_panels_bytes(kF32, k, n) bytes
  size_t k = 0, n = 0;
  const float* bias = nullptr;  // panels * 16 floats, zero-padded, or null
};

// C = A * B (+ bias) clamped, or with accumulate C += A * B (bias and clamp ignored), on the
// same driver and tasks as gemm_float: each element of C in one fixed order, whatever the
// thread count.
void gemm_f32_panels(const float* a, size_t m, size_t lda, const F32Panels& b, float* c,
                     size_t ldc, Activation act, bool accumulate);

enum class QOutput { kInt32, kF32, kU8 };

struct QuantArgs {
  float a_scale = 1.f;
  int32_t a_zero_point = 0;
  bool a_signed = false;    // A is int8 (shifted by +128 to u8 internally)
  QOutput output = QOutput::kF32;
  float out_scale = 1.f;    // kU8
  int32_t out_zero_point = 0;
  bool relu = false;        // f32: clamp at 0; u8: clamp at out_zero_point
};

// gemm_int8's per-column output stage for one (weights, QuantArgs) pair: the combined scale
// and, for u8 outputs, the bias in accumulator units (w.panels() * 16 values each). A caller
// running many GEMMs with one pair — a convolution's tiles — computes them once.
struct QGemmColumns {
  std::vector<float> scale;
  std::vector<int32_t> bias_i32;
};
QGemmColumns qgemm_columns(const PackedWeights& w, const QuantArgs& q);
// One column's part of it, for a weight scale and an optional bias (also the int8 depthwise
// conv's per-channel output stage).
void qgemm_column(const QuantArgs& q, float w_scale, const float* bias, float* scale,
                  int32_t* bias_i32);

// C = (A - a_zero_point) * W, then the output stage of QuantArgs. A: m x k bytes.
// columns: qgemm_columns(w, q), or null to compute them per call.
void gemm_int8(const void* a, size_t m, size_t lda, const PackedWeights& w, void* c,
               size_t ldc, const QuantArgs& q, const QGemmColumns* columns = nullptr);

// A f32 quantized per tensor on the fly (ONNX DynamicQuantizeLinear), then gemm_int8 to f32.
// Throws std::invalid_argument if A holds NaN or infinity.
void gemm_int8_dynamic(const float* a, size_t m, size_t lda, const PackedWeights& w, float* c,
                       size_t ldc, bool relu);

// DynamicQuantizeLinear's parameters for A (exposed for tests).
void dynamic_quant_params(const float* a, size_t m, size_t k, size_t lda, float* scale,
                          int32_t* zero_point);

}  // namespace fnn
