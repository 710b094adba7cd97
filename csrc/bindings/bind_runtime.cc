// Graph runtime bindings: Program building (called by frugalnn.graph.compile) and Session.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bindings/array_checks.h"
#include "bindings/bindings.h"
#include "runtime/program.h"
#include "runtime/session.h"

namespace py = pybind11;

namespace fnn {
namespace {

StepKind parse_kind(const std::string& k) {
  StepKind kind;
  if (!parse_step_kind(k, &kind)) throw py::value_error("unknown step kind '" + k + "'");
  return kind;
}

// The buffers of one run, checked. Fixed arrays: a run allocates nothing, not even here.
TilePolicy parse_tiles(const std::string& name) {
  if (name == "auto") return TilePolicy::kAuto;
  if (name == "fast") return TilePolicy::kFast;
  if (name == "compact") return TilePolicy::kCompact;
  throw py::value_error("tiles must be 'auto', 'fast' or 'compact', got '" + name + "'");
}

struct RunBuffers {
  std::array<const float*, 16> in{};
  std::array<float*, 16> out{};
};

const char* dtype_name(DType d) {
  return d == DType::kU8 ? "uint8" : d == DType::kS8 ? "int8" : "float32";
}

// One array of a run's input or output list: of the tensor's dtype (float32, or uint8 / int8
// for a quantized input), C-contiguous, batch x elems values.
float* run_array(const py::list& list, size_t i, const TensorInfo& t, size_t batch, const char* what) {
  const size_t elems = batch * t.sample_elems;
  const py::handle h = PyList_GET_ITEM(list.ptr(), static_cast<py::ssize_t>(i));
  if (!py::isinstance<py::array>(h)) {
    throw py::type_error(std::string(what) + " " + std::to_string(i) + " is not a numpy array");
  }
  const auto a = py::reinterpret_borrow<py::array>(h);
  if (t.dtype == DType::kU8) {
    checked<uint8_t>(a, what, a.ndim());
  } else if (t.dtype == DType::kS8) {
    checked<int8_t>(a, what, a.ndim());
  } else {
    checked<float>(a, what, a.ndim());
  }
  if (static_cast<size_t>(a.size()) != elems) {
    throw py::value_error(std::string(what) + " " + std::to_string(i) + " has the wrong size");
  }
  return static_cast<float*>(const_cast<void*>(a.data()));
}

RunBuffers run_buffers(const Session& s, const py::list& inputs, const py::list& outputs,
                       size_t batch) {
  const Program& p = s.program();
  if (inputs.size() != p.inputs().size() || outputs.size() != p.outputs().size()) {
    throw py::value_error("wrong number of inputs or outputs");
  }
  if (batch == 0 || batch > s.max_batch()) throw py::value_error("batch out of range");
  RunBuffers b;
  for (size_t i = 0; i < inputs.size(); ++i) {
    b.in[i] = run_array(inputs, i, p.tensors()[p.inputs()[i]], batch, "input");
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    b.out[i] = run_array(outputs, i, p.tensors()[p.outputs()[i]], batch, "output");
    const auto a = py::reinterpret_borrow<py::array>(PyList_GET_ITEM(outputs.ptr(), i));
    if (!a.writeable()) throw py::value_error("output " + std::to_string(i) + " is read-only");
  }
  return b;
}

}  // namespace

void bind_runtime(py::module_& m) {
  bind_step_params(m);
  py::class_<Program, std::shared_ptr<Program>>(m, "Program", "A compiled graph (native).")
      .def(py::init<>())
      .def("add_tensor", py::overload_cast<size_t, bool, int>(&Program::add_tensor),
           py::arg("sample_elems"), py::arg("external"), py::arg("alias_of"))
      .def(
          "add_input_tensor",
          [](Program& p, size_t sample_elems, const std::string& dtype, float scale, int32_t zero_point) {
            TensorInfo t;
            t.sample_elems = sample_elems;
            t.external = true;
            if (!input_dtype_from_name(dtype, &t.dtype)) {
              throw py::value_error("dtype must be 'float32', 'uint8' or 'int8', got '" + dtype + "'");
            }
            if (t.dtype != DType::kF32) {
              t.scale = scale;
              t.zero_point = zero_point;
            }
            return p.add_tensor(t);
          },
          py::arg("sample_elems"), py::arg("dtype"), py::arg("scale") = 1.f, py::arg("zero_point") = 0,
          "An external tensor for a program input of dtype 'float32', 'uint8' or 'int8' (these "
          "two with real = scale * (q - zero_point); checked by set_io).")
      .def(
          "add_step",
          [](Program& p, const std::string& kind, const std::string& name, std::vector<int> in, int out,
             std::shared_ptr<StepParams> params, float lo, float hi) {
            Step s;
            s.kind = parse_kind(kind);
            s.name = name;
            s.in = std::move(in);
            s.out = out;
            s.lo = lo;
            s.hi = hi;
            // A step keeps state derived from its parameters (an int8 output stage), so one
            // parameters object serves one step. Held here: by the Python object, pybind's
            // argument caster and this argument; a step holding it too makes 4.
            if (params && params.use_count() > 3) {
              throw py::value_error("these parameters already belong to a step; make a new object per step");
            }
            s.params = std::move(params);
            p.add_step(std::move(s));
          },
          py::arg("kind"), py::arg("name"), py::arg("inputs"), py::arg("output"),
          py::arg("params") = nullptr, py::kw_only(),
          py::arg("lo") = -std::numeric_limits<float>::infinity(),
          py::arg("hi") = std::numeric_limits<float>::infinity(),
          "Appends a step: its kind's parameters (a *Params object, None for kinds without) "
          "and the clamp of its output. Checked when set_io finishes the program.")
      .def("set_io", &Program::set_io, py::arg("inputs"), py::arg("outputs"))
      .def_property_readonly("weight_bytes", &Program::weight_bytes)
      .def("tensor_info", [](const Program& p, size_t t) {
        const TensorInfo& i = p.tensors().at(t);
        return py::make_tuple(i.sample_elems, dtype_name(i.dtype),
                              i.scale, i.zero_point);
      }, "(elements per sample, dtype, scale, zero point) of tensor t")
      .def_property_readonly("num_steps", [](const Program& p) { return p.steps().size(); })
      .def("step_info", [](const Program& p, size_t i) {
        const Step& s = p.steps().at(i);
        const StepKindImpl& impl = step_impl(s.kind);
        const std::string precision = impl.precision(s);
        const std::string kind = impl.label(s);
        return py::make_tuple(s.name, kind, precision, s.in, s.out);
      });

  py::class_<Session, std::shared_ptr<Session>>(
      m, "Session",
      "Runs a Program on `concurrency` planned arenas; run() is safe from any number of threads "
      "(native).")
      .def(py::init([](std::shared_ptr<const Program> p, size_t max_batch, size_t threads,
                       std::shared_ptr<Pool> pool, size_t concurrency, size_t budget,
                       const std::string& tiles) {
             return std::make_shared<Session>(std::move(p), max_batch, threads, std::move(pool),
                                              concurrency, budget, parse_tiles(tiles));
           }),
           py::arg("program"), py::arg("max_batch"), py::arg("threads"), py::arg("pool"),
           py::arg("concurrency") = 1, py::arg("budget") = 0, py::arg("tiles") = "auto")
      .def(
          "run",
          [](Session& s, const py::list& inputs, const py::list& outputs, size_t batch,
             bool check_finite) {
            RunBuffers b = run_buffers(s, inputs, outputs, batch);
            py::gil_scoped_release nogil;
            s.run(b.in.data(), b.out.data(), batch, nullptr, check_finite);
          },
          py::arg("inputs"), py::arg("outputs"), py::arg("batch"), py::arg("check_finite") = false,
          "Runs one batch into the caller's output arrays; allocates nothing. Waits (without "
          "the GIL) while every arena is in use.")
      .def(
          "profile_run",
          [](Session& s, const py::list& inputs, const py::list& outputs, size_t batch,
             bool check_finite) {
            RunBuffers b = run_buffers(s, inputs, outputs, batch);
            std::vector<double> seconds(s.program().steps().size());
            {
              py::gil_scoped_release nogil;
              s.run(b.in.data(), b.out.data(), batch, seconds.data(), check_finite);
            }
            return seconds;
          },
          py::arg("inputs"), py::arg("outputs"), py::arg("batch"), py::arg("check_finite") = false,
          "run(), returning each step's wall time in seconds.")
      .def_property_readonly("max_batch", &Session::max_batch)
      .def_property_readonly("threads", &Session::threads)
      .def_property_readonly(
          "tiles",
          [](const Session& s) {
            std::vector<std::string> names;
            for (Tiles t : s.tiles()) names.emplace_back(t == Tiles::kCompact ? "compact" : "fast");
            return names;
          },
          "Per step: the tiles its scratch is planned for, 'fast' or 'compact'.")
      .def_property_readonly("concurrency", &Session::concurrency)
      .def_property_readonly("arena_bytes", &Session::arena_bytes, "Bytes of one arena.")
      .def_property_readonly("runs", &Session::runs)
      .def_property_readonly("plan", [](const Session& s) {
        py::dict d = plan_dict(s.plan());
        d["tensor_entry"] = s.tensor_entry();
        d["scratch_entry"] = s.scratch_entry();
        d["first"] = s.entry_first();  // each entry's lifetime in steps, inclusive
        d["last"] = s.entry_last();
        return d;
      });
  m.def(
      "step_kinds",
      [] {
        std::vector<std::string> names;
        for (int k = 0; k < kNumStepKinds; ++k) names.push_back(step_kind_name(static_cast<StepKind>(k)));
        return names;
      },
      "The names of the runtime's step kinds (runtime/step_kinds.inc).");
  m.def(
      "session_arena_bytes",
      [](const Program& p, size_t max_batch, size_t threads, size_t concurrency, size_t budget,
         const std::string& tiles) {
        if (!p.frozen()) throw py::value_error("the program is not finished (set_io)");
        threads = std::max<size_t>(1, threads);
        return session_arena_bytes(p, max_batch, threads, concurrency,
                                   plan_tiles(p, max_batch, threads, concurrency, budget, parse_tiles(tiles)));
      },
      py::arg("program"), py::arg("max_batch"), py::arg("threads"), py::arg("concurrency"),
      py::arg("budget"), py::arg("tiles"),
      "Bytes of the `concurrency` arenas a session with these settings plans (0: overflow).");
  m.def(
      "largest_max_batch",
      [](const Program& p, size_t threads, size_t concurrency, size_t budget, size_t limit,
         const std::string& tiles) {
        if (!p.frozen()) throw py::value_error("the program is not finished (set_io)");
        return largest_max_batch(p, std::max<size_t>(1, threads), concurrency, budget, limit,
                                 parse_tiles(tiles));
      },
      py::arg("program"), py::arg("threads"), py::arg("concurrency"), py::arg("budget"),
      py::arg("limit"), py::arg("tiles") = "auto",
      "The largest max_batch <= limit whose arenas fit in budget bytes (0: none fits).");
}

}  // namespace fnn
