// Bindings of the elementwise losses with fused gradients: sum_of_squares, mse_loss,
// binary_cross_entropy (probabilities) and binary_cross_entropy_with_logits.
#include <cmath>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

py::tuple loss(LossKind kind, py::handle y_obj, py::handle t_obj, Reduction reduction,
               const char* yname) {
  py::array y = require_input(y_obj, yname);
  py::array t = require_like(t_obj, y, "t", yname);
  const DType dt = dtype_of(y, yname);
  const int64_t n = y.size();
  py::array g = new_array(dt, shape_of(y));
  py::array le = reduction == Reduction::none ? new_array(dt, shape_of(y)) : py::array();
  const double scale = reduction == Reduction::mean ? (n ? 1.0 / double(n) : NAN) : 1.0;
  double total = 0.0;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* yp = cptr<T>(y);
    const T* tp = cptr<T>(t);
    T* gp = mptr<T>(g);
    T* lp = reduction == Reduction::none ? mptr<T>(le) : nullptr;
    py::gil_scoped_release nogil;
    total = loss_forward_backward(kind, yp, tp, gp, lp, n, static_cast<T>(scale));
  });
  // Probabilities or targets outside [0, 1] (or NaN) make a NaN loss (the kernel makes it NaN
  // for such a target), which torch refuses ("all elements of input / target should be between
  // 0 and 1"): look for one only when the total is NaN (every element's loss is in it, whatever
  // the reduction), so the common case pays nothing.
  if (kind == LossKind::bce && std::isnan(total))
    dispatch_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      const T* yp = cptr<T>(y);
      const T* tp = cptr<T>(t);
      for (int64_t i = 0; i < n; ++i) {
        if (!(yp[i] >= T(0) && yp[i] <= T(1)))
          throw py::value_error(std::string(yname) + ": expected probabilities in [0, 1], got " +
                                num_str(double(yp[i])) + " at flat index " + std::to_string(i) +
                                " (use binary_cross_entropy_with_logits for logits)");
        if (!(tp[i] >= T(0) && tp[i] <= T(1)))
          throw py::value_error("t: expected targets in [0, 1], got " + num_str(double(tp[i])) +
                                " at flat index " + std::to_string(i));
      }
    });
  if (reduction == Reduction::none) return py::make_tuple(le, g);
  const double value = reduction == Reduction::mean ? (n ? total / double(n) : NAN) : total;
  return py::make_tuple(scalar_array(dt, value), g);
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def("sum_of_squares",
        named(
            "sum_of_squares",
            +[](py::handle y, py::handle t) {
              return loss(LossKind::sum_of_squares, y, t, Reduction::sum, "y");
            }),
        py::arg("y"), py::arg("t"), "(E, dy): E = 1/2 sum (y - t)^2, dy = y - t.");
  m.def("mse_loss",
        named(
            "mse_loss",
            +[](py::handle y, py::handle t, const std::string& r) {
              return loss(LossKind::mse, y, t, reduction_from_name(r), "y");
            }),
        py::arg("y"), py::arg("t"), py::arg("reduction") = "mean", "(loss, dy) of (y - t)^2.");
  m.def("binary_cross_entropy",
        named(
            "binary_cross_entropy",
            +[](py::handle p, py::handle t, const std::string& r) {
              return loss(LossKind::bce, p, t, reduction_from_name(r), "p");
            }),
        py::arg("p"), py::arg("t"), py::arg("reduction") = "mean",
        "(loss, dp) of binary cross-entropy on probabilities (logs clamped at -100).");
  m.def("binary_cross_entropy_with_logits",
        named(
            "binary_cross_entropy_with_logits",
            +[](py::handle z, py::handle t, const std::string& r) {
              return loss(LossKind::bce_with_logits, z, t, reduction_from_name(r), "z");
            }),
        py::arg("z"), py::arg("t"), py::arg("reduction") = "mean",
        "(loss, dz) of binary cross-entropy on logits (stable for any |z|; multi-label).");
}

}  // namespace bind
}  // namespace dg
