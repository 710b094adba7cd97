// .fnn bindings: save / load with the GIL released, FormatError (a ValueError) and OSError
// translation, and the metadata as plain Python values.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cerrno>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bindings/bindings.h"
#include "io/fnn.h"
#include "io/fnn_hash.h"
#include "io/mapped_file.h"

namespace py = pybind11;

namespace fnn {
namespace {

// (name, per-sample dims, dtype: "float32" | "uint8" | "int8")
using Spec = std::tuple<std::string, std::vector<uint64_t>, std::string>;

std::vector<FnnIoSpec> specs_in(const std::vector<Spec>& specs) {
  std::vector<FnnIoSpec> out;
  for (const auto& [name, dims, dtype] : specs) {
    FnnIoSpec s{name, dims, DType::kF32};
    if (!input_dtype_from_name(dtype, &s.dtype)) {
      throw py::value_error("spec '" + name + "': dtype must be 'float32', 'uint8' or 'int8'");
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Per program input: (dtype, scale, zero point) of its tensor.
py::list input_dtypes(const Program& p) {
  py::list out;
  for (int t : p.inputs()) {
    const TensorInfo& i = p.tensors()[t];
    const char* name = i.dtype == DType::kU8 ? "uint8" : i.dtype == DType::kS8 ? "int8" : "float32";
    out.append(py::make_tuple(name, i.scale, i.zero_point));
  }
  return out;
}

py::list specs_out(const std::vector<FnnIoSpec>& specs) {
  py::list out;
  for (const FnnIoSpec& s : specs) out.append(py::make_tuple(s.name, s.dims));
  return out;
}

py::dict info_dict(const FnnFileInfo& info) {
  py::dict d;
  d["producer"] = info.meta.producer;
  d["version"] = py::make_tuple(info.version_major, info.version_minor);
  d["file_size"] = info.file_size;
  d["header_bytes"] = info.header_bytes;
  d["mapped"] = info.mapped;
  d["inputs"] = specs_out(info.meta.inputs);
  d["outputs"] = specs_out(info.meta.outputs);
  py::dict quant;
  for (const FnnQuant& q : info.meta.quant) quant[py::str(q.name)] = py::make_tuple(q.scale, q.zero_point);
  d["quantization"] = quant;
  d["precisions"] = info.precisions;
  py::list blobs;
  for (const FnnBlobInfo& b : info.blobs) {
    py::dict e;
    e["offset"] = b.offset;
    e["size"] = b.size;
    e["kind"] = b.kind == fnn_format::kBlobPackedWeights   ? "packed_weights"
                : b.kind == fnn_format::kBlobCodebookWeights ? "codebook_weights"
                                                             : "sparse_matrix";
    e["use"] = b.use;
    blobs.append(e);
  }
  d["blobs"] = blobs;
  const FnnPlanInfo& p = info.plan;
  py::dict plan;
  plan["max_batch"] = p.max_batch;
  plan["threads"] = p.threads;
  plan["arena_bytes"] = p.arena_bytes;
  plan["lower_bound"] = p.lower_bound;
  plan["naive_bytes"] = p.naive_bytes;
  plan["strategy"] = p.strategy;
  plan["tensor_offsets"] = p.tensor_offset;
  plan["tensor_bytes"] = p.tensor_bytes;
  plan["scratch_offsets"] = p.scratch_offset;
  plan["scratch_bytes"] = p.scratch_bytes;
  d["plan"] = plan;
  return d;
}

}  // namespace

void bind_io(py::module_& m) {
  py::register_exception<FormatError>(m, "FormatError", PyExc_ValueError).doc() =
      "A file is not a valid .fnn file (truncated, corrupted, another format version): the "
      "message says what is wrong and where. A ValueError.";
  // OSError with errno and the path: Python picks the subclass (FileNotFoundError, ...).
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const FileError& e) {
      errno = e.error();
      PyErr_SetFromErrnoWithFilename(PyExc_OSError, e.path().c_str());
    }
  });

  m.attr("FNN_FORMAT_VERSION") =
      py::make_tuple(fnn_format::kVersionMajor, fnn_format::kVersionMinor);
  m.def(
      "fnn_save",
      [](std::shared_ptr<const Program> program, const std::string& path,
         const std::vector<Spec>& inputs, const std::vector<Spec>& outputs,
         const std::vector<std::tuple<std::string, float, int32_t>>& quantization,
         const std::string& producer, size_t plan_batch) {
        FnnMeta meta;
        meta.producer = producer;
        meta.inputs = specs_in(inputs);
        meta.outputs = specs_in(outputs);
        for (const auto& [name, scale, zp] : quantization) meta.quant.push_back({name, scale, zp});
        py::gil_scoped_release nogil;
        write_fnn(*program, meta, plan_batch, path);
      },
      py::arg("program"), py::arg("path"), py::arg("inputs"), py::arg("outputs"),
      py::arg("quantization"), py::arg("producer"), py::arg("plan_batch"),
      "Write a compiled program as a .fnn file (atomically: a temporary, then a rename).");

  m.def(
      "fnn_load",
      [](const std::string& path, bool map, std::shared_ptr<Pool> pool) {
        FnnFileInfo info;
        std::shared_ptr<Program> program;
        {
          py::gil_scoped_release nogil;
          program = read_fnn(path, map, std::move(pool), &info);
        }
        py::dict d = info_dict(info);
        d["input_dtypes"] = input_dtypes(*program);
        return py::make_tuple(program, d);
      },
      py::arg("path"), py::arg("map"), py::arg("pool"),
      "(program, metadata dict) of a .fnn file: mapped (map=True) or read into the pool.");

  m.def(
      "fnn_reseal",
      [](const py::bytes& data) {
        const std::string s = data;
        std::vector<uint8_t> out;
        {
          py::gil_scoped_release nogil;
          out = reseal_fnn(reinterpret_cast<const uint8_t*>(s.data()), s.size());
        }
        return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
      },
      py::arg("data"),
      "For fuzz tests: the bytes with every checksum recomputed, so mutations reach the checks behind them.");

  m.def(
      "xxh64",
      [](const py::bytes& data, uint64_t seed) {
        const std::string s = data;
        return xxh64(s.data(), s.size(), seed);
      },
      py::arg("data"), py::arg("seed") = 0, "XXH64 of bytes: the .fnn checksum.");
}

}  // namespace fnn
