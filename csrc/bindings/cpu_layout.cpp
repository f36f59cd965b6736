// Binding of flip: a C-contiguous array of 4- or 8-byte numeric elements (the kernel moves
// their bytes), flipped along dims in one pass (numpy's flip view copied reads backwards one
// element at a time).
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

py::array flip(const py::array& x, const std::vector<int64_t>& dims) {
  const int64_t nd = x.ndim(), size = x.itemsize();
  if (size != 4 && size != 8)
    throw py::type_error("x: expected 4- or 8-byte elements, got dtype " + dtype_str(x));
  // numbers only: the kernel copies bytes, and an object array's 8-byte elements are references
  // that a byte copy would not count (freed twice later: a segfault)
  const char kind = x.dtype().kind();
  if (std::string("fiucmM").find(kind) == std::string::npos)
    throw py::type_error("x: expected a numeric dtype, got " + dtype_str(x));
  if (!(x.flags() & py::array::c_style)) throw py::value_error("x: expected a C-contiguous array");
  std::vector<uint8_t> flag(static_cast<size_t>(nd), 0);
  for (int64_t d : dims) {
    if (d < 0 || d >= nd || flag[d])
      throw py::value_error("dims: expected distinct dims in [0, " + std::to_string(nd) + ")");
    flag[d] = 1;
  }
  // neighbouring dims flipped alike merge into one (size-1 dims drop out): few dims are left
  std::vector<int64_t> shape;
  std::vector<uint8_t> flip;
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t n = x.shape(d);
    if (n == 1) continue;
    if (!shape.empty() && flip.back() == flag[d]) {
      shape.back() *= n;
    } else {
      shape.push_back(n);
      flip.push_back(flag[d]);
    }
  }
  if (shape.empty()) {
    shape.push_back(1);
    flip.push_back(0);
  }
  std::vector<py::ssize_t> out_shape(x.shape(), x.shape() + nd);
  py::array out(x.dtype(), out_shape);
  const void* src = x.data();
  void* dst = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    const int k = static_cast<int>(shape.size());
    if (size == 4)
      flip_copy(static_cast<const float*>(src), static_cast<float*>(dst), shape.data(), flip.data(),
                k);
    else
      flip_copy(static_cast<const double*>(src), static_cast<double*>(dst), shape.data(),
                flip.data(), k);
  }
  return out;
}

}  // namespace

void bind_layout(py::module_& m) {
  m.def("flip", named("flip", &flip), py::arg("x"), py::arg("dims"),
        "x (C-contiguous, 4- or 8-byte elements) reversed along dims (distinct, in [0, ndim)).");
}

}  // namespace bind
}  // namespace dg
