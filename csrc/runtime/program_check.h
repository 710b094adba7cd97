// Whether a Program is one a Session can run without reading or writing out of bounds: the
// invariants compile() guarantees by construction, checked explicitly for programs that come
// from files (.fnn) and so may be corrupted or crafted.
//
// Checked: tensor sizes, aliases and dtypes (u8 with a positive finite scale and a zero point
// in 0..255; external tensors f32); program inputs / outputs (1..16 each, external, distinct,
// every external tensor one of them); per step: input count, tensor indices, that every tensor
// read was written before (or is an input), that no tensor is written twice and no input is
// written, that sizes, geometry, weights and dtypes agree with what the step's kernel reads
// and writes, and that fields the kind does not use hold nothing.
#pragma once

#include <string>
#include <vector>

#include "runtime/program.h"

namespace fnn {

// A name from a file as error messages quote it: control bytes escaped (an embedded NUL would
// cut the message short), at most 80 bytes.
std::string printable_name(const std::string& name);

// Throws std::invalid_argument naming the first defect and where it is ("step 4 'conv2'
// (conv2d): ..." / "tensor 7: ...").
void check_program(const std::vector<TensorInfo>& tensors, const std::vector<Step>& steps,
                   const std::vector<int>& inputs, const std::vector<int>& outputs);
inline void check_program(const Program& p) {
  check_program(p.tensors(), p.steps(), p.inputs(), p.outputs());
}

}  // namespace fnn
