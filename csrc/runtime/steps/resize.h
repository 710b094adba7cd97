#pragma once

#include <cstddef>
#include <vector>

#include "runtime/step.h"

namespace fnn {

// resize: an NHWC map resampled over its spatial axes (ONNX Resize / Upsample), nearest or
// bilinear. compile evaluates ONNX's coordinate formula once per output row and column
// (graph/ops/resize.py) and stores what it gives as tables, so the kernel only gathers and
// blends whole pixels of c values:
//   nearest: rows[oy] / cols[ox] is the source row / column of output row oy / column ox;
//   linear: rows[2 oy], rows[2 oy + 1] are its two source rows and row_weights[2 oy],
//   row_weights[2 oy + 1] their weights (columns alike), so
//   y = wy0 (wx0 x[y0][x0] + wx1 x[y0][x1]) + wy1 (wx0 x[y1][x0] + wx1 x[y1][x1]).
struct ResizeParams : StepParams {
  size_t h = 0, w = 0, c = 0;  // input (per sample)
  size_t oh = 0, ow = 0;       // output (c channels)
  bool linear = false;
  std::vector<size_t> rows, cols;
  std::vector<float> row_weights, col_weights;  // linear only
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.h), f(p.w), f(p.c), f(p.oh), f(p.ow), f(p.linear), f(p.rows), f(p.cols), f(p.row_weights), f(p.col_weights);
  }
};

}  // namespace fnn
