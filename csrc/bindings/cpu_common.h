// Helpers shared by the op bindings: activation and reduction names, typed pointers.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/checks.h"
#include "cpu/kernels.h"

namespace dg {
namespace bind {

// The names of the ops contract, in the order of the Act enum (cpu/kernels.h).
inline Act act_from_name(const std::string& s) {
  static const char* names[] = {"identity", "relu",      "leaky_relu", "sigmoid", "tanh",
                                "gelu",     "gelu_tanh", "softplus",   "silu"};
  static_assert(sizeof(names) / sizeof(names[0]) == static_cast<size_t>(Act::silu) + 1,
                "one name per Act, in the enum's order");
  std::string known;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
    if (s == names[i]) return static_cast<Act>(i);
    known += std::string(i ? ", '" : "'") + names[i] + "'";
  }
  throw py::value_error("act: expected one of " + known + ", got '" + s + "'");
}

enum class Reduction { mean, sum, none };

inline Reduction reduction_from_name(const std::string& s) {
  if (s == "mean") return Reduction::mean;
  if (s == "sum") return Reduction::sum;
  if (s == "none") return Reduction::none;
  throw py::value_error("reduction: expected 'mean', 'sum' or 'none', got '" + s + "'");
}

template <class T>
inline const T* cptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <class T>
inline T* mptr(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}

// A 0-d array of dtype dt holding v.
inline py::array scalar_array(DType dt, double v) {
  py::array a = new_array(dt, {});
  if (dt == DType::f32)
    *static_cast<float*>(a.mutable_data()) = static_cast<float>(v);
  else
    *static_cast<double*>(a.mutable_data()) = v;
  return a;
}

}  // namespace bind
}  // namespace dg
