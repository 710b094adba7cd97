#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "kernels/reduce/rsum_config.h"

namespace py = pybind11;

namespace fnn {
namespace {

py::object reduce_sum(const py::array& x) {
  if (!(x.flags() & py::array::c_style)) {
    throw py::value_error("reduce_sum: x must be C-contiguous");
  }
  const size_t n = static_cast<size_t>(x.size());
  const RsumConfig& cfg = rsum_config();
  if (x.dtype().equal(py::dtype::of<uint8_t>())) {
    const auto* p = static_cast<const uint8_t*>(x.data());
    uint64_t s;
    {
      py::gil_scoped_release nogil;
      s = cfg.u8(p, n);
    }
    return py::int_(s);
  }
  if (x.dtype().equal(py::dtype::of<float>())) {
    const auto* p = static_cast<const float*>(x.data());
    float s;
    {
      py::gil_scoped_release nogil;
      s = cfg.f32(p, n);
    }
    return py::float_(s);
  }
  throw py::type_error("reduce_sum: x must be uint8 or float32, got " +
                       py::str(x.dtype()).cast<std::string>());
}

}  // namespace

void bind_ops(py::module_& m) {
  m.def("reduce_sum", &reduce_sum, py::arg("x"),
        "Sum of all elements: exact for uint8, f32 accumulation for float32.");
}

}  // namespace fnn
