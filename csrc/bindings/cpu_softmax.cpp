// Bindings of softmax / log_softmax and logsumexp (forward, backward, over any axis) and the
// fused softmax cross-entropy with integer labels.
#include <algorithm>
#include <limits>
#include <vector>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

// x as (outer, c, inner) around axis dim (numpy's negative dims allowed): the row kernels when
// dim is the last axis, the inner ones (c values inner apart) otherwise.
struct AxisSplit {
  int64_t outer = 1, c = 1, inner = 1;
};
AxisSplit split_at(const py::array& a, int64_t dim, const char* name) {
  const int64_t nd = a.ndim();
  if (nd < 1)
    throw py::value_error(std::string(name) + ": expected at least 1 dimension, got a 0-d array");
  if (dim < -nd || dim >= nd)
    throw py::index_error("dim: expected a dimension in [" + std::to_string(-nd) + ", " +
                          std::to_string(nd - 1) + "], got " + std::to_string(dim));
  if (dim < 0) dim += nd;
  AxisSplit s;
  for (int64_t i = 0; i < nd; ++i) (i < dim ? s.outer : i == dim ? s.c : s.inner) *= a.shape(i);
  return s;
}

py::array softmax_fwd(py::handle x_obj, py::handle out_obj, bool log, int64_t dim) {
  py::array x = require_input(x_obj, "x");
  const AxisSplit ax = split_at(x, dim, "x");
  const DType dt = dtype_of(x, "x");
  py::array out = elementwise_out(out_obj, dt, shape_of(x), {&x});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(out);
    py::gil_scoped_release nogil;
    if (ax.inner == 1)
      softmax_forward(xp, yp, ax.c ? ax.outer : 0, ax.c, log);
    else if (ax.c > 0)
      softmax_forward_inner(xp, yp, ax.outer, ax.c, ax.inner, log);
  });
  return out;
}

py::array softmax_bwd(py::handle dy_obj, py::handle y_obj, bool log, int64_t dim) {
  py::array dy = require_input(dy_obj, "dy");
  py::array y = require_like(y_obj, dy, "y", "dy");
  const AxisSplit ax = split_at(dy, dim, "dy");
  const DType dt = dtype_of(dy, "dy");
  py::array out = new_array(dt, shape_of(dy));
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const T* yp = cptr<T>(y);
    T* dxp = mptr<T>(out);
    py::gil_scoped_release nogil;
    if (ax.inner == 1)
      softmax_backward(dyp, yp, dxp, ax.c ? ax.outer : 0, ax.c, log);
    else if (ax.c > 0)
      softmax_backward_inner(dyp, yp, dxp, ax.outer, ax.c, ax.inner, log);
  });
  return out;
}

// x's shape without axis dim: the shape of logsumexp's result (and of its backward's g, lse).
std::vector<int64_t> shape_without(const py::array& x, int64_t dim) {
  std::vector<int64_t> shape = shape_of(x);
  shape.erase(shape.begin() + (dim < 0 ? dim + x.ndim() : dim));
  return shape;
}

// Class indices along the reduced axis (int64, of the result's shape), copied and then checked
// against [0, c): the kernel indexes with the copy after the GIL is released, so another thread
// writing the caller's array meanwhile can never make it read or write out of bounds.
std::vector<int64_t> checked_targets(py::handle obj, const std::vector<int64_t>& shape, int64_t c) {
  py::array t = require_array(obj, "target");
  if (!t.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("target: expected dtype int64 (class indices), got " + dtype_str(t));
  require_contiguous(t, "target");
  require_shape(t, shape, "target");
  const int64_t* p = static_cast<const int64_t*>(t.data());
  std::vector<int64_t> v(p, p + t.size());
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] < 0 || v[i] >= c)
      throw py::value_error("target: class index " + std::to_string(v[i]) + " at position " +
                            std::to_string(i) + " is out of range [0, " + std::to_string(c) + ")");
  return v;
}

// log(sum(exp(x))) over axis dim: an array of x's shape without it; with target (class indices
// of that shape), the tuple (lse, x at the targets) from the same pass.
py::object logsumexp_fwd(py::handle x_obj, int64_t dim, py::handle target_obj) {
  py::array x = require_input(x_obj, "x");
  const AxisSplit ax = split_at(x, dim, "x");
  const DType dt = dtype_of(x, "x");
  const std::vector<int64_t> shape = shape_without(x, dim);
  py::array out = new_array(dt, shape);
  std::vector<int64_t> targets;
  py::array picked;
  const bool with_target = !target_obj.is_none();
  if (with_target) {
    targets = checked_targets(target_obj, shape, ax.c);
    picked = new_array(dt, shape);
  }
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* op = mptr<T>(out);
    T* pp = with_target ? mptr<T>(picked) : nullptr;
    const int64_t* tp = with_target ? targets.data() : nullptr;
    py::gil_scoped_release nogil;
    if (ax.c == 0)  // an empty axis: log(0) (the kernels assume c > 0 away from the last axis)
      std::fill(op, op + ax.outer * ax.inner, -std::numeric_limits<T>::infinity());
    else
      logsumexp_forward(xp, op, ax.outer, ax.c, ax.inner, tp, pp);
  });
  if (with_target) return py::make_tuple(out, picked);
  return std::move(out);
}

// dx = g * exp(x - lse), g and lse broadcast along axis dim (each of x's shape without it); lse
// None: g * softmax(x), the exponentials shifted by the max (exact where lse's rounding is not);
// with target and g_target (that shape too), g_target is then subtracted at the targets: the
// gradient of g * lse - g_target * x[target].
py::array logsumexp_bwd(py::handle g_obj, py::handle x_obj, py::handle lse_obj, int64_t dim,
                        py::handle target_obj, py::handle g_target_obj) {
  py::array x = require_input(x_obj, "x");
  const AxisSplit ax = split_at(x, dim, "x");
  const DType dt = dtype_of(x, "x");
  const std::vector<int64_t> shape = shape_without(x, dim);
  py::array g = require_input(g_obj, "g");
  const bool with_lse = !lse_obj.is_none();  // None: g * softmax(x), max-shifted (exact)
  py::array lse = with_lse ? require_input(lse_obj, "lse") : py::array();
  const bool with_target = !target_obj.is_none();
  if (with_target != !g_target_obj.is_none())
    throw py::value_error("target and g_target: expected both or neither");
  py::array gt = with_target ? require_input(g_target_obj, "g_target") : py::array();
  std::vector<std::pair<py::array*, const char*>> args{{&g, "g"}};
  if (with_lse) args.push_back({&lse, "lse"});
  if (with_target) args.push_back({&gt, "g_target"});
  for (auto [a, name] : args) {
    if (dtype_of(*a, name) != dt)
      throw py::type_error(std::string(name) + ": expected dtype " + dtype_name(dt) +
                           " (the dtype of x), got " + dtype_str(*a));
    require_shape(*a, shape, name);
  }
  std::vector<int64_t> targets;
  if (with_target) targets = checked_targets(target_obj, shape, ax.c);
  py::array out = new_array(dt, shape_of(x));
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* gp = cptr<T>(g);
    const T* xp = cptr<T>(x);
    const T* lp = with_lse ? cptr<T>(lse) : nullptr;
    const T* gtp = with_target ? cptr<T>(gt) : nullptr;
    const int64_t* tp = with_target ? targets.data() : nullptr;
    T* dp = mptr<T>(out);
    py::gil_scoped_release nogil;
    if (ax.c > 0) logsumexp_backward(gp, xp, lp, dp, ax.outer, ax.c, ax.inner, tp, gtp);
  });
  return out;
}

py::tuple softmax_xent(py::handle logits_obj, py::handle target_obj, const std::string& red) {
  const Reduction reduction = reduction_from_name(red);
  py::array x = require_input(logits_obj, "logits");
  require_ndim(x, 2, "logits");
  const DType dt = dtype_of(x, "logits");
  py::array t = require_array(target_obj, "target");
  if (!t.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("target: expected dtype int64 (class indices), got " + dtype_str(t));
  require_contiguous(t, "target");
  const int64_t rows = x.shape(0), cols = x.shape(1);
  require_shape(t, {rows}, "target");
  if (rows && cols == 0)
    throw py::value_error("logits: expected at least one class, got shape " + shape_str(x));
  // The labels are copied, then checked: the kernel indexes with them after the GIL is released,
  // and another thread may write the caller's array meanwhile (it then gets the result for the
  // labels as they were checked, never an out-of-bounds access).
  const int64_t* caller_labels = static_cast<const int64_t*>(t.data());
  std::vector<int64_t> labels(caller_labels, caller_labels + rows);
  for (int64_t i = 0; i < rows; ++i)
    if (labels[i] < 0 || labels[i] >= cols)
      throw py::value_error("target: class index " + std::to_string(labels[i]) + " at position " +
                            std::to_string(i) + " is out of range [0, " + std::to_string(cols) +
                            ")");
  const int64_t* tp = labels.data();
  py::array d = new_array(dt, {rows, cols});
  py::array loss_rows = reduction == Reduction::none ? new_array(dt, {rows}) : py::array();
  double total = 0.0;
  const double scale = reduction == Reduction::mean ? (rows ? 1.0 / double(rows) : NAN) : 1.0;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* dp = mptr<T>(d);
    T* lp = reduction == Reduction::none ? mptr<T>(loss_rows) : nullptr;
    py::gil_scoped_release nogil;
    test_hold_point();  // tests/test_label_race.py: the caller's labels change here
    total = softmax_cross_entropy(xp, tp, dp, lp, rows, cols, static_cast<T>(scale));
  });
  if (reduction == Reduction::none) return py::make_tuple(loss_rows, d);
  const double loss = reduction == Reduction::mean ? (rows ? total / double(rows) : NAN) : total;
  return py::make_tuple(scalar_array(dt, loss), d);
}

}  // namespace

void bind_softmax(py::module_& m) {
  m.def("softmax",
        named(
            "softmax", +[](py::handle x, py::handle out,
                           int64_t dim) { return softmax_fwd(x, out, false, dim); }),
        py::arg("x"), py::arg("out") = py::none(), py::arg("dim") = -1,
        "Softmax over axis dim (default the last).");
  m.def("log_softmax",
        named(
            "log_softmax", +[](py::handle x, py::handle out,
                               int64_t dim) { return softmax_fwd(x, out, true, dim); }),
        py::arg("x"), py::arg("out") = py::none(), py::arg("dim") = -1,
        "Log-softmax over axis dim (default the last).");
  m.def("softmax_backward",
        named(
            "softmax_backward", +[](py::handle dy, py::handle y,
                                    int64_t dim) { return softmax_bwd(dy, y, false, dim); }),
        py::arg("dy"), py::arg("y"), py::arg("dim") = -1,
        "dx of y = softmax(x) over axis dim: y * (dy - sum(dy * y)).");
  m.def("log_softmax_backward",
        named(
            "log_softmax_backward", +[](py::handle dy, py::handle y,
                                        int64_t dim) { return softmax_bwd(dy, y, true, dim); }),
        py::arg("dy"), py::arg("y"), py::arg("dim") = -1,
        "dx of y = log_softmax(x) over axis dim: dy - exp(y) * sum(dy).");
  m.def("logsumexp", named("logsumexp", &logsumexp_fwd), py::arg("x"), py::arg("dim") = -1,
        py::arg("target") = py::none(),
        "log(sum(exp(x))) over axis dim (default the last; stable: the max is subtracted); with "
        "target (int64 class indices along dim), (lse, x at the targets).");
  m.def("logsumexp_backward", named("logsumexp_backward", &logsumexp_bwd), py::arg("g"),
        py::arg("x"), py::arg("lse"), py::arg("dim") = -1, py::arg("target") = py::none(),
        py::arg("g_target") = py::none(),
        "dx of lse = logsumexp(x) over axis dim: g * exp(x - lse), g and lse broadcast along dim "
        "(lse None: g * softmax(x), max-shifted, exact for large x); with target and g_target, "
        "g_target subtracted at the targets.");
  m.def("softmax_cross_entropy", named("softmax_cross_entropy", &softmax_xent), py::arg("logits"),
        py::arg("target"), py::arg("reduction") = "mean",
        "(loss, dlogits) of softmax cross-entropy with int64 labels, in one fused pass.");
}

}  // namespace bind
}  // namespace dg
