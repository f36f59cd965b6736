// Binding of the CTC loss kernel (cpu/ctc.h): per-sample losses and, on request, the gradient
// w.r.t. log_probs in ATen's form (before the incoming gradient's scaling).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "bindings/cpu_common.h"
#include "bindings/index_error.h"
#include "cpu/ctc.h"

namespace dg {
namespace bind {
namespace {

// A C-contiguous int64 array of ndim 1 or 2 (either when ndim is 0).
py::array require_int64(py::handle h, const char* name, int ndim) {
  py::array a = require_array(h, name);
  if (!a.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error(std::string(name) + ": expected dtype int64, got " + dtype_str(a));
  if (ndim != 0)
    require_ndim(a, ndim, name);
  else if (a.ndim() != 1 && a.ndim() != 2)
    throw py::value_error(std::string(name) + ": expected a 1-D or 2-D array, got shape " +
                          shape_str(a));
  require_contiguous(a, name);
  require_aligned(a, name);
  return a;
}

// A copy of an int64 array's elements: what is checked is what the kernel reads, whatever
// another thread does to the array once the GIL is released.
std::vector<int64_t> copy_int64(const py::array& a) {
  std::vector<int64_t> v(static_cast<size_t>(a.size()));
  if (!v.empty()) std::memcpy(v.data(), a.data(), v.size() * sizeof(int64_t));
  return v;
}

py::tuple ctc_loss(py::handle lp_obj, py::handle targets_obj, py::handle in_len_obj,
                   py::handle tg_len_obj, int64_t blank, bool zero_infinity, bool want_grad,
                   bool force_log) {
  py::array lp = require_input(lp_obj, "log_probs");
  require_ndim(lp, 3, "log_probs");
  const DType dt = dtype_of(lp, "log_probs");
  const int64_t t_max = lp.shape(0), n = lp.shape(1), nc = lp.shape(2);
  py::array tg = require_int64(targets_obj, "targets", 0);
  py::array il = require_int64(in_len_obj, "input_lengths", 1);
  py::array tl = require_int64(tg_len_obj, "target_lengths", 1);
  require_shape(il, {n}, "input_lengths");
  require_shape(tl, {n}, "target_lengths");
  if (blank < 0 || blank >= nc)
    throw py::value_error("blank: expected 0 <= blank < " + std::to_string(nc) +
                          " (the classes), got " + std::to_string(blank));
  const std::vector<int64_t> in_len = copy_int64(il), tg_len = copy_int64(tl),
                             labels = copy_int64(tg);
  const bool padded = tg.ndim() == 2;
  if (padded) require_shape(tg, {n, static_cast<int64_t>(tg.shape(1))}, "targets");
  const int64_t width = padded ? tg.shape(1) : 0;
  std::vector<int64_t> start(static_cast<size_t>(n));
  int64_t total = 0;
  for (int64_t b = 0; b < n; ++b) {
    if (in_len[b] < 0 || in_len[b] > t_max)
      throw py::value_error("input_lengths: expected values in [0, " + std::to_string(t_max) +
                            "], got " + std::to_string(in_len[b]));
    const int64_t len = tg_len[b];
    if (len < 0 || (padded && len > width) || len > static_cast<int64_t>(labels.size()) - total)
      throw py::value_error(
          "target_lengths: " + std::to_string(len) + " is out of range for " +
          (padded ? "targets of shape " + shape_str(tg)
                  : "the " + std::to_string(labels.size()) + " concatenated targets"));
    start[b] = padded ? b * width : total;
    total += len;
    for (int64_t j = 0; j < len; ++j) {
      const int64_t v = labels[start[b] + j];
      if (v < 0 || v >= nc)
        throw index_range_error("ctc_loss: targets: a label is out of range [0, " +
                                std::to_string(nc) + "): " + std::to_string(v));
    }
  }
  if (!padded && total != static_cast<int64_t>(labels.size()))
    throw py::value_error("targets: expected " + std::to_string(total) +
                          " labels (the sum of target_lengths), got " +
                          std::to_string(labels.size()));
  py::array loss = new_array(dt, {n});
  py::object grad = py::none();
  if (want_grad) grad = new_array(dt, {t_max, n, nc});
  // float64: exp(log_probs) by numpy's ufunc (the kernel's own exp, math_fn, is scalar there),
  // into the gradient when there is one
  py::object ex = py::none();
  int64_t s_max = 0;
  for (int64_t b = 0; b < n; ++b) s_max = std::max(s_max, 2 * tg_len[b] + 1);
  if (dt == DType::f64 && !force_log && ctc::want_exp(want_grad, nc, s_max))
    ex = want_grad ? py::module_::import("numpy").attr("exp")(lp, py::arg("out") = grad)
                   : py::module_::import("numpy").attr("exp")(lp);
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    ctc::Args<T> a{cptr<T>(lp),
                   t_max,
                   n,
                   nc,
                   labels.data(),
                   start.data(),
                   in_len.data(),
                   tg_len.data(),
                   blank,
                   zero_infinity,
                   force_log,
                   mptr<T>(loss),
                   want_grad
                       ? static_cast<T*>(py::reinterpret_borrow<py::array>(grad).mutable_data())
                       : nullptr,
                   ex.is_none() ? nullptr : cptr<T>(py::reinterpret_borrow<py::array>(ex))};
    py::gil_scoped_release nogil;
    ctc::ctc_loss(a);
  });
  return py::make_tuple(loss, grad);
}

}  // namespace

void bind_ctc(py::module_& m) {
  m.def("ctc_loss", named("ctc_loss", &ctc_loss), py::arg("log_probs"), py::arg("targets"),
        py::arg("input_lengths"), py::arg("target_lengths"), py::arg("blank"),
        py::arg("zero_infinity"), py::arg("want_grad"), py::arg("force_log") = false,
        "(loss (N,), grad (T, N, C) or None) of the CTC loss of C-contiguous log_probs (T, N, C) "
        "(float32 / float64), int64 targets padded (N, S) or concatenated (sum of the target "
        "lengths), int64 input_lengths and target_lengths (N): loss[b] = -log p(target | input) "
        "(an impossible alignment: inf), grad = exp(log_probs) - the alignment posteriors "
        "(ATen's; zero past each input length, zero for an infinite loss with zero_infinity, "
        "else NaN), unscaled. force_log: every sample by the log-space recursions (tests).");
}

}  // namespace bind
}  // namespace dg
