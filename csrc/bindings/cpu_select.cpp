// Binding of topk over the rows of a C-contiguous float32 / float64 matrix (k <= 64).
#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

py::tuple topk(py::handle x_obj, int64_t k, bool largest) {
  py::array x = require_input(x_obj, "x");
  require_ndim(x, 2, "x");
  const DType dt = dtype_of(x, "x");
  const int64_t rows = x.shape(0), n = x.shape(1);
  if (k < 1 || k > 64 || k > n)
    throw py::value_error("k: expected 1 <= k <= min(64, " + std::to_string(n) + "), got " +
                          std::to_string(k));
  py::array val = new_array(dt, {rows, k});
  py::array idx(py::dtype::of<int64_t>(), std::vector<py::ssize_t>{rows, k});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* vp = mptr<T>(val);
    int64_t* ip = static_cast<int64_t*>(idx.mutable_data());
    py::gil_scoped_release nogil;
    topk_rows(xp, rows, n, k, largest, vp, ip);
  });
  return py::make_tuple(val, idx);
}

}  // namespace

void bind_select(py::module_& m) {
  m.def("topk", named("topk", &topk), py::arg("x"), py::arg("k"), py::arg("largest") = true,
        "(values, int64 indices) of the k <= 64 best of each row of x (rows, n), in torch.topk's "
        "order: largest (or smallest) first, NaN above every number, ties by the earlier index.");
}

}  // namespace bind
}  // namespace dg
