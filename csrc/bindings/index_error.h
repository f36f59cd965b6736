// _cpu.IndexRangeError: the one exception for an index value out of range, an IndexError and a
// RuntimeError both (torch raises RuntimeError for gather, scatter, index_add and IndexError for
// index_select, take, embedding, ..., so code written against either catches it). The class is
// created once at module init (cpu_module.cpp); the bindings throw index_range_error, which
// pybind11's translator and fast_call (fastcall.h) turn into it through set_error.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace dg {
namespace bind {

// The class object (a reference the module holds for its life); null before module init.
inline PyObject*& index_range_error_type() {
  static PyObject* type = nullptr;
  return type;
}

// A py::index_error (anything that catches that catches it) raised as _cpu.IndexRangeError.
class index_range_error : public py::index_error {
 public:
  using py::index_error::index_error;
  void set_error() const override {
    PyObject* t = index_range_error_type();
    PyErr_SetString(t ? t : PyExc_IndexError, what());
  }
};

}  // namespace bind
}  // namespace dg
