// Bindings of cdist with p = 1 (csrc/cpu/cdist.h) on batches of C-contiguous float32 / float64
// matrices: the distances, and the gradients of both inputs.
#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

// x1 (n, P, M) and x2 (n, R, M): 3-D, one dtype, one batch size and feature count.
DType cdist_inputs(const py::array& x1, const py::array& x2) {
  require_ndim(x1, 3, "x1");
  require_ndim(x2, 3, "x2");
  const DType dt = dtype_of(x1, "x1");
  if (dtype_of(x2, "x2") != dt)
    throw py::type_error(std::string("x2: expected dtype ") + dtype_name(dt) +
                         " (the dtype of x1), got " + dtype_str(x2));
  if (x1.shape(0) != x2.shape(0) || x1.shape(2) != x2.shape(2))
    throw py::value_error("x2: expected shape (" + std::to_string(x1.shape(0)) + ", R, " +
                          std::to_string(x1.shape(2)) + ") for x1 of shape " + shape_str(x1) +
                          ", got " + shape_str(x2));
  return dt;
}

py::array cdist_p1_forward_py(py::handle x1_obj, py::handle x2_obj) {
  py::array x1 = require_input(x1_obj, "x1");
  py::array x2 = require_input(x2_obj, "x2");
  const DType dt = cdist_inputs(x1, x2);
  const int64_t n = x1.shape(0), P = x1.shape(1), R = x2.shape(1), M = x1.shape(2);
  py::array out = new_array(dt, {n, P, R});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* ap = cptr<T>(x1);
    const T* cp = cptr<T>(x2);
    T* op = mptr<T>(out);
    py::gil_scoped_release nogil;
    cdist_p1_forward(ap, cp, op, n, P, R, M);
  });
  return out;
}

py::tuple cdist_p1_backward_py(py::handle g_obj, py::handle x1_obj, py::handle x2_obj, bool x1_grad,
                               bool x2_grad) {
  py::array x1 = require_input(x1_obj, "x1");
  py::array x2 = require_input(x2_obj, "x2");
  const DType dt = cdist_inputs(x1, x2);
  const int64_t n = x1.shape(0), P = x1.shape(1), R = x2.shape(1), M = x1.shape(2);
  py::array g = require_input(g_obj, "grad");
  require_dtype(g, dt, "grad");
  require_shape(g, {n, P, R}, "grad");
  py::object g1 = py::none(), g2 = py::none();
  py::array a1, a2;
  if (x1_grad) g1 = a1 = new_array(dt, {n, P, M});
  if (x2_grad) g2 = a2 = new_array(dt, {n, R, M});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* gp = cptr<T>(g);
    const T* ap = cptr<T>(x1);
    const T* cp = cptr<T>(x2);
    T* o1 = x1_grad ? mptr<T>(a1) : nullptr;
    T* o2 = x2_grad ? mptr<T>(a2) : nullptr;
    py::gil_scoped_release nogil;
    if (o1) cdist_p1_grad(gp, ap, cp, o1, n, P, R, M, false);
    if (o2) cdist_p1_grad(gp, cp, ap, o2, n, R, P, M, true);
  });
  return py::make_tuple(g1, g2);
}

}  // namespace

void bind_cdist(py::module_& m) {
  m.def("cdist_p1_forward", named("cdist_p1_forward", &cdist_p1_forward_py), py::arg("x1"),
        py::arg("x2"),
        "torch.cdist(x1, x2, p=1) of C-contiguous x1 (n, P, M) and x2 (n, R, M), one dtype "
        "(float32 / float64): (n, P, R), D[b, i, j] = sum_k |x1[b, i, k] - x2[b, j, k]|.");
  m.def("cdist_p1_backward", named("cdist_p1_backward", &cdist_p1_backward_py), py::arg("grad"),
        py::arg("x1"), py::arg("x2"), py::arg("x1_grad") = true, py::arg("x2_grad") = true,
        "The gradients (of x1, of x2; None where not asked) of cdist_p1_forward(x1, x2) for the "
        "incoming grad (n, P, R): sum_j grad[b, i, j] * sign(x1[b, i] - x2[b, j]) and "
        "-sum_i grad[b, i, j] * sign(x1[b, i] - x2[b, j]), torch's sign (0 at 0, NaN at NaN).");
}

}  // namespace bind
}  // namespace dg
