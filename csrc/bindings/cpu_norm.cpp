// Bindings of the fused normalization kernels (cpu/norm.h): batch norm over (N, C, *), layer
// norm over the last dimensions and group norm over (N, C, *) in groups, forward and backward.
// dg.ops.batch_norm_* / layer_norm_* / group_norm_* and the layers of deltagrad.nn.normalization
// are built on them.
#include <cmath>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

// An optional per-channel (or per-feature) array: None, or dtype dt, the given shape,
// C-contiguous; writable when `out`.
py::object optional_param(py::handle h, DType dt, const std::vector<int64_t>& shape,
                          const char* name, bool out) {
  if (h.is_none()) return py::none();
  py::array a = require_input(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name(dt) +
                         " (the dtype of x), got " + dtype_str(a));
  require_shape(a, shape, name);
  if (out && !a.writeable())
    throw py::value_error(std::string(name) + ": expected a writable array, got a read-only one");
  return a;
}

template <class T>
const T* opt_cptr(const py::object& o) {
  return o.is_none() ? nullptr : static_cast<const T*>(py::reinterpret_borrow<py::array>(o).data());
}
template <class T>
T* opt_mptr(py::object& o) {
  if (o.is_none()) return nullptr;
  py::array a = py::reinterpret_borrow<py::array>(o);
  return static_cast<T*>(a.mutable_data());
}

void require_eps(double eps) {
  if (!(eps >= 0.0) || !std::isfinite(eps))
    throw py::value_error("eps: expected a finite number >= 0, got " + num_str(eps));
}

// x (N, C, *) -> (n, c, s)
void bn_dims(const py::array& x, int64_t& n, int64_t& c, int64_t& s) {
  if (x.ndim() < 2)
    throw py::value_error("x: expected (N, C) or (N, C, *) input, got shape " + shape_str(x));
  n = x.shape(0);
  c = x.shape(1);
  s = 1;
  for (py::ssize_t i = 2; i < x.ndim(); ++i) s *= x.shape(i);
}

py::tuple bn_forward(py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle rm_obj,
                     py::handle rv_obj, bool training, double momentum, double eps,
                     py::handle out_obj) {
  py::array x = require_input(x_obj, "x");
  const DType dt = dtype_of(x, "x");
  int64_t n, c, s;
  bn_dims(x, n, c, s);
  py::object w = optional_param(w_obj, dt, {c}, "weight", false);
  py::object b = optional_param(b_obj, dt, {c}, "bias", false);
  py::object rm = optional_param(rm_obj, dt, {c}, "running_mean", true);
  py::object rv = optional_param(rv_obj, dt, {c}, "running_var", true);
  if (rm.is_none() != rv.is_none())
    throw py::value_error("running_mean and running_var: give both or neither");
  if (!training && rm.is_none())
    throw py::value_error(
        "running_mean: expected running statistics when training is False, got None");
  require_range(momentum, "momentum", 0.0, 1.0, false, "a number in [0, 1]");
  require_eps(eps);
  if (training && n * s == 1)
    throw py::value_error("x: expected more than 1 value per channel when training, got shape " +
                          shape_str(x));
  for (const py::object* o : {&rm, &rv})
    if (!o->is_none() && may_overlap(py::reinterpret_borrow<py::array>(*o), x))
      throw py::value_error("running statistics: share memory with x");
  py::array y = elementwise_out(out_obj, dt, shape_of(x), {&x});
  py::array mean = new_array(dt, {c}), invstd = new_array(dt, {c});
  test_hold_point();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    const T* wp = opt_cptr<T>(w);
    const T* bp = opt_cptr<T>(b);
    T* rmp = opt_mptr<T>(rm);
    T* rvp = opt_mptr<T>(rv);
    T* yp = mptr<T>(y);
    T* mp = mptr<T>(mean);
    T* ip = mptr<T>(invstd);
    py::gil_scoped_release nogil;
    if (training) {
      batch_norm_train_forward(xp, wp, bp, yp, mp, ip, rmp, rvp, n, c, s, momentum, eps);
      return;
    }
    for (int64_t j = 0; j < c; ++j) {
      mp[j] = rmp[j];
      ip[j] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(rvp[j]) + eps));
    }
    batch_norm_apply(xp, mp, ip, wp, bp, yp, n, c, s);
  });
  return py::make_tuple(y, mean, invstd);
}

py::tuple bn_backward(py::handle dy_obj, py::handle x_obj, py::handle w_obj, py::handle m_obj,
                      py::handle i_obj, bool training, bool need_dx, bool need_dweight,
                      bool need_dbias, py::handle out_obj) {
  py::array x = require_input(x_obj, "x");
  py::array dy = require_like(dy_obj, x, "dy", "x");
  const DType dt = dtype_of(x, "x");
  int64_t n, c, s;
  bn_dims(x, n, c, s);
  py::object w = optional_param(w_obj, dt, {c}, "weight", false);
  py::array mean = require_like(m_obj, py::array(new_array(dt, {c})), "mean", "x");
  py::array invstd = require_like(i_obj, mean, "invstd", "mean");
  py::object dx =
      need_dx ? py::object(elementwise_out(out_obj, dt, shape_of(x), {&x, &dy})) : py::none();
  py::object dw = need_dweight ? py::object(new_array(dt, {c})) : py::none();
  py::object db = need_dbias ? py::object(new_array(dt, {c})) : py::none();
  test_hold_point();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const T* xp = cptr<T>(x);
    const T* wp = opt_cptr<T>(w);
    const T* mp = cptr<T>(mean);
    const T* ip = cptr<T>(invstd);
    T* dxp = opt_mptr<T>(dx);
    T* dwp = opt_mptr<T>(dw);
    T* dbp = opt_mptr<T>(db);
    py::gil_scoped_release nogil;
    batch_norm_backward(dyp, xp, mp, ip, wp, dxp, dwp, dbp, n, c, s, training);
  });
  return py::make_tuple(dx, dw, db);
}

// x (*lead, *normalized) with k normalized dimensions -> (rows, d, lead shape, normalized shape)
void ln_dims(const py::array& x, int64_t k, int64_t& rows, int64_t& d, std::vector<int64_t>& lead,
             std::vector<int64_t>& norm) {
  if (k < 1 || k > x.ndim())
    throw py::value_error("normalized_ndim: expected 1 <= normalized_ndim <= x.ndim = " +
                          std::to_string(x.ndim()) + ", got " + std::to_string(k));
  rows = 1;
  d = 1;
  for (py::ssize_t i = 0; i < x.ndim(); ++i) {
    if (i < x.ndim() - k) {
      rows *= x.shape(i);
      lead.push_back(x.shape(i));
    } else {
      d *= x.shape(i);
      norm.push_back(x.shape(i));
    }
  }
}

py::tuple ln_forward(py::handle x_obj, py::handle k_obj, py::handle w_obj, py::handle b_obj,
                     double eps, py::handle out_obj) {
  py::array x = require_input(x_obj, "x");
  const DType dt = dtype_of(x, "x");
  int64_t rows, d;
  std::vector<int64_t> lead, norm;
  ln_dims(x, require_int(k_obj, "normalized_ndim"), rows, d, lead, norm);
  py::object w = optional_param(w_obj, dt, norm, "weight", false);
  py::object b = optional_param(b_obj, dt, norm, "bias", false);
  require_eps(eps);
  py::array y = elementwise_out(out_obj, dt, shape_of(x), {&x});
  py::array mean = new_array(dt, lead), rstd = new_array(dt, lead);
  test_hold_point();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    const T* wp = opt_cptr<T>(w);
    const T* bp = opt_cptr<T>(b);
    T* yp = mptr<T>(y);
    T* mp = mptr<T>(mean);
    T* rp = mptr<T>(rstd);
    py::gil_scoped_release nogil;
    layer_norm_forward(xp, wp, bp, yp, mp, rp, rows, d, eps);
  });
  return py::make_tuple(y, mean, rstd);
}

py::tuple ln_backward(py::handle dy_obj, py::handle x_obj, py::handle k_obj, py::handle w_obj,
                      py::handle m_obj, py::handle r_obj, bool need_dx, bool need_dweight,
                      bool need_dbias, py::handle out_obj) {
  py::array x = require_input(x_obj, "x");
  py::array dy = require_like(dy_obj, x, "dy", "x");
  const DType dt = dtype_of(x, "x");
  int64_t rows, d;
  std::vector<int64_t> lead, norm;
  ln_dims(x, require_int(k_obj, "normalized_ndim"), rows, d, lead, norm);
  py::object w = optional_param(w_obj, dt, norm, "weight", false);
  py::array mean = require_like(m_obj, py::array(new_array(dt, lead)), "mean", "x");
  py::array rstd = require_like(r_obj, mean, "rstd", "mean");
  py::object dx =
      need_dx ? py::object(elementwise_out(out_obj, dt, shape_of(x), {&x, &dy})) : py::none();
  py::object dw = need_dweight ? py::object(new_array(dt, norm)) : py::none();
  py::object db = need_dbias ? py::object(new_array(dt, norm)) : py::none();
  test_hold_point();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const T* xp = cptr<T>(x);
    const T* wp = opt_cptr<T>(w);
    const T* mp = cptr<T>(mean);
    const T* rp = cptr<T>(rstd);
    T* dxp = opt_mptr<T>(dx);
    T* dwp = opt_mptr<T>(dw);
    T* dbp = opt_mptr<T>(db);
    py::gil_scoped_release nogil;
    layer_norm_backward(dyp, xp, wp, mp, rp, dxp, dwp, dbp, rows, d);
  });
  return py::make_tuple(dx, dw, db);
}

// x (N, C, *) in g groups -> (n, c, s); g >= 1 must divide c
void gn_dims(const py::array& x, py::handle g_obj, int64_t& n, int64_t& c, int64_t& s, int64_t& g) {
  bn_dims(x, n, c, s);
  g = require_int(g_obj, "num_groups");
  if (g < 1)
    throw py::value_error("num_groups: expected a number of groups >= 1, got " + std::to_string(g));
  if (c % g != 0)
    throw py::value_error("num_groups: expected a divisor of the " + std::to_string(c) +
                          " channels of x, got " + std::to_string(g));
}

py::tuple gn_forward(py::handle x_obj, py::handle g_obj, py::handle w_obj, py::handle b_obj,
                     double eps, py::handle out_obj) {
  py::array x = require_input(x_obj, "x");
  const DType dt = dtype_of(x, "x");
  int64_t n, c, s, g;
  gn_dims(x, g_obj, n, c, s, g);
  py::object w = optional_param(w_obj, dt, {c}, "weight", false);
  py::object b = optional_param(b_obj, dt, {c}, "bias", false);
  require_eps(eps);
  py::array y = elementwise_out(out_obj, dt, shape_of(x), {&x});
  py::array mean = new_array(dt, {n, g}), rstd = new_array(dt, {n, g});
  test_hold_point();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    const T* wp = opt_cptr<T>(w);
    const T* bp = opt_cptr<T>(b);
    T* yp = mptr<T>(y);
    T* mp = mptr<T>(mean);
    T* rp = mptr<T>(rstd);
    py::gil_scoped_release nogil;
    group_norm_forward(xp, wp, bp, yp, mp, rp, n, c, s, g, eps);
  });
  return py::make_tuple(y, mean, rstd);
}

py::tuple gn_backward(py::handle dy_obj, py::handle x_obj, py::handle g_obj, py::handle w_obj,
                      py::handle m_obj, py::handle r_obj, bool need_dx, bool need_dweight,
                      bool need_dbias, py::handle out_obj) {
  py::array x = require_input(x_obj, "x");
  py::array dy = require_like(dy_obj, x, "dy", "x");
  const DType dt = dtype_of(x, "x");
  int64_t n, c, s, g;
  gn_dims(x, g_obj, n, c, s, g);
  py::object w = optional_param(w_obj, dt, {c}, "weight", false);
  py::array mean = require_like(m_obj, py::array(new_array(dt, {n, g})), "mean", "x");
  py::array rstd = require_like(r_obj, mean, "rstd", "mean");
  py::object dx =
      need_dx ? py::object(elementwise_out(out_obj, dt, shape_of(x), {&x, &dy})) : py::none();
  py::object dw = need_dweight ? py::object(new_array(dt, {c})) : py::none();
  py::object db = need_dbias ? py::object(new_array(dt, {c})) : py::none();
  test_hold_point();
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const T* xp = cptr<T>(x);
    const T* wp = opt_cptr<T>(w);
    const T* mp = cptr<T>(mean);
    const T* rp = cptr<T>(rstd);
    T* dxp = opt_mptr<T>(dx);
    T* dwp = opt_mptr<T>(dw);
    T* dbp = opt_mptr<T>(db);
    py::gil_scoped_release nogil;
    group_norm_backward(dyp, xp, wp, mp, rp, dxp, dwp, dbp, n, c, s, g);
  });
  return py::make_tuple(dx, dw, db);
}

}  // namespace

void bind_norm(py::module_& m) {
  m.def("batch_norm_forward", named("batch_norm_forward", &bn_forward), py::arg("x"),
        py::arg("weight"), py::arg("bias"), py::arg("running_mean"), py::arg("running_var"),
        py::arg("training"), py::arg("momentum"), py::arg("eps"), py::arg("out") = py::none(),
        "Batch norm of x (N, C, *) over every dimension but 1: (y, mean, invstd). training: the "
        "batch's statistics, running_mean / running_var (if given) updated in place; else the "
        "running statistics.");
  m.def("batch_norm_backward", named("batch_norm_backward", &bn_backward), py::arg("dy"),
        py::arg("x"), py::arg("weight"), py::arg("mean"), py::arg("invstd"), py::arg("training"),
        py::arg("need_dx"), py::arg("need_dweight"), py::arg("need_dbias"),
        py::arg("out") = py::none(),
        "(dx, dweight, dbias) of batch_norm_forward (None where not asked for).");
  m.def("layer_norm_forward", named("layer_norm_forward", &ln_forward), py::arg("x"),
        py::arg("normalized_ndim"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
        py::arg("out") = py::none(),
        "Layer norm over the last normalized_ndim dimensions: (y, mean, rstd).");
  m.def("layer_norm_backward", named("layer_norm_backward", &ln_backward), py::arg("dy"),
        py::arg("x"), py::arg("normalized_ndim"), py::arg("weight"), py::arg("mean"),
        py::arg("rstd"), py::arg("need_dx"), py::arg("need_dweight"), py::arg("need_dbias"),
        py::arg("out") = py::none(),
        "(dx, dweight, dbias) of layer_norm_forward (None where not asked for).");
  m.def("group_norm_forward", named("group_norm_forward", &gn_forward), py::arg("x"),
        py::arg("num_groups"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
        py::arg("out") = py::none(),
        "Group norm of x (N, C, *), the C channels in num_groups groups: (y, mean, rstd), mean "
        "and rstd of shape (N, num_groups).");
  m.def("group_norm_backward", named("group_norm_backward", &gn_backward), py::arg("dy"),
        py::arg("x"), py::arg("num_groups"), py::arg("weight"), py::arg("mean"), py::arg("rstd"),
        py::arg("need_dx"), py::arg("need_dweight"), py::arg("need_dbias"),
        py::arg("out") = py::none(),
        "(dx, dweight, dbias) of group_norm_forward (None where not asked for).");
}

}  // namespace bind
}  // namespace dg
