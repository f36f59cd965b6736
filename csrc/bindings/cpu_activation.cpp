// Bindings of the activation ops: activation, activation_backward, and math_fn (the vector
// math functions, exposed for testing them over the whole float range).
#include "bindings/cpu_common.h"
#include "bindings/fastcall.h"

namespace dg {
namespace bind {
namespace {

py::array activation(py::handle x_obj, const std::string& act_name, double param,
                     py::handle out_obj) {
  const Act act = act_from_name(act_name, param);
  py::array x = require_input(x_obj, "x");
  const DType dt = dtype_of(x, "x");
  py::array out = elementwise_out(out_obj, dt, shape_of(x), {&x});
  const int64_t n = x.size();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(out);
    run_kernel(n >= kGilFreeMinElements,
               [&] { activation_forward(act, xp, yp, n, static_cast<T>(param)); });
  });
  return out;
}

py::array activation_bwd(py::handle dy_obj, py::handle saved_obj, const std::string& act_name,
                         double param, py::handle out_obj) {
  const Act act = act_from_name(act_name, param);
  py::array dy = require_input(dy_obj, "dy");
  py::array saved = require_like(saved_obj, dy, "saved", "dy");
  const DType dt = dtype_of(dy, "dy");
  py::array out = elementwise_out(out_obj, dt, shape_of(dy), {&dy, &saved});
  const int64_t n = dy.size();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const T* sp = cptr<T>(saved);
    T* dxp = mptr<T>(out);
    run_kernel(n >= kGilFreeMinElements,
               [&] { activation_backward(act, dyp, sp, dxp, n, static_cast<T>(param)); });
  });
  return out;
}

// The fast entries (bindings/fastcall.h) of dg.ops.activation and activation_backward:
// _cpu._fast_activation(x, act, param, out), _fast_activation_backward(dy, saved, act, param, out).
PyObject* fast_activation(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!fast_arity("_fast_activation", nargs, 4)) return nullptr;
  std::string act;
  double param;
  if (host_override_flag() || !plain_dense(args[0]) ||
      !plain_act_param(args[1], args[2], &act, &param) || !plain_out(args[3]))
    return not_implemented();
  return fast_call("activation",
                   [&] { return py::object(activation(args[0], act, param, args[3])); });
}

PyObject* fast_activation_backward(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!fast_arity("_fast_activation_backward", nargs, 5)) return nullptr;
  std::string act;
  double param;
  if (host_override_flag() || !plain_dense(args[0]) || !plain_dense(args[1]) ||
      !plain_act_param(args[2], args[3], &act, &param) || !plain_out(args[4]))
    return not_implemented();
  return fast_call("activation_backward", [&] {
    return py::object(activation_bwd(args[0], args[1], act, param, args[4]));
  });
}

py::array math(py::handle x_obj, const std::string& name) {
#define DG_MATH_FN_NAME(name) #name,
  static const char* const names[] = {DG_MATH_FNS(DG_MATH_FN_NAME)};
#undef DG_MATH_FN_NAME
  const MathFn fn = enum_from_name<MathFn>(names, name, "fn");
  py::array x = require_input(x_obj, "x");
  const DType dt = dtype_of(x, "x");
  py::array out = new_array(dt, shape_of(x));
  const int64_t n = x.size();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(out);
    py::gil_scoped_release nogil;
    math_fn(fn, xp, yp, n);
  });
  return out;
}

}  // namespace

void bind_activation(py::module_& m) {
  static PyMethodDef fast_defs[] = {
      {"_fast_activation",
       reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_activation)), METH_FASTCALL,
       "_fast_activation(x, act, param, out, /)\n--\n\ndg.ops.activation's common case, or "
       "NotImplemented."},
      {"_fast_activation_backward",
       reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_activation_backward)),
       METH_FASTCALL,
       "_fast_activation_backward(dy, saved, act, param, out, /)\n--\n\ndg.ops."
       "activation_backward's common case, or NotImplemented."}};
  for (PyMethodDef& def : fast_defs) add_fast_entry(m, &def);
  m.def("activation", named("activation", &activation), py::arg("x"), py::arg("act"), py::kw_only(),
        py::arg("param") = 0.0, py::arg("out") = py::none(),
        "y = act(x) elementwise; param is leaky_relu's negative slope, elu's and celu's alpha.");
  m.def("activation_backward", named("activation_backward", &activation_bwd), py::arg("dy"),
        py::arg("saved"), py::arg("act"), py::kw_only(), py::arg("param") = 0.0,
        py::arg("out") = py::none(),
        "dx = dy * act'(x); saved is y for identity/relu/sigmoid/tanh, x for the others.");
  m.def("math_fn", named("math_fn", &math), py::arg("x"), py::arg("fn"),
        "The kernels' vector math function `fn` applied elementwise (for testing).");
}

}  // namespace bind
}  // namespace dg
