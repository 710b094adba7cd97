#pragma once

#include <cstddef>
#include <vector>

#include "runtime/step.h"

namespace fnn {

// What a broadcast step computes per element (codes are stored in .fnn files: append only).
enum class BroadcastOp : size_t {
  kCopy = 0,   // y = a (a strided gather: Transpose)
  kAdd = 1,
  kSub = 2,
  kMul = 3,
  kDiv = 4,
  kMax = 5,
  kMin = 6,
  kPow = 7,
  kPRelu = 8,  // y = a < 0 ? a * b : a
  kCount = 9,
};

// y = op(a, b) over `dims` (a sample's output, outermost first, in its stored order), each
// operand read with its own element strides per dim (0 where it broadcasts) and per sample
// (0: the same values for every sample). b is the step's second input, or `constant` when
// the step has one input and op takes two. Adjacent dims that every operand walks
// contiguously are merged by compile, so the innermost loop is long.
struct BroadcastParams : StepParams {
  size_t op = 0;
  std::vector<size_t> dims, a_strides, b_strides;
  size_t a_sample = 0, b_sample = 0;
  size_t a_offset = 0;  // where a's walk starts in each sample (Slice, Split)
  bool swap = false;  // y = op(b, a): a constant first operand (c - x, c / x)
  std::vector<float> constant;
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.op), f(p.dims), f(p.a_strides), f(p.b_strides), f(p.a_sample), f(p.b_sample), f(p.a_offset), f(p.swap), f(p.constant);
  }
};

}  // namespace fnn
