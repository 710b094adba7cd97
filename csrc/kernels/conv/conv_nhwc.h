// Convolution and pooling helpers on NHWC float32 tensors (batch n, contiguous).
//
// Output pixels are numbered p = (b * oh + y) * ow + x over the whole batch; every function
// that takes (p0, rows) handles output pixels [p0, p0 + rows) only, so callers split work
// over threads by pixel ranges and tile im2col into a small scratch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/conv/dwconv_ukernels.h"
#include "kernels/eltwise/eltwise.h"

namespace fnn {

struct Conv2dGeometry {
  size_t n = 0, h = 0, w = 0, c = 0;  // input (NHWC)
  size_t oh = 0, ow = 0, oc = 0;      // output (NHWC)
  size_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  size_t pad_top = 0, pad_left = 0;   // bottom / right padding follow from oh / ow
  size_t groups = 1;                  // input channels per group: c / groups
};

// Rows of the im2col matrix for output pixels [p0, p0 + rows) and channel group `group`:
// row r holds the patch of pixel p0 + r as [kh][kw][c / groups] (zeros where the patch
// falls in the padding); rows are `ld` floats apart (ld >= kh * kw * c / groups).
void im2col_nhwc(const Conv2dGeometry& g, const float* x, size_t p0, size_t rows, size_t group,
                 float* dst, size_t ld);
// The same on u8 values; the padding holds `pad` (the zero point: the quantized 0.0).
void im2col_nhwc(const Conv2dGeometry& g, const uint8_t* x, size_t p0, size_t rows,
                 size_t group, uint8_t pad, uint8_t* dst, size_t ld);

// The adjoint of im2col_nhwc (training's input gradient): adds row r of src (a patch as
// [kh][kw][c / groups], rows `ld` floats apart) into the input values the patch of pixel
// p0 + r reads, in channel group `group`; padding taps are dropped. Pixels in order, taps in
// order: a fixed summation order. dx is not cleared.
void col2im_nhwc(const Conv2dGeometry& g, const float* src, size_t p0, size_t rows, size_t group,
                 size_t ld, float* dx);

// Training's depthwise loops (groups == c, oc = m * c, output o reads input channel o / m):
// wt is [kh][kw][oc], bias oc values or null.
// Forward for output pixels [p0, p0 + rows), clamped to [lo, hi].
void depthwise_multiplier_conv2d_nhwc(const Conv2dGeometry& g, const float* x, const float* wt,
                                      const float* bias, float lo, float hi, float* y, size_t p0,
                                      size_t rows);
// Backward over images [b0, b1): dwt ([kh][kw][oc]) += the weight gradient of those images,
// pixel after pixel; dx (or null) += their input gradient (whole images: callers give each
// task its own images).
void depthwise_conv2d_backward_nhwc(const Conv2dGeometry& g, const float* x, const float* wt,
                                    const float* dy, float* dx, float* dwt, size_t b0, size_t b1);

// Sum over `pixels` rows of c values (a bias gradient), in row order with double sums.
void sum_rows_nhwc(size_t pixels, size_t c, const float* dy, float* db);

// Depthwise convolution (groups == c == oc): w is [kh][kw][c], bias c values or null, the
// result clamped to [lo, hi].
void depthwise_conv2d_nhwc(const Conv2dGeometry& g, const float* x, const float* w,
                           const float* bias, float lo, float hi, float* y, size_t p0,
                           size_t rows);

// The same on u8 activations and s8 weights [kh][kw][c] (the dispatched qu8_dwconv kernel):
// each output pixel gets the output stage of `p`, u8 or float32 (c values per pixel).
void depthwise_conv2d_nhwc(const Conv2dGeometry& g, const uint8_t* x, const int8_t* w,
                           const QDwParams& p, void* y, size_t p0, size_t rows);

struct Pool2dGeometry {
  size_t n = 0, h = 0, w = 0, c = 0;
  size_t oh = 0, ow = 0;
  size_t kh = 1, kw = 1, sh = 1, sw = 1;
  size_t pad_top = 0, pad_left = 0;
};

// Max over each window (padding never wins); a window always holds at least one real input.
void maxpool2d_nhwc(const Pool2dGeometry& g, const float* x, float* y, size_t p0, size_t rows);
void maxpool2d_nhwc(const Pool2dGeometry& g, const uint8_t* x, uint8_t* y, size_t p0, size_t rows);
// Mean over the real inputs of each window (padding not counted, ONNX count_include_pad=0).
void avgpool2d_nhwc(const Pool2dGeometry& g, const float* x, float* y, size_t p0, size_t rows);
// Pool gradients over images [b0, b1) (dx of those images is overwritten).
// Max: each window's dy goes to the first tap in row-major window order whose x equals the
// window's max y, when lo < x < hi (the clamp of an activation before the pool, whose
// backward this then is too; -inf, inf without one). found: c floats of scratch.
void maxpool2d_backward_nhwc(const Pool2dGeometry& g, const float* x, const float* y,
                             const float* dy, float* dx, size_t b0, size_t b1, float lo, float hi,
                             float* found);
// Average (padding not counted): each window's dy / count to each of its real taps.
void avgpool2d_backward_nhwc(const Pool2dGeometry& g, const float* dy, float* dx, size_t b0,
                             size_t b1);
// y[b][ch] = mean over the hw pixels of x[b][.][ch].
void global_avgpool_nhwc(size_t n, size_t hw, size_t c, const float* x, float* y);
// Its backward: dx[b][p][ch] = dy[b][ch] / hw, for images [b0, b1).
void global_avgpool_backward_nhwc(size_t hw, size_t c, const float* dy, float* dx, size_t b0, size_t b1);
// The same on u8 values with (x_scale, x_zp), through `out`: exact integer sums of x - x_zp,
// times x_scale / (hw * out.scale) for a u8 output or x_scale / hw for a float one.
void global_avgpool_nhwc(size_t n, size_t hw, size_t c, const uint8_t* x, float x_scale,
                         int32_t x_zp, const QOutputStage& out, void* y);

// Layout changes between the API's NCHW and the runtime's NHWC.
void nchw_to_nhwc(size_t n, size_t c, size_t hw, const float* x, float* y);
void nhwc_to_nchw(size_t n, size_t c, size_t hw, const float* x, float* y);

}  // namespace fnn
