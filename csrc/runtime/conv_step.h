// Runs a conv step of a Session: im2col tiles into per-thread scratch, one GEMM per tile and
// group, and — for a conv with a fused max-pool — the pool over each tile of conv output, so
// the pre-pool feature map never exists whole.
#pragma once

#include <cstddef>

#include "runtime/program.h"

namespace fnn {

// x / y: the step's input and output tensors (their dtypes as the program assigned them);
// scratch: threads * program.conv_slot_bytes(s) bytes (unused by a pointwise conv).
void run_conv_step(const Program& program, const Step& s, size_t batch, size_t threads,
                   const void* x, void* y, char* scratch);

// Applies the part of [s.lo, s.hi] the int8 GEMM epilogue did not (it fuses ReLU only) to a
// rows x cols block of the step's output (row stride ldy, the output tensor's dtype).
void finish_int8_clamp(const Step& s, const TensorInfo& out, void* y, size_t rows, size_t cols,
                       size_t ldy);

}  // namespace fnn
