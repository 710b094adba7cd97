#pragma once

#include <memory>
#include <vector>

#include "kernels/conv/conv_nhwc.h"
#include "kernels/gemm/gemm.h"
#include "runtime/step.h"

namespace fnn {

// conv2d: im2col tiles and one GEMM per group through packed weights (f32 / f16 / bf16, or
// int8 reading a u8 input quantized as `input` says). With pool_fused, a max-pool whose
// windows tile the conv output exactly (stride == window, no padding) is applied tile by
// tile, so the pre-pool map never exists whole.
struct Conv2dParams : StepParams {
  Conv2dGeometry geometry;  // per sample (n set at run time)
  std::vector<std::shared_ptr<PackedWeights>> weights;  // one per group
  QuantIn input;  // int8 weights only
  bool pool_fused = false;
  Pool2dGeometry pool;     // pool_fused only
  bool int8() const { return !weights.empty() && weights[0] && weights[0]->kind() == WeightKind::kInt8; }
  std::vector<FusedUnary> post;  // activations run in the epilogue (last: optional in the record)
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.geometry), f(p.weights), f(p.input), f(p.pool_fused), f(p.pool), f(p.post);
  }
  // Derived (prepare): the int8 output stage, one column set per group.
  QuantArgs qargs;
  std::vector<QGemmColumns> columns;
};

// ---- Training (frugalnn.train): float32 NHWC, g.n set, weights "OHWI" ------------------------
// w is (oc, kh, kw, c / groups): per group an (oc / groups) x K matrix whose rows are
// im2col's [kh][kw][c / groups] order. groups == c > 1 (depthwise, with or without a channel
// multiplier) runs the direct loops of depthwise_conv2d.cc.
//
// Forward: y = conv(x, w) + bias (bias oc values or null), clamped to [lo, hi]; im2col tiles
// of kTrainTileRows pixels and one GEMM per group, the weights packed per call.
void conv2d_train_forward(const Conv2dGeometry& g, const float* x, const float* w,
                          const float* bias, float lo, float hi, float* y);
// Backward from dy (the gradient of the conv output before its activation):
//   dw (overwritten)        = sum over pixels of dy^T im2col(x): GEMMs over tiles of one
//                             image's pixels, im2col recomputed per tile in scratch;
//   dx (overwritten, or null) = col2im(dy w) per tile;
//   db (overwritten, or null) = sum of dy over pixels.
// Deterministic whatever the thread count: the batch is cut into a fixed number of parts
// (for_each_batch_part); a part accumulates its tiles in order into its own dw buffer, and
// the buffers are added in part order.
void conv2d_backward(const Conv2dGeometry& g, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db);

}  // namespace fnn
