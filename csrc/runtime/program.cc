#include "runtime/program.h"

#include <stdexcept>

namespace fnn {

const char* step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::kToNhwc: return "to_nhwc";
    case StepKind::kToNchw: return "to_nchw";
    case StepKind::kDense: return "dense";
    case StepKind::kSparseDense: return "sparse_dense";
    case StepKind::kConv: return "conv2d";
    case StepKind::kDepthwise: return "depthwise_conv2d";
    case StepKind::kMaxPool: return "maxpool2d";
    case StepKind::kAvgPool: return "avgpool2d";
    case StepKind::kGlobalAvgPool: return "global_avgpool";
    case StepKind::kAdd: return "add";
    case StepKind::kClamp: return "clamp";
    case StepKind::kSigmoid: return "sigmoid";
    case StepKind::kSoftmax: return "softmax";
    case StepKind::kScaleShift: return "scale_shift";
    case StepKind::kConcat: return "concat";
  }
  return "?";
}

int Program::add_tensor(size_t sample_elems, bool external, int alias_of) {
  if (alias_of >= static_cast<int>(tensors_.size())) {
    throw std::invalid_argument("alias of a tensor that does not exist");
  }
  if (alias_of >= 0 && tensors_[alias_of].sample_elems != sample_elems) {
    throw std::invalid_argument("an alias must have the size of the tensor it aliases");
  }
  while (alias_of >= 0 && tensors_[alias_of].alias_of >= 0) alias_of = tensors_[alias_of].alias_of;
  tensors_.push_back({sample_elems, external, alias_of});
  return static_cast<int>(tensors_.size()) - 1;
}

void Program::add_step(Step step) {
  const int n = static_cast<int>(tensors_.size());
  for (int t : step.in) {
    if (t < 0 || t >= n) throw std::invalid_argument("step '" + step.name + "' reads an unknown tensor");
  }
  if (step.out < 0 || step.out >= n) {
    throw std::invalid_argument("step '" + step.name + "' writes an unknown tensor");
  }
  if (tensors_[step.out].alias_of >= 0) {
    throw std::invalid_argument("step '" + step.name + "' writes an alias");
  }
  steps_.push_back(std::move(step));
}

void Program::set_io(std::vector<int> inputs, std::vector<int> outputs) {
  for (int t : inputs) {
    if (t < 0 || t >= static_cast<int>(tensors_.size()) || !tensors_[t].external) {
      throw std::invalid_argument("inputs must be external tensors");
    }
  }
  for (int t : outputs) {
    if (t < 0 || t >= static_cast<int>(tensors_.size()) || !tensors_[t].external) {
      throw std::invalid_argument("outputs must be external tensors");
    }
  }
  inputs_ = std::move(inputs);
  outputs_ = std::move(outputs);
}

size_t Program::weight_bytes() const {
  size_t total = 0;
  for (const Step& s : steps_) {
    for (const auto& p : s.packed) total += p->nbytes();
    if (s.sparse) total += s.sparse->nbytes();
    total += (s.bias.size() + s.weights.size()) * sizeof(float);
  }
  return total;
}

bool Program::conv_is_pointwise(const Step& s) {
  const Conv2dGeometry& g = s.conv;
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.pad_top == 0 && g.pad_left == 0 &&
         g.groups == 1 && g.oh == g.h && g.ow == g.w;
}

size_t Program::step_scratch_bytes(size_t step, size_t max_batch, size_t threads) const {
  const Step& s = steps_.at(step);
  const bool int8 = !s.packed.empty() && s.packed[0]->kind() == WeightKind::kInt8;
  if (s.kind == StepKind::kDense) {
    return int8 ? max_batch * s.packed[0]->k() : 0;  // quantized activations
  }
  if (s.kind == StepKind::kConv) {
    const size_t k = s.conv.kh * s.conv.kw * (s.conv.c / s.conv.groups);
    if (conv_is_pointwise(s)) return int8 ? max_batch * s.conv.h * s.conv.w * k : 0;
    return threads * conv_slot_bytes(s);
  }
  return 0;
}

size_t Program::conv_slot_bytes(const Step& s) {
  const size_t k = s.conv.kh * s.conv.kw * (s.conv.c / s.conv.groups);
  const bool int8 = !s.packed.empty() && s.packed[0]->kind() == WeightKind::kInt8;
  auto round64 = [](size_t v) { return (v + 63) / 64 * 64; };
  // An f32 im2col tile, and its u8 copy for int8 weights.
  return round64(kConvTileRows * k * sizeof(float)) + (int8 ? round64(kConvTileRows * k) : 0);
}

}  // namespace fnn
