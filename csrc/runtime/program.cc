#include "runtime/program.h"

#include <stdexcept>

#include "runtime/program_check.h"

namespace fnn {

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
  for (Step& s : steps_) step_impl(s.kind).prepare(s, tensors_);
  frozen_ = true;
}

size_t Program::weight_bytes() const {
  size_t total = 0;
  for (const Step& s : steps_) total += step_impl(s.kind).weight_bytes(s);
  return total;
}

size_t Program::step_scratch_bytes(size_t step, size_t threads, Tiles tiles) const {
  const Step& s = steps_.at(step);
  return step_impl(s.kind).scratch_bytes(*this, s, threads, tiles);
}

}  // namespace fnn
