// Array checks shared by the bindings: the Python layer checks first and words the errors;
// these are the last line before a pointer reaches C++.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

namespace fnn {

template <typename T>
inline const T* checked(const pybind11::array& a, const char* name, pybind11::ssize_t ndim) {
  if (!a.dtype().equal(pybind11::dtype::of<T>())) {
    throw pybind11::type_error(std::string(name) + " has dtype " + pybind11::str(a.dtype()).cast<std::string>() +
                         ", expected " + pybind11::str(pybind11::dtype::of<T>()).cast<std::string>());
  }
  if (a.ndim() != ndim) {
    throw pybind11::value_error(std::string(name) + " must be " + std::to_string(ndim) + "-D");
  }
  if (!(a.flags() & pybind11::array::c_style)) {
    throw pybind11::value_error(std::string(name) + " must be C-contiguous");
  }
  return static_cast<const T*>(a.data());
}

template <typename T>
inline T* checked_out(pybind11::array& a, const char* name, size_t rows, size_t cols) {
  checked<T>(a, name, 2);
  if (!a.writeable()) throw pybind11::value_error(std::string(name) + " is read-only");
  if (static_cast<size_t>(a.shape(0)) != rows || static_cast<size_t>(a.shape(1)) != cols) {
    throw pybind11::value_error(std::string(name) + " has the wrong shape");
  }
  return static_cast<T*>(a.mutable_data());
}

}  // namespace fnn
