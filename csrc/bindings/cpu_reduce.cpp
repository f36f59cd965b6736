// Bindings of reduce_sum: the sum (times a scale) over one run of consecutive axes (dg.ops.sum,
// mean and sum_to_shape are built on it); and index_add_, rows added in place at indices along
// one axis (dg.ops.index_add); scatter_reduce_, an index per element (dg.ops.scatter_reduce);
// and cumulative, running sums / products (dg.ops.cumsum / cumprod).
#include "bindings/cpu_common.h"
#include "bindings/index_error.h"

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

// cumsum / cumprod of x along axis (from the end when reverse), a new array of x's shape and
// dtype; float32 accumulates in double (torch's CPU kernels do the same).
py::array cumulative_(py::handle x_obj, py::handle axis_obj, bool prod, bool reverse) {
  py::array x = require_input(x_obj, "x");
  const int64_t nd = x.ndim(), axis = require_int(axis_obj, "axis");
  if (axis < 0 || axis >= nd)
    throw py::value_error("axis: expected 0 <= axis < " + std::to_string(nd) + " (x's ndim), got " +
                          std::to_string(axis));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.shape(i);
  for (int64_t i = axis + 1; i < nd; ++i) inner *= x.shape(i);
  const int64_t n = x.shape(axis);
  const DType dt = dtype_of(x, "x");
  py::array out = new_array(dt, shape_of(x));
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(out);
    py::gil_scoped_release nogil;
    if (outer * n * inner > 0) cumulative(xp, yp, outer, n, inner, prod, reverse);
  });
  return out;
}

// The kernels' reduction op code: 0 sum, 1 prod, 2 amax, 3 amin.
int reduce_op(const std::string& reduce) {
  static const char* kOps[] = {"sum", "prod", "amax", "amin"};
  for (int k = 0; k < 4; ++k)
    if (reduce == kOps[k]) return k;
  throw py::value_error("reduce: expected 'sum', 'prod', 'amax' or 'amin', got '" + reduce + "'");
}

// out.index_add_(dim, index, src) for a C-contiguous out and src of one float dtype and an
// int64 index: out[..., index[j], ...] += src[..., j, ...] (reduce "sum"; or prod / amax /
// amin: index_reduce_ with include_self). In place; returns nothing.
void index_add_(py::handle out_obj, py::handle dim_obj, py::handle idx_obj, py::handle src_obj,
                const std::string& reduce) {
  const int op = reduce_op(reduce);
  py::array out = require_array(out_obj, "out");
  const DType dt = dtype_of(out, "out");
  require_out(out, dt, shape_of(out), "out");
  require_contiguous(out, "out");
  require_aligned(out, "out");
  py::array src = require_input(src_obj, "source");
  require_dtype(src, dt, "source");
  require_aligned(src, "source");
  py::array idx = require_array(idx_obj, "index");
  if (!idx.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("index: expected dtype int64, got " + dtype_str(idx));
  require_ndim(idx, 1, "index");
  require_contiguous(idx, "index");
  require_aligned(idx, "index");
  const int64_t nd = out.ndim(), dim = require_int(dim_obj, "dim");
  if (nd == 0 || dim < 0 || dim >= nd)
    throw py::value_error("dim: expected 0 <= dim < " + std::to_string(nd) + " (out's ndim), got " +
                          std::to_string(dim));
  std::vector<int64_t> want = shape_of(out);
  want[dim] = idx.shape(0);
  require_shape(src, want, "source");
  if (may_overlap(out, src) || may_overlap(out, idx))
    throw py::value_error("out: expected an array sharing no memory with source and index");
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= out.shape(i);
  for (int64_t i = dim + 1; i < nd; ++i) inner *= out.shape(i);
  const int64_t n = out.shape(dim), m = idx.shape(0);
  const int64_t* ip = static_cast<const int64_t*>(idx.data());
  for (int64_t j = 0; j < m; ++j)
    if (ip[j] < 0 || ip[j] >= n)
      throw index_range_error("index_add: index: " + std::to_string(ip[j]) +
                              " is out of range [0, " + std::to_string(n) + ") for dim " +
                              std::to_string(dim));
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    T* o_ = mptr<T>(out);
    const T* sp = cptr<T>(src);
    py::gil_scoped_release nogil;
    if (outer * m * inner > 0) index_reduce(o_, ip, sp, outer, n, m, inner, op);
  });
}

// out.scatter_reduce_(dim, index, src, reduce) for a C-contiguous out of one float dtype, an
// int64 index of out's ndim and src of the index's shape; index and out agree on every axis
// but dim. In place; returns nothing.
void scatter_reduce_(py::handle out_obj, py::handle dim_obj, py::handle idx_obj, py::handle src_obj,
                     const std::string& reduce) {
  const int op = reduce_op(reduce);
  py::array out = require_array(out_obj, "out");
  const DType dt = dtype_of(out, "out");
  require_out(out, dt, shape_of(out), "out");
  require_contiguous(out, "out");
  require_aligned(out, "out");
  py::array idx = require_array(idx_obj, "index");
  if (!idx.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("index: expected dtype int64, got " + dtype_str(idx));
  require_contiguous(idx, "index");
  require_aligned(idx, "index");
  py::array src = require_input(src_obj, "src");
  require_dtype(src, dt, "src");
  require_aligned(src, "src");
  const int64_t nd = out.ndim(), dim = require_int(dim_obj, "dim");
  if (nd == 0 || dim < 0 || dim >= nd)
    throw py::value_error("dim: expected 0 <= dim < " + std::to_string(nd) + " (out's ndim), got " +
                          std::to_string(dim));
  require_ndim(idx, nd, "index");
  std::vector<int64_t> want = shape_of(out);
  want[dim] = idx.shape(dim);
  require_shape(idx, want, "index");
  require_shape(src, want, "src");
  if (may_overlap(out, src) || may_overlap(out, idx))
    throw py::value_error("out: expected an array sharing no memory with src and index");
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= out.shape(i);
  for (int64_t i = dim + 1; i < nd; ++i) inner *= out.shape(i);
  const int64_t n = out.shape(dim), m = idx.shape(dim), total = outer * m * inner;
  const int64_t* ip = static_cast<const int64_t*>(idx.data());
  for (int64_t j = 0; j < total; ++j)
    if (ip[j] < 0 || ip[j] >= n)
      throw index_range_error("scatter_reduce: index: " + std::to_string(ip[j]) +
                              " is out of range [0, " + std::to_string(n) + ") for dim " +
                              std::to_string(dim));
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    T* op_ = mptr<T>(out);
    const T* sp = cptr<T>(src);
    py::gil_scoped_release nogil;
    if (total > 0) scatter_reduce(op_, ip, sp, outer, n, m, inner, op);
  });
}

}  // namespace

void bind_reduce(py::module_& m) {
  m.def("reduce_sum", named("reduce_sum", &reduce), py::arg("x"), py::arg("start"), py::arg("stop"),
        py::arg("scale") = 1.0,
        "scale * x summed over the axes [start, stop) (removed from the shape).");
  m.def("index_add_", named("index_add", &index_add_), py::arg("out"), py::arg("dim"),
        py::arg("index"), py::arg("source"), py::arg("reduce") = "sum",
        "out[..., index[j], ...] += source[..., j, ...] in place (C-contiguous out and source of "
        "one float dtype, int64 index in [0, out.shape[dim])); the order of np.add.at. reduce: "
        "'sum', or 'prod' / 'amax' / 'amin' (np.multiply.at / maximum.at / minimum.at).");
  m.def("cumulative", named("cumulative", &cumulative_), py::arg("x"), py::arg("axis"),
        py::arg("prod") = false, py::arg("reverse") = false,
        "Running sums (prod: products) of x along axis, from the end when reverse; float32 "
        "accumulates in double.");
  m.def("scatter_reduce_", named("scatter_reduce", &scatter_reduce_), py::arg("out"),
        py::arg("dim"), py::arg("index"), py::arg("src"), py::arg("reduce"),
        "out[..., index[..., j, ...], ...] op= src[..., j, ...] in place, an index per element "
        "(C-contiguous float out; int64 index and src of one shape, out's but along dim); op: "
        "'sum', 'prod', 'amax', 'amin'; the order (and bits) of np.<ufunc>.at.");
}

}  // namespace bind
}  // namespace dg
