// Sparse bindings: SparseMatrix construction and read-only views of its storage, SpMM calls
// with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>

#include "bindings/array_checks.h"
#include "bindings/bindings.h"
#include "kernels/sparse/spmm.h"

namespace py = pybind11;

namespace fnn {
namespace {

SpmmValueKind parse_values(const std::string& v) {
  if (v == "f32") return kSpmmF32;
  if (v == "f16") return kSpmmF16;
  if (v == "int8") return kSpmmS8;
  throw py::value_error("values must be one of 'f32', 'f16', 'int8', got '" + v + "'");
}

const char* values_name(SpmmValueKind v) {
  return v == kSpmmF32 ? "f32" : v == kSpmmF16 ? "f16" : "int8";
}

// A read-only array over the matrix's pool block that keeps the matrix alive.
py::array view(const py::object& owner, const py::dtype& dt, std::vector<py::ssize_t> shape,
               const void* data) {
  py::array a(dt, std::move(shape), {}, data, owner);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

const float* checked_bias(const std::optional<py::array>& bias, size_t rows) {
  if (!bias) return nullptr;
  const float* b = checked<float>(*bias, "bias", 1);
  if (static_cast<size_t>(bias->shape(0)) != rows) {
    throw py::value_error("bias has " + std::to_string(bias->shape(0)) +
                          " elements, expected one per row of W (" + std::to_string(rows) + ")");
  }
  return b;
}

}  // namespace

void bind_sparse(py::module_& m) {
  py::class_<SparseMatrix, std::shared_ptr<SparseMatrix>>(
      m, "SparseMatrix", "Sparse weights in the SpMM kernels' storage (native).")
      .def_property_readonly("rows", &SparseMatrix::rows)
      .def_property_readonly("cols", &SparseMatrix::cols)
      .def_property_readonly("bk", &SparseMatrix::bk)
      .def_property_readonly("nblocks", &SparseMatrix::nblocks)
      .def_property_readonly("nbytes", &SparseMatrix::nbytes)
      .def_property_readonly("values", [](const SparseMatrix& s) { return values_name(s.value_kind()); })
      .def_property_readonly("index_dtype", [](const SparseMatrix& s) {
        return s.index_kind() == kSpmmU16 ? "uint16" : "uint32";
      })
      .def_property_readonly("indptr", [](py::object self) {
        const auto& s = self.cast<const SparseMatrix&>();
        return view(self, py::dtype::of<uint32_t>(), {static_cast<py::ssize_t>(s.rows() + 1)}, s.row_ptr());
      })
      .def_property_readonly("indices", [](py::object self) {
        const auto& s = self.cast<const SparseMatrix&>();
        const py::dtype dt = s.index_kind() == kSpmmU16 ? py::dtype::of<uint16_t>() : py::dtype::of<uint32_t>();
        return view(self, dt, {static_cast<py::ssize_t>(s.nblocks())}, s.idx());
      })
      .def_property_readonly("data", [](py::object self) {
        const auto& s = self.cast<const SparseMatrix&>();
        const py::dtype dt = s.value_kind() == kSpmmF32   ? py::dtype::of<float>()
                             : s.value_kind() == kSpmmF16 ? py::dtype("float16")
                                                          : py::dtype::of<int8_t>();
        return view(self, dt, {static_cast<py::ssize_t>(s.nblocks()), static_cast<py::ssize_t>(s.bk())}, s.val());
      })
      .def_property_readonly("row_scales", [](py::object self) -> std::optional<py::array> {
        const auto& s = self.cast<const SparseMatrix&>();
        if (s.row_scale() == nullptr) return std::nullopt;
        return view(self, py::dtype::of<float>(), {static_cast<py::ssize_t>(s.rows())}, s.row_scale());
      })
      .def(
          "values_f32",
          [](const SparseMatrix& s) {
            auto v = s.values_f32();
            py::array_t<float> out({s.nblocks(), s.bk()});
            std::copy(v.begin(), v.end(), out.mutable_data());
            return out;
          },
          "The stored values as f32 (dequantized), one row of bk per block.");

  m.def(
      "sparse_matrix",
      [](size_t rows, size_t cols, size_t bk, const std::string& values, const py::array& indptr,
         const py::array& indices, const py::array& data, const std::shared_ptr<Pool>& pool) {
        const SpmmValueKind v = parse_values(values);
        const int64_t* ip = checked<int64_t>(indptr, "indptr", 1);
        const int64_t* ix = checked<int64_t>(indices, "indices", 1);
        const float* d = checked<float>(data, "data", 1);
        if (static_cast<size_t>(indptr.shape(0)) != rows + 1) {
          throw py::value_error("indptr has " + std::to_string(indptr.shape(0)) +
                                " elements, expected rows + 1 = " + std::to_string(rows + 1));
        }
        const auto nblocks = static_cast<size_t>(indices.shape(0));
        if (static_cast<size_t>(data.shape(0)) != nblocks * bk) {
          throw py::value_error("data has " + std::to_string(data.shape(0)) +
                                " values, expected " + std::to_string(nblocks * bk) +
                                " (block width " + std::to_string(bk) + " per stored index)");
        }
        py::gil_scoped_release nogil;
        return SparseMatrix::create(rows, cols, bk, v, ip, ix, nblocks, d, pool);
      },
      py::arg("rows"), py::arg("cols"), py::arg("bk"), py::arg("values"), py::arg("indptr"),
      py::arg("indices"), py::arg("data"), py::arg("pool"),
      "Validate CSR / BSR arrays and build a SparseMatrix (checked by frugalnn.sparse).");

  m.def(
      "spmm",
      [](const SparseMatrix& w, const py::array& x, py::array& out,
         const std::optional<py::array>& bias, float min, float max) {
        const float* xp = checked<float>(x, "x", 2);
        if (static_cast<size_t>(x.shape(0)) != w.cols()) {
          throw py::value_error("x has " + std::to_string(x.shape(0)) + " rows, W has " +
                                std::to_string(w.cols()) + " columns");
        }
        const auto n = static_cast<size_t>(x.shape(1));
        float* yp = checked_out<float>(out, "out", w.rows(), n);
        SpmmEpilogue ep{checked_bias(bias, w.rows()), min, max};
        py::gil_scoped_release nogil;
        spmm(w, xp, n, n, yp, n, ep);
      },
      py::arg("w"), py::arg("x"), py::arg("out"), py::arg("bias"), py::arg("min"), py::arg("max"));

  m.def(
      "spmm_linear",
      [](const SparseMatrix& w, const py::array& x, py::array& out,
         const std::optional<py::array>& bias, float min, float max) {
        const float* xp = checked<float>(x, "x", 2);
        if (static_cast<size_t>(x.shape(1)) != w.cols()) {
          throw py::value_error("x has " + std::to_string(x.shape(1)) + " columns, W has " +
                                std::to_string(w.cols()));
        }
        const auto b = static_cast<size_t>(x.shape(0));
        float* yp = checked_out<float>(out, "out", b, w.rows());
        SpmmEpilogue ep{checked_bias(bias, w.rows()), min, max};
        py::gil_scoped_release nogil;
        spmm_linear(w, xp, b, w.cols(), yp, w.rows(), ep);
      },
      py::arg("w"), py::arg("x"), py::arg("out"), py::arg("bias"), py::arg("min"), py::arg("max"));
}

}  // namespace fnn
