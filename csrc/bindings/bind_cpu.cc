#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "bindings/bindings.h"
#include "cpu/cpu_features.h"
#include "cpu/dispatch.h"
#include "cpu/isa.h"

namespace py = pybind11;

namespace fnn {
namespace {

py::list isa_names(const std::vector<IsaLevel>& levels) {
  py::list out;
  for (IsaLevel l : levels) out.append(isa_name(l));
  return out;
}

py::dict runtime_info() {
  const CpuFeatures& f = cpu_features();
  py::dict features;
  features["sse4_2"] = f.sse42;
  features["avx"] = f.avx;
  features["avx2"] = f.avx2;
  features["fma"] = f.fma;
  features["f16c"] = f.f16c;
  features["avx512f"] = f.avx512f;
  features["avx512bw"] = f.avx512bw;
  features["avx512vl"] = f.avx512vl;
  features["avx512dq"] = f.avx512dq;
  features["avx512vnni"] = f.avx512vnni;
  features["avx512bf16"] = f.avx512bf16;
  features["avx512fp16"] = f.avx512fp16;
  features["avxvnni"] = f.avxvnni;
  features["neon"] = f.neon;
  features["dotprod"] = f.dotprod;

  std::vector<IsaLevel> compiled, supported;
  for (int i = 0; i < kNumIsaLevels; ++i) {
    const auto l = static_cast<IsaLevel>(i);
    if (isa_compiled(l)) compiled.push_back(l);
    if (isa_supported(l)) supported.push_back(l);
  }
  py::dict kernels;
  for (const auto& fam : kernel_families()) kernels[py::str(fam.first)] = fam.second;

  const IsaEnvSelection& env = isa_env_selection();
  py::dict info;
  info["version"] = FRUGALNN_VERSION;
  info["arch"] = f.arch;
  info["cpu_vendor"] = f.vendor;
  info["cpu_brand"] = f.brand;
  info["features"] = features;
  info["compiled_isas"] = isa_names(compiled);
  info["supported_isas"] = isa_names(supported);
  info["available_isas"] = isa_names(available_isas());
  info["best_isa"] = isa_name(best_isa());
  info["active_isa"] = isa_name(active_isa());
  info["isa_env"] = env.value.empty() ? py::object(py::none()) : py::object(py::str(env.value));
  info["feature_kernels"] = feature_kernels_enabled();
  info["kernels"] = kernels;
  return info;
}

}  // namespace

void bind_cpu(py::module_& m) {
  m.def("runtime_info", &runtime_info,
        "CPU features, compiled / supported / available ISA levels, the active level and the "
        "ISA of the kernel each family runs.");
  m.def("available_isas", [] { return isa_names(available_isas()); },
        "ISA levels this build and CPU can run, lowest first.");
  m.def("active_isa", [] { return std::string(isa_name(active_isa())); },
        "The ISA level kernels called from this thread dispatch to now.");
  m.def(
      "set_isa",
      [](const std::string& name) {
        IsaLevel level;
        if (!parse_isa(name, &level)) {
          throw py::value_error("unknown ISA level '" + name +
                                "'; use one of scalar, avx2, avx512, avx512vnni");
        }
        set_active_isa(level);  // std::invalid_argument -> ValueError when unavailable
      },
      py::arg("level"),
      "The process default: dispatch every kernel family to `level` (must be available) on "
      "threads without a pin of their own.");
  m.def(
      "_thread_isa",
      []() -> py::object {
        Dispatch d;
        if (!thread_dispatch_pinned(&d)) return py::none();
        return py::make_tuple(isa_name(d.level), d.feature_kernels);
      },
      "(level, feature kernels) this thread is pinned to, or None.");
  m.def(
      "_set_thread_isa",
      [](const std::optional<std::string>& name, bool feature_kernels) {
        Dispatch d;
        d.feature_kernels = feature_kernels;
        if (name && !parse_isa(*name, &d.level)) {
          throw py::value_error("unknown ISA level '" + *name +
                                "'; use one of scalar, avx2, avx512, avx512vnni");
        }
        set_thread_dispatch(name.has_value(), d);
      },
      py::arg("level"), py::arg("feature_kernels"),
      "Pins this thread's dispatch (None: unpins it).");
  m.def("set_feature_kernels", &set_feature_kernels, py::arg("enabled"),
        "Use (default) or skip kernels gated by a feature off the ladder (AVX-VNNI, "
        "AVX512-BF16).");
  m.def("feature_kernels_enabled", &feature_kernels_enabled);
  m.def(
      "_isa_env",
      [] {
        const IsaEnvSelection& s = isa_env_selection();
        return py::make_tuple(s.value, s.invalid, s.message);
      },
      "(value, invalid, message) of FRUGALNN_ISA as read at load time.");
}

}  // namespace fnn
