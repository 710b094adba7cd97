#pragma once

#include <vector>

#include "runtime/step.h"

namespace fnn {

// An element-wise step that may read u8 tensors (add, global_avgpool): the parameters each
// input is read with (ONNX QLinearAdd / QLinearGlobalAveragePool), or none (float inputs).
// The output's parameters follow from its readers, as for any u8 tensor.
struct U8InputsParams : StepParams {
  std::vector<QuantIn> inputs_u8;
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.inputs_u8);
  }
};

// A global average pool's geometry besides its u8 inputs.
struct GlobalAvgPoolParams : StepParams {
  size_t c = 0, hw = 0;  // channels, pixels
  std::vector<QuantIn> inputs_u8;
  template <typename Self, typename F>
  static void fields(Self& p, F&& f) {
    f(p.c), f(p.hw), f(p.inputs_u8);
  }
};

}  // namespace fnn
