#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "memory/planner.h"
#include "runtime/tensor_info.h"

namespace fnn {

void bind_cpu(pybind11::module_& m);
void bind_memory(pybind11::module_& m);
void bind_ops(pybind11::module_& m);
void bind_gemm(pybind11::module_& m);
void bind_sparse(pybind11::module_& m);
void bind_runtime(pybind11::module_& m);
// The step kinds' parameter classes (bind_runtime calls it first).
void bind_step_params(pybind11::module_& m);
void bind_io(pybind11::module_& m);
// Training kernels: sgemm, conv / pool backward, element-wise backward, optimizer updates.
void bind_train(pybind11::module_& m);
// Test hooks: run one named micro-kernel (tests/kernels/test_ukernels.py).
void bind_ukernels(pybind11::module_& m);

// A MemoryPlan as the dict frugalnn.memory reads (offsets and sizes as numpy arrays).
pybind11::dict plan_dict(const MemoryPlan& plan);

// A graph input's dtype from its Python name ("float32", "uint8", "int8"); false for others
// (each caller words its own error).
inline bool input_dtype_from_name(const std::string& name, DType* dtype) {
  if (name == "float32") *dtype = DType::kF32;
  else if (name == "uint8") *dtype = DType::kU8;
  else if (name == "int8") *dtype = DType::kS8;
  else return false;
  return true;
}

}  // namespace fnn
