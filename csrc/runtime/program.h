// A compiled graph: tensors (per-sample sizes, float32, NHWC inside), steps that read and
// write them, and the weights the steps own. Built once by the compiler (Python
// frugalnn.graph.compile) or loaded from a .fnn file, then run by any number of Sessions,
// each with its own arena.
//
// Tensors are "external" (graph inputs and outputs: bound to the caller's buffers at run
// time; outputs float32, inputs float32 or u8 / s8 with a scale and zero point), "planned"
// (a slice of the session's arena) or an alias of another tensor (a flatten or reshape that
// moves no data). Planned tensors between int8 layers hold u8
// values (scale, zero point) rather than float32: see assign_activation_dtypes. Steps run in
// order; a tensor lives from the step that writes it to the last step that reads it, which
// is what the memory plan packs. What a step does is its kind's (step_kind.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/step.h"
#include "runtime/step_kind.h"
#include "runtime/tensor_info.h"

namespace fnn {

class Program {
 public:
  int add_tensor(size_t sample_elems, bool external, int alias_of);
  // A tensor as a compiled program holds it, dtype and quantization included (loading a
  // saved program; assign_activation_dtypes then finds nothing left to change).
  int add_tensor(const TensorInfo& info);
  void add_step(Step step);
  // Finishes the program: sets its inputs and outputs, assigns activation dtypes, runs
  // check_program (the last line of defence for compiled and loaded programs alike),
  // prepares each step's derived state and freezes it. A frozen program never changes again,
  // so any number of sessions on any threads may share it; add_tensor / add_step / set_io
  // then throw std::logic_error.
  void set_io(std::vector<int> inputs, std::vector<int> outputs);
  bool frozen() const { return frozen_; }
  // Keeps activations u8 between int8 layers: a tensor whose producer can write u8 (an int8
  // dense / conv, or a max-pool of a u8 tensor) and whose every reader takes u8 with the
  // same parameters (int8 dense / conv calibrated for it, or a max-pool passing them on)
  // becomes u8. An int8 layer reading a float tensor gets a quantize step in front, so int8
  // layers always read u8. A u8 / s8 program input keeps its dtype through layout steps and
  // is read as stored by int8 steps with its parameters; any other reader gets it through
  // one dequantize step (s8 read as u8 with zero point + 128: a +128 byte pass). set_io
  // calls it; idempotent.
  void assign_activation_dtypes();

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::vector<Step>& steps() const { return steps_; }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }
  // Bytes held by the steps' weights (shared by every session of this program).
  size_t weight_bytes() const;
  // Scratch a step needs with `threads` threads and `tiles`, in bytes.
  size_t step_scratch_bytes(size_t step, size_t threads, Tiles tiles) const;

 private:
  void require_open() const;

  std::vector<TensorInfo> tensors_;
  std::vector<Step> steps_;
  std::vector<int> inputs_, outputs_;
  bool frozen_ = false;
};

}  // namespace fnn
