// Bindings of the fused normalization kernels (cpu/norm.h): batch norm over (N, C, *), layer
// norm over the last dimensions and group norm over (N, C, *) in groups, forward and backward.
// dg.ops.batch_norm_* / layer_norm_* / group_norm_* and the layers of deltagrad.nn.normalization
// are built on them.
#include <cmath>
#include <type_traits>
#include <vector>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

// A per-channel (or per-feature) input: dtype dt (that of x), the given shape, C-contiguous.
py::array require_param(py::handle h, DType dt, const std::vector<int64_t>& shape,
                        const char* name) {
  py::array a = require_input(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name(dt) +
                         " (the dtype of x), got " + dtype_str(a));
  require_shape(a, shape, name);
  return a;
}

// None, or require_param's array; writable when `out`.
py::object optional_param(py::handle h, DType dt, const std::vector<int64_t>& shape,
                          const char* name, bool out) {
  if (h.is_none()) return py::none();
  py::array a = require_param(h, dt, shape, name);
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

// ---- the steps every binding below takes ----
// A forward: x checked (NormForward's constructor), its dimensions read (bn_dims, ln_dims,
// gn_dims), weight and bias checked (params), the kernel's own arguments checked, the outputs
// made (outputs); then run(kernel) calls kernel(p) with p the arrays' typed pointers (null for
// None), the GIL released, and returns (y, mean, rstd). A backward likewise: NormBackward's
// constructor (x, then dy against it), the dimensions, inputs, outputs, run; it returns (dx,
// dweight, dbias). The checks run in this fixed order, so an input with several faults always
// raises the same error.

template <class T>
struct ForwardPtrs {
  const T* x;
  const T* weight;
  const T* bias;
  T* running_mean;  // batch norm's running statistics, updated in place
  T* running_var;
  T* y;
  T* mean;
  T* rstd;  // batch norm's invstd
};

struct NormForward {
  py::array x;
  DType dt;
  py::object weight = py::none(), bias = py::none();
  py::object running_mean = py::none(), running_var = py::none();  // set by batch norm
  py::array y, mean, rstd;

  explicit NormForward(py::handle x_obj) : x(require_input(x_obj, "x")), dt(dtype_of(x, "x")) {}

  // weight and bias: None or of the parameters' shape
  void params(py::handle w_obj, py::handle b_obj, const std::vector<int64_t>& shape) {
    weight = optional_param(w_obj, dt, shape, "weight", false);
    bias = optional_param(b_obj, dt, shape, "bias", false);
  }

  // y: new, or out (x itself or memory disjoint from it); mean and rstd: new, of stat_shape
  void outputs(py::handle out_obj, const std::vector<int64_t>& stat_shape) {
    y = elementwise_out(out_obj, dt, shape_of(x), {&x});
    mean = new_array(dt, stat_shape);
    rstd = new_array(dt, stat_shape);
  }

  template <class F>
  py::tuple run(F&& kernel) {
    test_hold_point();
    dispatch_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      const ForwardPtrs<T> p{
          cptr<T>(x),
          opt_cptr<T>(weight),
          opt_cptr<T>(bias),
          opt_mptr<T>(running_mean),
          opt_mptr<T>(running_var),
          mptr<T>(y),
          mptr<T>(mean),
          mptr<T>(rstd),
      };
      py::gil_scoped_release nogil;
      kernel(p);
    });
    return py::make_tuple(y, mean, rstd);
  }
};

template <class T>
struct BackwardPtrs {
  const T* dy;
  const T* x;
  const T* weight;
  const T* mean;
  const T* rstd;  // batch norm's invstd
  T* dx;          // the outputs: null where not asked for
  T* dweight;
  T* dbias;
};

struct NormBackward {
  py::array x, dy;  // x first: dy is checked against it
  DType dt;
  std::vector<int64_t> param_shape;
  py::object weight = py::none();
  py::array mean, rstd;
  py::object dx = py::none(), dweight = py::none(), dbias = py::none();

  NormBackward(py::handle dy_obj, py::handle x_obj)
      : x(require_input(x_obj, "x")),
        dy(require_like(dy_obj, x, "dy", "x")),
        dt(dtype_of(x, "x")) {}

  // weight: None or of the parameters' shape; the forward's mean and rstd (rstd_name: its name
  // in the binding's arguments) of the statistics' shape
  void inputs(py::handle w_obj, const std::vector<int64_t>& params, py::handle m_obj,
              py::handle r_obj, const char* rstd_name, const std::vector<int64_t>& stat_shape) {
    param_shape = params;
    weight = optional_param(w_obj, dt, param_shape, "weight", false);
    mean = require_param(m_obj, dt, stat_shape, "mean");
    rstd = require_like(r_obj, mean, rstd_name, "mean");
  }

  // those asked for: dx (new, or out: x, dy or memory disjoint from both), dweight and dbias
  void outputs(bool need_dx, bool need_dweight, bool need_dbias, py::handle out_obj) {
    if (need_dx) dx = elementwise_out(out_obj, dt, shape_of(x), {&x, &dy});
    if (need_dweight) dweight = new_array(dt, param_shape);
    if (need_dbias) dbias = new_array(dt, param_shape);
  }

  template <class F>
  py::tuple run(F&& kernel) {
    test_hold_point();
    dispatch_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      const BackwardPtrs<T> p{
          cptr<T>(dy),   cptr<T>(x),      opt_cptr<T>(weight),  cptr<T>(mean),
          cptr<T>(rstd), opt_mptr<T>(dx), opt_mptr<T>(dweight), opt_mptr<T>(dbias),
      };
      py::gil_scoped_release nogil;
      kernel(p);
    });
    return py::make_tuple(dx, dweight, dbias);
  }
};

// ---- batch norm ----

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
  NormForward a(x_obj);
  int64_t n, c, s;
  bn_dims(a.x, n, c, s);
  a.params(w_obj, b_obj, {c});
  a.running_mean = optional_param(rm_obj, a.dt, {c}, "running_mean", true);
  a.running_var = optional_param(rv_obj, a.dt, {c}, "running_var", true);
  if (a.running_mean.is_none() != a.running_var.is_none())
    throw py::value_error("running_mean and running_var: give both or neither");
  if (!training && a.running_mean.is_none())
    throw py::value_error(
        "running_mean: expected running statistics when training is False, got None");
  require_range(momentum, "momentum", 0.0, 1.0, false, "a number in [0, 1]");
  require_eps(eps);
  if (training && n * s == 1)
    throw py::value_error("x: expected more than 1 value per channel when training, got shape " +
                          shape_str(a.x));
  for (const py::object* o : {&a.running_mean, &a.running_var})
    if (!o->is_none() && may_overlap(py::reinterpret_borrow<py::array>(*o), a.x))
      throw py::value_error("running statistics: share memory with x");
  a.outputs(out_obj, {c});
  return a.run([&](const auto& p) {
    if (training) {
      batch_norm_train_forward(p.x, p.weight, p.bias, p.y, p.mean, p.rstd, p.running_mean,
                               p.running_var, n, c, s, momentum, eps);
      return;
    }
    using T = std::remove_pointer_t<decltype(p.y)>;
    for (int64_t j = 0; j < c; ++j) {
      p.mean[j] = p.running_mean[j];
      p.rstd[j] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(p.running_var[j]) + eps));
    }
    batch_norm_apply(p.x, p.mean, p.rstd, p.weight, p.bias, p.y, n, c, s);
  });
}

py::tuple bn_backward(py::handle dy_obj, py::handle x_obj, py::handle w_obj, py::handle m_obj,
                      py::handle i_obj, bool training, bool need_dx, bool need_dweight,
                      bool need_dbias, py::handle out_obj) {
  NormBackward a(dy_obj, x_obj);
  int64_t n, c, s;
  bn_dims(a.x, n, c, s);
  a.inputs(w_obj, {c}, m_obj, i_obj, "invstd", {c});
  a.outputs(need_dx, need_dweight, need_dbias, out_obj);
  return a.run([&](const auto& p) {
    batch_norm_backward(p.dy, p.x, p.mean, p.rstd, p.weight, p.dx, p.dweight, p.dbias, n, c, s,
                        training);
  });
}

// ---- layer norm ----

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
  NormForward a(x_obj);
  int64_t rows, d;
  std::vector<int64_t> lead, norm;
  ln_dims(a.x, require_int(k_obj, "normalized_ndim"), rows, d, lead, norm);
  a.params(w_obj, b_obj, norm);
  require_eps(eps);
  a.outputs(out_obj, lead);
  return a.run([&](const auto& p) {
    layer_norm_forward(p.x, p.weight, p.bias, p.y, p.mean, p.rstd, rows, d, eps);
  });
}

py::tuple ln_backward(py::handle dy_obj, py::handle x_obj, py::handle k_obj, py::handle w_obj,
                      py::handle m_obj, py::handle r_obj, bool need_dx, bool need_dweight,
                      bool need_dbias, py::handle out_obj) {
  NormBackward a(dy_obj, x_obj);
  int64_t rows, d;
  std::vector<int64_t> lead, norm;
  ln_dims(a.x, require_int(k_obj, "normalized_ndim"), rows, d, lead, norm);
  a.inputs(w_obj, norm, m_obj, r_obj, "rstd", lead);
  a.outputs(need_dx, need_dweight, need_dbias, out_obj);
  return a.run([&](const auto& p) {
    layer_norm_backward(p.dy, p.x, p.weight, p.mean, p.rstd, p.dx, p.dweight, p.dbias, rows, d);
  });
}

// ---- group norm ----

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
  NormForward a(x_obj);
  int64_t n, c, s, g;
  gn_dims(a.x, g_obj, n, c, s, g);
  a.params(w_obj, b_obj, {c});
  require_eps(eps);
  a.outputs(out_obj, {n, g});
  return a.run([&](const auto& p) {
    group_norm_forward(p.x, p.weight, p.bias, p.y, p.mean, p.rstd, n, c, s, g, eps);
  });
}

py::tuple gn_backward(py::handle dy_obj, py::handle x_obj, py::handle g_obj, py::handle w_obj,
                      py::handle m_obj, py::handle r_obj, bool need_dx, bool need_dweight,
                      bool need_dbias, py::handle out_obj) {
  NormBackward a(dy_obj, x_obj);
  int64_t n, c, s, g;
  gn_dims(a.x, g_obj, n, c, s, g);
  a.inputs(w_obj, {c}, m_obj, r_obj, "rstd", {n, g});
  a.outputs(need_dx, need_dweight, need_dbias, out_obj);
  return a.run([&](const auto& p) {
    group_norm_backward(p.dy, p.x, p.weight, p.mean, p.rstd, p.dx, p.dweight, p.dbias, n, c, s, g);
  });
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
