#include "runtime/program.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/program_check.h"

namespace fnn {

namespace {

constexpr const char* kStepKindNames[] = {
#define FNN_STEP_KIND(id, name, what) name,
#include "runtime/step_kinds.inc"
#undef FNN_STEP_KIND
};
static_assert(sizeof(kStepKindNames) / sizeof(kStepKindNames[0]) == kNumStepKinds,
              "one name per step kind");

}  // namespace

const char* step_kind_name(StepKind kind) {
  const int k = static_cast<int>(kind);
  return k >= 0 && k < kNumStepKinds ? kStepKindNames[k] : "?";
}

bool parse_step_kind(const std::string& name, StepKind* kind) {
  for (int k = 0; k < kNumStepKinds; ++k) {
    if (name == kStepKindNames[k]) {
      *kind = static_cast<StepKind>(k);
      return true;
    }
  }
  return false;
}

const char* step_precision(const Step& s) {
  if (s.sparse) return "sparse";
  if (s.kind == StepKind::kQuantize || !s.weights_s8.empty() || !s.in_scale.empty()) return "int8";
  if (!s.packed.empty()) return weight_kind_name(s.packed[0]->kind());
  return "f32";
}

int Program::add_tensor(const TensorInfo& info) {
  const int t = add_tensor(info.sample_elems, info.external, info.alias_of);
  if (tensors_[t].alias_of != info.alias_of) {
    tensors_.pop_back();
    throw std::invalid_argument("an alias of an alias: a compiled program points at the root");
  }
  tensors_[t].dtype = info.dtype;
  tensors_[t].scale = info.scale;
  tensors_[t].zero_point = info.zero_point;
  return t;
}

void Program::require_open() const {
  if (frozen_) throw std::logic_error("the program is finished (set_io ran): it can no longer change");
}

int Program::add_tensor(size_t sample_elems, bool external, int alias_of) {
  require_open();
  if (alias_of >= static_cast<int>(tensors_.size())) {
    throw std::invalid_argument("alias of a tensor that does not exist");
  }
  if (alias_of >= 0 && tensors_[alias_of].sample_elems != sample_elems) {
    throw std::invalid_argument("an alias must have the size of the tensor it aliases");
  }
  while (alias_of >= 0 && tensors_[alias_of].alias_of >= 0) alias_of = tensors_[alias_of].alias_of;
  TensorInfo t;
  t.sample_elems = sample_elems;
  t.external = external;
  t.alias_of = alias_of;
  tensors_.push_back(t);
  return static_cast<int>(tensors_.size()) - 1;
}

void Program::add_step(Step step) {
  require_open();
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
  require_open();
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
  assign_activation_dtypes();
  check_program(*this);
  frozen_ = true;
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

size_t Program::step_scratch_bytes(size_t step, size_t threads) const {
  const Step& s = steps_.at(step);
  if (s.kind == StepKind::kConv && (s.pool_fused || !conv_is_pointwise(s))) {
    return threads * conv_slot_bytes(s);
  }
  return 0;
}

size_t Program::pool_units_per_tile(const Step& s) {
  return std::max<size_t>(1, kConvTileRows / pool_unit_pixels(s));
}

size_t Program::conv_col_bytes(const Step& s) {
  const size_t k = s.conv.kh * s.conv.kw * (s.conv.c / s.conv.groups);
  const size_t rows = s.pool_fused ? pool_units_per_tile(s) * pool_unit_pixels(s) : kConvTileRows;
  // u8 for int8 weights (their input is u8), else f32.
  return (rows * k * (is_int8_gemm(s) ? 1 : sizeof(float)) + 63) / 64 * 64;
}

size_t Program::conv_slot_bytes(const Step& s) const {
  size_t bytes = conv_col_bytes(s);
  if (s.pool_fused) {
    const size_t rows = pool_units_per_tile(s) * pool_unit_pixels(s);
    bytes += (rows * s.conv.oc * tensors_[s.out].elem_bytes() + 63) / 64 * 64;
  }
  return bytes;
}

}  // namespace fnn
