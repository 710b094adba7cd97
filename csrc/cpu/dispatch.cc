#include "cpu/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "kernels/conv/dwconv_config.h"
#include "kernels/gemm/gemm_config.h"
#include "kernels/quant/quant_config.h"
#include "kernels/reduce/rsum_config.h"
#include "kernels/sparse/spmm_config.h"

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

std::atomic<int>& active_level_slot() {
  static std::atomic<int> level{initial_level()};
  return level;
}

std::atomic<bool> g_feature_kernels{true};

}  // namespace

bool feature_kernels_enabled() { return g_feature_kernels.load(std::memory_order_acquire); }
void set_feature_kernels(bool enabled) {
  g_feature_kernels.store(enabled, std::memory_order_release);
}

const IsaEnvSelection& isa_env_selection() {
  static const IsaEnvSelection sel = read_env();
  return sel;
}

IsaLevel active_isa() {
  return static_cast<IsaLevel>(active_level_slot().load(std::memory_order_acquire));
}

void set_active_isa(IsaLevel level) {
  if (!isa_compiled(level) || !isa_supported(level)) {
    throw std::invalid_argument(std::string("ISA level '") + isa_name(level) +
                                "' is not available here; the best level is '" +
                                isa_name(best_isa()) + "'");
  }
  active_level_slot().store(static_cast<int>(level), std::memory_order_release);
}

std::vector<std::pair<std::string, std::string>> kernel_families() {
  const GemmConfig& g = gemm_config();
  return {
      {"u8_rsum", rsum_config().u8_isa},
      {"f32_rsum", rsum_config().f32_isa},
      {"gemm_f32", g.f32.isa},
      {"gemm_f32_f16w", g.f16w.isa},
      {"gemm_f32_bf16w", g.bf16w.isa},
      {"gemm_bf16", g.bf16.isa},
      {"gemm_qu8_qs8w", g.qu8.isa},
      {"quantize_f32_qu8", quant_config().isa},
      {"spmm", spmm_config().isa},
      {"dwconv_f32", dwconv_config().f32_isa},
      {"dwconv_qu8", dwconv_config().qu8_isa},
  };
}

}  // namespace fnn
