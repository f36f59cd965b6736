// Helpers shared by the op bindings: typed pointers, 0-d results; the activation, loss and
// reduction names come from bindings/op_names_py.h (act_from_name, reduction_from_name).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <atomic>
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

// A test-only hold point between a binding's checks and its kernel (tests/test_label_race.py),
// off unless a test arms it with _cpu._test_hold_arm(): the next op that reaches it (GIL
// released) waits there until _cpu._test_hold_release() (or 10 s), so a test can change an
// argument deterministically between the check and the kernel. Off, it costs one relaxed load.
// State: 0 off, 1 armed, 2 an op is waiting, 3 released.
inline std::atomic<int>& test_hold_state() {
  static std::atomic<int> state{0};
  return state;
}
void test_hold_wait();  // cpu_module.cpp
inline void test_hold_point() {
  if (test_hold_state().load(std::memory_order_relaxed) != 0) test_hold_wait();
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
