// Binding of reduce_sum: the sum (times a scale) over one run of consecutive axes; dg.ops.sum,
// mean and sum_to_shape are built on it.
#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

py::array reduce(py::handle x_obj, py::handle start_obj, py::handle stop_obj, double scale) {
  const int64_t start = require_int(start_obj, "start"), stop = require_int(stop_obj, "stop");
  py::array x = require_input(x_obj, "x");
  const int64_t nd = x.ndim();
  if (start < 0 || stop > nd || start > stop)
    throw py::value_error("axes: expected 0 <= start <= stop <= " + std::to_string(nd) + ", got [" +
                          std::to_string(start) + ", " + std::to_string(stop) + ")");
  int64_t outer = 1, r = 1, inner = 1;
  std::vector<int64_t> shape;
  for (int64_t i = 0; i < nd; ++i) {
    if (i < start) {
      outer *= x.shape(i);
      shape.push_back(x.shape(i));
    } else if (i < stop)
      r *= x.shape(i);
    else {
      inner *= x.shape(i);
      shape.push_back(x.shape(i));
    }
  }
  const DType dt = dtype_of(x, "x");
  py::array out = new_array(dt, shape);
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* op = mptr<T>(out);
    py::gil_scoped_release nogil;
    if (outer * inner > 0) reduce_sum(xp, op, outer, r, inner, static_cast<T>(scale));
  });
  return out;
}

}  // namespace

void bind_reduce(py::module_& m) {
  m.def("reduce_sum", named("reduce_sum", &reduce), py::arg("x"), py::arg("start"), py::arg("stop"),
        py::arg("scale") = 1.0,
        "scale * x summed over the axes [start, stop) (removed from the shape).");
}

}  // namespace bind
}  // namespace dg
