#include "cpu/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "kernels/common/ukernel_registry.h"

namespace fnn {
namespace {

IsaEnvSelection read_env() {
  IsaEnvSelection sel;
  const char* v = std::getenv("FRUGALNN_ISA");
  if (v == nullptr || *v == '\0') return sel;
  sel.value = v;
  IsaLevel wanted;
  if (!parse_isa(sel.value, &wanted)) {
    sel.invalid = true;
    sel.message = "FRUGALNN_ISA='" + sel.value +
                  "' is not an ISA level; use one of scalar, avx2, avx512, avx512vnni";
    return sel;
  }
  if (!isa_compiled(wanted) || !isa_supported(wanted)) {
    sel.message = std::string("FRUGALNN_ISA=") + isa_name(wanted) + " is not available (" +
                  (isa_compiled(wanted) ? "this CPU lacks it" : "not built into this binary") +
                  "); using " + isa_name(best_isa());
  }
  return sel;
}

int initial_level() {
  const IsaEnvSelection& sel = isa_env_selection();
  IsaLevel wanted;
  if (!sel.value.empty() && !sel.invalid && parse_isa(sel.value, &wanted) &&
      isa_compiled(wanted) && isa_supported(wanted)) {
    return static_cast<int>(wanted);
  }
  return static_cast<int>(best_isa());
}

// The process default, level and feature flag in one word so a reader never sees half of a
// change.
std::atomic<int>& default_slot() {
  static std::atomic<int> code{Dispatch{static_cast<IsaLevel>(initial_level()), true}.code()};
  return code;
}

// The calling thread's pin: a Dispatch code, or -1 for none.
thread_local int t_pinned = -1;

void require_available(IsaLevel level) {
  if (!isa_compiled(level) || !isa_supported(level)) {
    throw std::invalid_argument(std::string("ISA level '") + isa_name(level) +
                                "' is not available here; the best level is '" +
                                isa_name(best_isa()) + "'");
  }
}

}  // namespace

const IsaEnvSelection& isa_env_selection() {
  static const IsaEnvSelection sel = read_env();
  return sel;
}

Dispatch current_dispatch() {
  const int code = t_pinned >= 0 ? t_pinned : default_slot().load(std::memory_order_acquire);
  return Dispatch::from_code(code);
}

IsaLevel active_isa() { return current_dispatch().level; }
bool feature_kernels_enabled() { return current_dispatch().feature_kernels; }

void set_active_isa(IsaLevel level) {
  require_available(level);
  int code = default_slot().load(std::memory_order_relaxed);
  while (!default_slot().compare_exchange_weak(
      code, Dispatch{level, Dispatch::from_code(code).feature_kernels}.code(),
      std::memory_order_acq_rel)) {
  }
}

void set_feature_kernels(bool enabled) {
  int code = default_slot().load(std::memory_order_relaxed);
  while (!default_slot().compare_exchange_weak(
      code, Dispatch{Dispatch::from_code(code).level, enabled}.code(), std::memory_order_acq_rel)) {
  }
}

bool thread_dispatch_pinned(Dispatch* pinned) {
  if (t_pinned < 0) return false;
  *pinned = Dispatch::from_code(t_pinned);
  return true;
}

void set_thread_dispatch(bool pinned, Dispatch d) {
  if (pinned) require_available(d.level);
  t_pinned = pinned ? d.code() : -1;
}

DispatchPin::DispatchPin(Dispatch d) : previous_(t_pinned) { t_pinned = d.code(); }
DispatchPin::~DispatchPin() { t_pinned = previous_; }

std::vector<std::pair<std::string, std::string>> kernel_families() {
  // Each family reports the kernel of the first op its list names, as its config picks it.
  const Dispatch d = current_dispatch();
  const UkernelList all = all_ukernels();
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < all.size; ++i) {
    const UkernelInfo& u = all.begin[i];
    bool seen = false;
    for (const auto& f : out) seen = seen || f.first == u.family;
    if (!seen) out.emplace_back(u.family, best_ukernel(u.op, d.level, d.feature_kernels).isa);
  }
  return out;
}

}  // namespace fnn
