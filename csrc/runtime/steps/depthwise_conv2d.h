#pragma once

#include <cstdint>
#include <vector>

#include "kernels/conv/conv_nhwc.h"
#include "kernels/gemm/gemm.h"
#include "runtime/step.h"

namespace fnn {

// depthwise_conv2d (groups == channels == outputs), run directly: f32 weights [kh][kw][c],
// or s8 weights [kh][kw][c] with a scale per channel reading a u8 input quantized as `input`
// says. Tiny, so stored inline in .fnn files rather than as blobs.
struct DepthwiseConv2dParams : StepParams {
  Conv2dGeometry geometry;  // per sample (n set at run time)
  std::vector<float> weights;         // f32, or empty
  std::vector<int8_t> weights_s8;     // int8, or empty
  std::vector<float> weight_scale;    // int8: per channel
  std::vector<float> bias;            // c values, or empty
  QuantIn input;                      // int8 only
  bool int8() const { return !weights_s8.empty(); }
  std::vector<FusedUnary> post;  // activations run in the epilogue (last: optional in the record)
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.geometry), f(p.weights), f(p.weights_s8), f(p.weight_scale), f(p.bias), f(p.input), f(p.post);
  }
  // Derived (prepare), int8: the output stage.
  QuantArgs qargs;
  QGemmColumns columns;
};

// ---- Training: groups == c, oc = m * c (m = 1: depthwise; m > 1: channel multiplier) -----
// w is (oc, kh, kw, 1); output channel o reads input channel o / m. Same contracts as
// conv2d_train_forward / conv2d_backward (conv2d.h), on direct loops.
void depthwise_conv2d_train_forward(const Conv2dGeometry& g, const float* x, const float* w,
                                    const float* bias, float lo, float hi, float* y);
void depthwise_conv2d_backward(const Conv2dGeometry& g, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db);

}  // namespace fnn
