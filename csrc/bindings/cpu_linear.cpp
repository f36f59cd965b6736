// Bindings of the fused linear layer: linear_forward (bias + activation in the GEMM epilogue)
// and linear_backward (dz pass with db fused, then dw and dx by GEMM).
#include "bindings/cpu_common.h"
#include "bindings/fastcall.h"

namespace dg {
namespace bind {
namespace {

py::array require_same_dtype(py::handle h, DType dt, const char* name) {
  py::array a = require_input(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name(dt) +
                         " (the dtype of x), got " + dtype_str(a));
  return a;
}

// x (batch, in_features) and w (out_features, in_features), validated together.
struct LinearOperands {
  py::array x, w;
  DType dt;
  int64_t m, k, n;  // batch, in_features, out_features
};

LinearOperands linear_operands(py::handle x_obj, py::handle w_obj) {
  LinearOperands o;
  o.x = require_input(x_obj, "x");
  require_ndim(o.x, 2, "x");
  o.dt = dtype_of(o.x, "x");
  o.w = require_same_dtype(w_obj, o.dt, "w");
  require_ndim(o.w, 2, "w");
  o.m = o.x.shape(0);
  o.k = o.x.shape(1);
  o.n = o.w.shape(0);
  if (o.w.shape(1) != o.k)
    throw py::value_error("w: expected shape (out_features, " + std::to_string(o.k) +
                          ") to match x of shape " + shape_str(o.x) + ", got " + shape_str(o.w));
  return o;
}

py::tuple linear_fwd(py::handle x_obj, py::handle w_obj, py::handle b_obj,
                     const std::string& act_name, double param) {
  const Act act = act_from_name(act_name, param);
  const LinearOperands ops = linear_operands(x_obj, w_obj);
  const py::array& x = ops.x;
  const py::array& w = ops.w;
  const DType dt = ops.dt;
  const int64_t m = ops.m, k = ops.k, n = ops.n;
  py::array b;
  const bool has_bias = !b_obj.is_none();
  if (has_bias) {
    b = require_same_dtype(b_obj, dt, "b");
    require_shape(b, {n}, "b");
  }
  py::array y = new_array(dt, {m, n});
  const bool save_z = act_saves_input(act);
  py::array z = save_z ? new_array(dt, {m, n}) : py::array();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    const T* wp = cptr<T>(w);
    const T* bp = has_bias ? cptr<T>(b) : nullptr;
    T* yp = mptr<T>(y);
    T* zp = save_z ? mptr<T>(z) : nullptr;
    run_kernel(m * n * k >= kGilFreeMinMacs,
               [&] { linear_forward(xp, wp, bp, yp, zp, m, k, n, act, static_cast<T>(param)); });
  });
  return py::make_tuple(y, save_z ? py::object(z) : py::object(py::none()));
}

// A buffer dw or db is accumulated into (a kept .grad): writable, C-contiguous, the right dtype
// and shape, sharing no memory with an input.
py::array require_accumulator(py::handle h, DType dt, const std::vector<int64_t>& shape,
                              const char* name, std::initializer_list<const py::array*> inputs) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(name) + ": expected a numpy array to accumulate into, got " +
                         std::string(py::str(py::type::of(h).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(h);
  require_out(a, dt, shape, name);
  if (!is_c_contiguous(a))
    throw py::value_error(std::string(name) +
                          ": expected a C-contiguous array to accumulate into, got strides " +
                          strides_str(a));
  for (const py::array* in : inputs)
    if (in->size() > 0 && may_overlap(a, *in))
      throw py::value_error(std::string(name) + ": must not share memory with an input");
  return a;
}

py::tuple linear_bwd(py::handle dy_obj, py::handle x_obj, py::handle w_obj, py::handle s_obj,
                     const std::string& act_name, double param, bool need_dx, bool has_bias,
                     py::handle dw_obj, py::handle db_obj) {
  const Act act = act_from_name(act_name, param);
  const LinearOperands ops = linear_operands(x_obj, w_obj);
  const py::array& x = ops.x;
  const py::array& w = ops.w;
  const DType dt = ops.dt;
  const int64_t m = ops.m, k = ops.k, n = ops.n;
  py::array dy = require_same_dtype(dy_obj, dt, "dy");
  require_shape(dy, {m, n}, "dy");
  py::array saved;
  const bool needs_saved = act != Act::identity;
  if (needs_saved) {
    if (s_obj.is_none())
      throw py::value_error(std::string("saved: activation '") + act_name + "' needs " +
                            (act_saves_input(act) ? "z (the pre-activation)" : "y (the output)") +
                            ", got None");
    saved = require_same_dtype(s_obj, dt, "saved");
    require_shape(saved, {m, n}, "saved");
  }
  // dw and db given: accumulated into (both, or dw alone without a bias), else new arrays.
  const bool accumulate = !dw_obj.is_none();
  if (!accumulate && !db_obj.is_none())
    throw py::value_error("db: accumulating into db needs dw too (pass both, or neither)");
  if (accumulate && has_bias && db_obj.is_none())
    throw py::value_error("db: accumulating into dw with has_bias=True needs db too");
  if (accumulate && !has_bias && !db_obj.is_none())
    throw py::value_error("db: given with has_bias=False");
  py::array dz = needs_saved ? new_array(dt, {m, n}) : py::array();
  py::array dw = accumulate ? require_accumulator(dw_obj, dt, {n, k}, "dw", {&x, &w, &dy, &saved})
                            : new_array(dt, {n, k});
  py::array dx = need_dx ? new_array(dt, {m, k}) : py::array();
  py::array db = !has_bias ? py::array()
                 : accumulate
                     ? require_accumulator(db_obj, dt, {n}, "db", {&x, &w, &dy, &saved, &dw})
                     : new_array(dt, {n});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const T* xp = cptr<T>(x);
    const T* wp = cptr<T>(w);
    const T* sp = needs_saved ? cptr<T>(saved) : nullptr;
    T* dzp = needs_saved ? mptr<T>(dz) : nullptr;
    T* dxp = need_dx ? mptr<T>(dx) : nullptr;
    T* dwp = mptr<T>(dw);
    T* dbp = has_bias ? mptr<T>(db) : nullptr;
    run_kernel(m * n * k >= kGilFreeMinMacs, [&] {
      if (accumulate)
        linear_backward_accumulate(dyp, xp, wp, sp, dzp, dxp, dwp, dbp, m, k, n, act,
                                   static_cast<T>(param));
      else
        linear_backward(dyp, xp, wp, sp, dzp, dxp, dwp, dbp, m, k, n, act, static_cast<T>(param));
    });
  });
  return py::make_tuple(need_dx ? py::object(dx) : py::object(py::none()), dw,
                        has_bias ? py::object(db) : py::object(py::none()));
}

// The fast entries (bindings/fastcall.h) of dg.ops.linear_forward and linear_backward:
// _cpu._fast_linear_forward(x, w, b, act, param),
// _cpu._fast_linear_backward(dy, x, w, saved, act, param, need_dx, has_bias, dw, db).
PyObject* fast_linear_forward(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!fast_arity("_fast_linear_forward", nargs, 5)) return nullptr;
  std::string act;
  double param;
  if (host_override_flag() || !plain_dense(args[0]) || !plain_dense(args[1]) ||
      !plain_dense_or_none(args[2]) || !plain_act_param(args[3], args[4], &act, &param))
    return not_implemented();
  return fast_call("linear_forward",
                   [&] { return py::object(linear_fwd(args[0], args[1], args[2], act, param)); });
}

PyObject* fast_linear_backward(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!fast_arity("_fast_linear_backward", nargs, 10)) return nullptr;
  std::string act;
  double param;
  bool need_dx, has_bias;
  if (host_override_flag() || !plain_dense(args[0]) || !plain_dense(args[1]) ||
      !plain_dense(args[2]) || !plain_dense_or_none(args[3]) ||
      !plain_act_param(args[4], args[5], &act, &param) || !plain_bool(args[6], &need_dx) ||
      !plain_bool(args[7], &has_bias) || !plain_out(args[8]) || !plain_out(args[9]))
    return not_implemented();
  return fast_call("linear_backward", [&] {
    return py::object(linear_bwd(args[0], args[1], args[2], args[3], act, param, need_dx, has_bias,
                                 args[8], args[9]));
  });
}

}  // namespace

void bind_linear(py::module_& m) {
  static PyMethodDef fast_defs[] = {
      {"_fast_linear_forward",
       reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_linear_forward)),
       METH_FASTCALL,
       "_fast_linear_forward(x, w, b, act, param, /)\n--\n\ndg.ops.linear_forward's common "
       "case, or NotImplemented."},
      {"_fast_linear_backward",
       reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_linear_backward)),
       METH_FASTCALL,
       "_fast_linear_backward(dy, x, w, saved, act, param, need_dx, has_bias, dw, db, /)\n--\n"
       "\ndg.ops.linear_backward's common case, or NotImplemented."}};
  for (PyMethodDef& def : fast_defs) add_fast_entry(m, &def);
  m.def("linear_forward", named("linear_forward", &linear_fwd), py::arg("x"), py::arg("w"),
        py::arg("b") = py::none(), py::arg("act") = "identity", py::arg("param") = 0.0,
        "(y, z): y = act(x @ w.T + b) fused in the GEMM epilogue; z only when the backward "
        "needs it, else None.");
  m.def("linear_backward", named("linear_backward", &linear_bwd), py::arg("dy"), py::arg("x"),
        py::arg("w"), py::arg("saved"), py::arg("act"), py::arg("param") = 0.0,
        py::arg("need_dx") = true, py::arg("has_bias") = true, py::arg("dw") = py::none(),
        py::arg("db") = py::none(),
        "(dx or None, dw, db or None); dw and db given: accumulated into (dw += dz.T @ x, "
        "db += column sums) and returned.");
}

}  // namespace bind
}  // namespace dg
