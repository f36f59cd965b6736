// Fast entry points of the hot ops: METH_FASTCALL functions (no pybind11 dispatcher: no
// overload loop, no argument vector, no keyword matching) that take an op's common case -- plain
// numpy arrays and Python scalars, passed positionally by dg.ops -- straight to the same binding
// code the pybind11 function runs, and answer NotImplemented for anything else, so that dg.ops
// takes its general path (array-likes converted, views copied, each argument checked). Both paths
// end in one binding function, so they give the same results and raise the same errors.
//
//   _cpu._fast_matmul(a, b, trans_a, trans_b, alpha, beta, out)   (the list: add_fast_entries)
//
// Not the common case, hence NotImplemented: an input that is not exactly a numpy.ndarray (a
// subclass, a list, a device array), or not one dg.ops would pass unchanged (see plain_dense);
// an out that is neither None nor an ndarray; a scalar that is not a float / int (exactly: a
// bool is not a number); a flag that is not True / False; a name that is not a str; and every
// call on a thread with a host-backend override (dg.backends.use_host_backend).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <new>
#include <stdexcept>
#include <string>

#include "bindings/checks.h"

namespace dg {
namespace bind {

// This thread's "numpy arrays go to another backend" flag (use_host_backend sets it through
// _cpu._set_host_override): while set, every fast entry answers NotImplemented.
inline bool& host_override_flag() {
  static thread_local bool flag = false;
  return flag;
}

inline PyObject* not_implemented() {
  Py_INCREF(Py_NotImplemented);
  return Py_NotImplemented;
}

// Exactly a numpy.ndarray (no subclass: np.matrix and friends take the general path).
inline bool exact_ndarray(PyObject* h) {
  return Py_TYPE(h) == py::detail::npy_api::get().PyArray_Type_;
}

// An array dg.ops passes to a kernel unchanged (backends._args.dense): exactly an ndarray,
// C-contiguous, aligned, in native byte order.
inline bool plain_dense(PyObject* h) {
  if (!exact_ndarray(h)) return false;
  const auto* p = py::detail::array_proxy(h);
  constexpr int kWant = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | 0x0100;  // | ALIGNED
  return (p->flags & kWant) == kWant &&
         py::detail::array_descriptor_proxy(p->descr)->byteorder != kNonNativeByteOrder;
}

// None or exactly an ndarray (the binding checks the rest).
inline bool plain_out(PyObject* h) { return h == Py_None || exact_ndarray(h); }

// A float (or a subclass: numpy.float64) or an int that is not a bool, as backends._args.real
// takes it; false for anything else (real() then raises, or converts).
inline bool plain_real(PyObject* h, double* v) {
  if (PyFloat_Check(h)) {
    *v = PyFloat_AS_DOUBLE(h);
    return true;
  }
  if (PyLong_CheckExact(h)) {
    *v = PyLong_AsDouble(h);
    if (*v == -1.0 && PyErr_Occurred()) {  // too large for a double: the general path says so
      PyErr_Clear();
      return false;
    }
    return true;
  }
  return false;
}

// True or False (anything else: the general path applies bool()).
inline bool plain_bool(PyObject* h, bool* v) {
  *v = h == Py_True;
  return h == Py_True || h == Py_False;
}

// A str (its UTF-8 bytes in *s).
inline bool plain_str(PyObject* h, std::string* s) {
  if (!PyUnicode_Check(h)) return false;
  Py_ssize_t n = 0;
  const char* c = PyUnicode_AsUTF8AndSize(h, &n);
  if (c == nullptr) {  // lone surrogates: the general path reports it
    PyErr_Clear();
    return false;
  }
  s->assign(c, static_cast<size_t>(n));
  return true;
}

// None or an array dg.ops passes unchanged (an optional input: a bias, a saved tensor).
inline bool plain_dense_or_none(PyObject* h) { return h == Py_None || plain_dense(h); }

// The trailing (act, param) pair of the activation and linear entries: an activation name (a
// str) and its parameter (a real, leaky_relu's slope), parsed the same way by each of them.
inline bool plain_act_param(PyObject* act_obj, PyObject* param_obj, std::string* act,
                            double* param) {
  return plain_str(act_obj, act) && plain_real(param_obj, param);
}

// Runs the binding body f (returning a py::object, or nullptr for NotImplemented) and turns a
// C++ exception into the Python exception pybind11 would raise, with "op: " in front of a
// TypeError / ValueError's message as named() puts it.
template <class F>
PyObject* fast_call(const char* op, F&& f) noexcept {
  try {
    py::object r = f();
    return r ? r.release().ptr() : not_implemented();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const py::value_error& e) {
    PyErr_SetString(PyExc_ValueError, with_op(op, e.what()).c_str());
  } catch (const py::type_error& e) {
    PyErr_SetString(PyExc_TypeError, with_op(op, e.what()).c_str());
  } catch (const py::builtin_exception& e) {
    e.set_error();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::overflow_error& e) {
    PyErr_SetString(PyExc_OverflowError, e.what());
  } catch (const std::out_of_range& e) {
    PyErr_SetString(PyExc_IndexError, e.what());
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
  return nullptr;
}

// "op() takes exactly n positional arguments (k given)": dg.ops always passes all of them.
inline bool fast_arity(const char* op, Py_ssize_t nargs, Py_ssize_t n) {
  if (nargs == n) return true;
  PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd positional arguments (%zd given)", op, n,
               nargs);
  return false;
}

// Below these sizes a kernel runs with the GIL held (run_kernel): a product of fewer
// multiply-adds (under about 20 us on one AVX-512 core: 64^3 is 2^18), an elementwise pass over
// fewer elements (128 KiB of float32: a few microseconds for relu).
constexpr int64_t kGilFreeMinMacs = int64_t(1) << 20;
constexpr int64_t kGilFreeMinElements = int64_t(1) << 15;

// Runs the kernel call f() with the GIL released when `release` (the caller's "long enough":
// tens of microseconds and up), else holding it. Releasing costs two hand-offs of the GIL's
// mutex (about 0.1 us) and, when another Python thread takes the GIL meanwhile, a wait of up to
// the switch interval (5 ms by default) to get it back: for a kernel of a few microseconds that
// is all cost, and another thread kept waiting that long loses nothing it would notice.
template <class F>
void run_kernel(bool release, F&& f) {
  if (release) {
    py::gil_scoped_release nogil;
    f();
  } else {
    f();
  }
}

// Adds a METH_FASTCALL function to the module; def must outlive it (a static PyMethodDef).
inline void add_fast_entry(py::module_& m, PyMethodDef* def) {
  py::object f = py::reinterpret_steal<py::object>(PyCFunction_NewEx(def, nullptr, m.ptr()));
  if (!f) throw py::error_already_set();
  m.add_object(def->ml_name, f);
}

}  // namespace bind
}  // namespace dg
