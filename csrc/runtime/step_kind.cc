#include "runtime/step_kind.h"

#include <cstring>

#include "runtime/program.h"

namespace fnn {
namespace {

const StepKindImpl* const* table() {
  static const StepKindImpl* const kinds[] = {
#define FNN_STEP_KIND(id, impl, what) &impl(),
#include "runtime/step_kinds.inc"
#undef FNN_STEP_KIND
  };
  static_assert(sizeof(kinds) / sizeof(kinds[0]) == kNumStepKinds, "one implementation per kind");
  return kinds;
}

}  // namespace

const StepKindImpl& step_impl(StepKind kind) { return *table()[static_cast<int>(kind)]; }

const char* step_kind_name(StepKind kind) {
  const int k = static_cast<int>(kind);
  return k >= 0 && k < kNumStepKinds ? table()[k]->name() : "?";
}

bool parse_step_kind(const std::string& name, StepKind* kind) {
  for (int k = 0; k < kNumStepKinds; ++k) {
    if (name == table()[k]->name()) {
      *kind = static_cast<StepKind>(k);
      return true;
    }
  }
  return false;
}

// Defaults: a float step without weights, scratch or u8 plumbing, and no parameters.
std::string StepKindImpl::label(const Step&) const { return name(); }
size_t StepKindImpl::scratch_bytes(const Program&, const Step&, size_t, Tiles) const { return 0; }
const char* StepKindImpl::precision(const Step&) const { return "f32"; }
size_t StepKindImpl::weight_bytes(const Step&) const { return 0; }
bool StepKindImpl::reads_u8(const Step&, size_t, QuantIn*) const { return false; }
bool StepKindImpl::writes_u8(const Step&, const std::vector<TensorInfo>&) const { return false; }
bool StepKindImpl::passes_u8(const Step&) const { return false; }
bool StepKindImpl::keeps_dtype(const Step&) const { return false; }
bool StepKindImpl::reads_quantized(const Step&) const { return false; }
void StepKindImpl::prepare(Step&, const std::vector<TensorInfo>&) const {}
void StepKindImpl::write(StepRecordWriter&, const Step&) const {}
std::shared_ptr<StepParams> StepKindImpl::read(StepRecordReader&) const { return nullptr; }

const TensorInfo& StepRun::in_info(size_t k) const { return program.tensors()[step.in[k]]; }
const TensorInfo& StepRun::out_info() const { return program.tensors()[step.out]; }

}  // namespace fnn
