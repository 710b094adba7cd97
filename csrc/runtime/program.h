// A compiled graph: tensors (per-sample sizes, float32, NHWC inside), steps that read and
// write them, and the packed weights the steps own. Built once by the compiler (Python
// frugalnn.graph.compile), then run by any number of Sessions, each with its own arena.
//
// Tensors are "external" (graph inputs and outputs: bound to the caller's buffers at run
// time), "planned" (a slice of the session's arena) or an alias of another tensor (a
// flatten or reshape that moves no data). Planned tensors between int8 layers hold u8
// values (scale, zero point) rather than float32: see assign_activation_dtypes. Steps run in order; a tensor lives from the step
// that writes it to the last step that reads it, which is what the memory plan packs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv/conv_nhwc.h"
#include "kernels/gemm/gemm.h"
#include "kernels/sparse/sparse_matrix.h"

namespace fnn {

enum class StepKind : int {
#define FNN_STEP_KIND(id, name, what) id,
#include "runtime/step_kinds.inc"
#undef FNN_STEP_KIND
};
constexpr int kNumStepKinds = 0
#define FNN_STEP_KIND(id, name, what) +1
#include "runtime/step_kinds.inc"
#undef FNN_STEP_KIND
    ;
const char* step_kind_name(StepKind kind);
// The kind called `name` (step_kind_name's inverse); false for an unknown name.
bool parse_step_kind(const std::string& name, StepKind* kind);

enum class DType : int { kF32, kU8 };

struct TensorInfo {
  size_t sample_elems = 0;  // elements per sample
  bool external = false;
  int alias_of = -1;        // another tensor whose memory this one is
  DType dtype = DType::kF32;
  float scale = 1.f;        // kU8: real = scale * (q - zero_point)
  int32_t zero_point = 0;
  size_t elem_bytes() const { return dtype == DType::kU8 ? 1 : 4; }
};

struct Step {
  StepKind kind = StepKind::kClamp;
  std::string name;
  std::vector<int> in;
  int out = -1;
  float lo = -__builtin_inff(), hi = __builtin_inff();
  Conv2dGeometry conv;  // per sample (n set at run time)
  Pool2dGeometry pool;  // pooling steps; a conv with pool_fused: the max-pool applied to its
  bool pool_fused = false;  // output tile by tile (window == stride, no padding), see below
  size_t c = 0, hw = 0;  // layout changes, global pool, scale-shift, softmax (cols = c)
  std::vector<std::shared_ptr<PackedWeights>> packed;  // dense: 1; conv: one per group
  std::shared_ptr<SparseMatrix> sparse;
  std::vector<float> bias;     // sparse dense, depthwise
  std::vector<float> weights;  // depthwise [kh][kw][c]; scale-shift: scale then shift
  // int8 depthwise: s8 weights [kh][kw][c] and their per-channel scales (weights then empty).
  std::vector<int8_t> weights_s8;
  std::vector<float> w_scale;
  std::vector<int32_t> w_sum;  // derived: per channel, the weights' sum over the window
  std::vector<size_t> parts;   // concat: each input's run length; c = their sum
  // int8 weights: activations quantized with these calibrated parameters.
  float a_scale = 1.f;
  int32_t a_zero_point = 0;
  // An int8 add / global average pool: the u8 parameters each input is read with (the
  // output's follow from its readers, as for any u8 tensor). Empty: float inputs.
  std::vector<float> in_scale;
  std::vector<int32_t> in_zero_point;
  // int8 weights: the GEMM output stage and its per-column vectors (one per group; for an
  // int8 depthwise, one with a value per channel), set by assign_activation_dtypes once the
  // output's dtype is known.
  QuantArgs qargs;
  std::vector<QGemmColumns> qcolumns;
};
// "f32", "f16", "bf16", "int8" (int8 weights, or a quantize step) or "sparse".
const char* step_precision(const Step& s);

class Program {
 public:
  int add_tensor(size_t sample_elems, bool external, int alias_of);
  // A tensor as a compiled program holds it, dtype and quantization included (loading a
  // saved program; assign_activation_dtypes then finds nothing left to change).
  int add_tensor(const TensorInfo& info);
  void add_step(Step step);
  // Finishes the program: sets its inputs and outputs, assigns activation dtypes, runs
  // check_program (the last line of defence for compiled and loaded programs alike) and
  // freezes it. A frozen program never changes again, so any number of sessions on any
  // threads may share it; add_tensor / add_step / set_io then throw std::logic_error.
  void set_io(std::vector<int> inputs, std::vector<int> outputs);
  bool frozen() const { return frozen_; }
  // Keeps activations u8 between int8 layers: a tensor whose producer can write u8 (an int8
  // dense / conv, or a max-pool of a u8 tensor) and whose every reader takes u8 with the
  // same parameters (int8 dense / conv calibrated for it, or a max-pool passing them on)
  // becomes u8. An int8 layer reading a float tensor gets a quantize step in front, so int8
  // layers always read u8. set_io calls it; idempotent.
  void assign_activation_dtypes();

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::vector<Step>& steps() const { return steps_; }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  // Bytes held by packed weights (shared by every session of this program).
  size_t weight_bytes() const;
  // Scratch a step needs (im2col tiles per thread, quantized activations), in bytes.
  size_t step_scratch_bytes(size_t step, size_t threads) const;
  static bool is_int8_gemm(const Step& s);
  // An int8 GEMM or an int8 depthwise conv: reads u8, writes u8 or f32 through QuantArgs.
  static bool is_int8_layer(const Step& s);
  // Whether the step reads input k as u8, and with which parameters.
  static bool reads_u8(const Step& s, size_t k, float* scale, int32_t* zero_point);
  // Whether the step can write a u8 output (int8 layers, u8 element-wise ops; a max-pool of a
  // u8 tensor is decided by its input's dtype).
  static bool writes_u8(const Step& s);
  // Whether a conv step reads its input directly as the GEMM's A (1x1, stride 1, no pad).
  static bool conv_is_pointwise(const Step& s);
  // A conv with a fused max-pool works in units of one pool output row: the pool-window-high
  // band of conv output rows under it. Conv output pixels per unit, and units per tile.
  static size_t pool_unit_pixels(const Step& s) { return s.pool.kh * s.conv.ow; }
  static size_t pool_units_per_tile(const Step& s);
  // One thread's scratch for a (not pointwise) conv step: an im2col tile, plus with a fused
  // pool the conv output tile the pool reads (so the pre-pool map never exists whole).
  size_t conv_slot_bytes(const Step& s) const;
  // Bytes of a conv slot's im2col part (the conv output tile follows it).
  static size_t conv_col_bytes(const Step& s);

  static constexpr size_t kConvTileRows = 64;  // output pixels per im2col tile

 private:
  void require_open() const;

  std::vector<TensorInfo> tensors_;
  std::vector<Step> steps_;
  std::vector<int> inputs_, outputs_;
  bool frozen_ = false;
};

}  // namespace fnn
