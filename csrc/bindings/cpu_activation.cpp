// Bindings of the activation ops: activation, activation_backward, and math_fn (the vector
// math functions, exposed for testing them over the whole float range).
#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

py::array activation(py::handle x_obj, const std::string& act_name, double param,
                     py::handle out_obj) {
  const Act act = act_from_name(act_name);
  py::array x = require_input(x_obj, "x");
  const DType dt = dtype_of(x, "x");
  py::array out = elementwise_out(out_obj, dt, shape_of(x), {&x});
  const int64_t n = x.size();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(out);
    py::gil_scoped_release nogil;
    activation_forward(act, xp, yp, n, static_cast<T>(param));
  });
  return out;
}

py::array activation_bwd(py::handle dy_obj, py::handle saved_obj, const std::string& act_name,
                         double param, py::handle out_obj) {
  const Act act = act_from_name(act_name);
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
    py::gil_scoped_release nogil;
    activation_backward(act, dyp, sp, dxp, n, static_cast<T>(param));
  });
  return out;
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
  m.def("activation", named("activation", &activation), py::arg("x"), py::arg("act"), py::kw_only(),
        py::arg("param") = 0.0, py::arg("out") = py::none(),
        "y = act(x) elementwise; param is leaky_relu's negative slope.");
  m.def("activation_backward", named("activation_backward", &activation_bwd), py::arg("dy"),
        py::arg("saved"), py::arg("act"), py::kw_only(), py::arg("param") = 0.0,
        py::arg("out") = py::none(),
        "dx = dy * act'(x); saved is y for identity/relu/sigmoid/tanh, x for the others.");
  m.def("math_fn", named("math_fn", &math), py::arg("x"), py::arg("fn"),
        "The kernels' vector math function `fn` applied elementwise (for testing).");
}

}  // namespace bind
}  // namespace dg
