#pragma once

#include <memory>
#include <vector>

#include "kernels/conv/conv_nhwc.h"
#include "kernels/gemm/gemm.h"
#include "runtime/step.h"

namespace fnn {

// conv_transpose2d: a transposed 2-D convolution (ONNX ConvTranspose, torch's
// ConvTranspose2d) on NHWC float32 maps. Its geometry uses Conv2dGeometry's field names for
// the transposed op itself: input h x w x c, output oh x ow x oc, kernel, strides,
// dilations, groups, and the padding cropped off the top / left of the full result (the
// bottom / right follow from oh / ow, output_padding included). Input pixel (iy, ix) and
// tap (ky, kx) add into output pixel (iy sh - pad_top + ky dh, ix sw - pad_left + kx dw).
//
// Per group, `weights` holds the c / groups x (kh kw oc / groups) matrix whose column
// (ky kw + kx) (oc / groups) + o is ONNX's W[i][o][ky][kx]: one GEMM turns a band of input
// pixels into every tap's contribution, then each output pixel gathers its taps (no two
// threads write one value, and the summation order is fixed).
struct ConvTranspose2dParams : StepParams {
  Conv2dGeometry geometry;  // per sample (n set at run time)
  std::vector<std::shared_ptr<PackedWeights>> weights;  // one per group, f32
  std::vector<float> bias;  // oc values, or empty
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.geometry), f(p.weights), f(p.bias);
  }
};

}  // namespace fnn
