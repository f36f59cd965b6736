// Helpers shared by the op bindings: typed pointers, 0-d results; the activation, loss and
// reduction names come from bindings/op_names_py.h (act_from_name, reduction_from_name).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/checks.h"
#include "bindings/op_names_py.h"
#include "cpu/ops.h"

namespace dg {
namespace bind {

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
