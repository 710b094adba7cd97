// frugalnn._core: argument checks and conversions only; the logic lives in csrc/.
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"
#include "memory/pool.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "frugalnn native core (C++): CPU dispatch, pool allocator, memory planner, kernels";
  m.attr("__version__") = FRUGALNN_VERSION;

  // A budget overrun is an out-of-memory condition for the caller: MemoryError, with our text.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fnn::PoolBudgetError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });

  fnn::bind_cpu(m);
  fnn::bind_memory(m);
  fnn::bind_ops(m);
  fnn::bind_gemm(m);
  fnn::bind_sparse(m);
  fnn::bind_runtime(m);
  fnn::bind_io(m);
  fnn::bind_train(m);
  fnn::bind_ukernels(m);
}
