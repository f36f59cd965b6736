// Bindings of the 3-D pooling kernels (csrc/cpu/pool3d.h): max_pool3d (+ int64 flat indices into
// each D*H*W volume), avg_pool3d, and their backward passes, on C-contiguous (N, C, D, H, W)
// float32 / float64 arrays. The geometry is checked here as torch checks it (kernel, stride,
// dilation >= 1, 0 <= padding <= kernel / 2, an output of at least one element per volume, a
// non-empty D, H and W) and the output size is torch's (ceil_mode included).
#include <array>
#include <string>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

using Triple = std::array<int64_t, 3>;

// An int or a sequence of three ints.
Triple triple_arg(py::handle h, const char* name) {
  if (PyIndex_Check(h.ptr()) && !PyBool_Check(h.ptr())) {
    const int64_t v = require_int(h, name);
    return {v, v, v};
  }
  if (!py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h) || py::len(h) != 3)
    throw py::type_error(std::string(name) + ": expected an int or three ints, got " +
                         py::repr(h).cast<std::string>());
  py::sequence s = py::reinterpret_borrow<py::sequence>(h);
  return {require_int(s[0], name), require_int(s[1], name), require_int(s[2], name)};
}

std::string triple_str(const Triple& t) {
  return "(" + std::to_string(t[0]) + ", " + std::to_string(t[1]) + ", " + std::to_string(t[2]) +
         ")";
}

void require_at_least(const Triple& t, int64_t lo, const char* name) {
  for (int64_t v : t)
    if (v < lo)
      throw py::value_error(std::string(name) + ": expected values >= " + std::to_string(lo) +
                            ", got " + triple_str(t));
}

void require_5d(const py::array& a, const char* name) {
  if (a.ndim() != 5)
    throw py::value_error(std::string(name) + ": expected a 5-D (N, C, D, H, W) array, got shape " +
                          shape_str(a));
}

std::vector<int64_t> shape5(py::handle h, const char* name) {
  if (!py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h) || py::len(h) != 5)
    throw py::type_error(std::string(name) +
                         ": expected a sequence of 5 ints (N, C, D, H, W), got " +
                         py::repr(h).cast<std::string>());
  py::sequence s = py::reinterpret_borrow<py::sequence>(h);
  std::vector<int64_t> v;
  int64_t total = 1;
  for (int i = 0; i < 5; ++i) {
    v.push_back(require_int(s[i], name));
    if (v.back() < 0)
      throw py::value_error(std::string(name) + ": expected sizes >= 0, got " +
                            py::repr(h).cast<std::string>());
    total = muladd_checked(total, v.back(), 0, name);
  }
  return v;
}

// The geometry of a (N, C, D, H, W) input pooled with these arguments; ValueError naming the
// argument for anything torch refuses. stride None (or empty): the kernel size.
Pool3dGeom geometry(const std::vector<int64_t>& shape, py::handle kernel, py::handle stride,
                    py::handle padding, py::handle dilation, bool ceil_mode) {
  const Triple k = triple_arg(kernel, "kernel_size");
  const bool no_stride =
      stride.is_none() || (py::isinstance<py::sequence>(stride) &&
                           !py::isinstance<py::str>(stride) && py::len(stride) == 0);
  const Triple s = no_stride ? k : triple_arg(stride, "stride");
  const Triple p = triple_arg(padding, "padding");
  const Triple d = triple_arg(dilation, "dilation");
  require_at_least(k, 1, "kernel_size");
  require_at_least(s, 1, "stride");
  require_at_least(d, 1, "dilation");
  require_at_least(p, 0, "padding");
  muladd_checked(muladd_checked(k[0], k[1], 0, "kernel_size"), k[2], 0, "kernel_size");
  for (int i = 0; i < 3; ++i)
    if (p[i] > k[i] / 2)
      throw py::value_error("padding: expected at most half of the kernel size " + triple_str(k) +
                            ", got " + triple_str(p));
  if (shape[2] == 0 || shape[3] == 0 || shape[4] == 0)
    throw py::value_error("input: expected a non-zero depth, height and width, got " +
                          triple_str({shape[2], shape[3], shape[4]}));
  Pool3dGeom g;
  g.planes = shape[0] * shape[1];
  g.d = shape[2];
  g.h = shape[3];
  g.w = shape[4];
  g.kd = k[0];
  g.kh = k[1];
  g.kw = k[2];
  g.sd = s[0];
  g.sh = s[1];
  g.sw = s[2];
  g.pd = p[0];
  g.ph = p[1];
  g.pw = p[2];
  g.dd = d[0];
  g.dh = d[1];
  g.dw = d[2];
  g.od = pool_out_size(g.d, g.kd, g.sd, g.pd, g.dd, ceil_mode);
  g.oh = pool_out_size(g.h, g.kh, g.sh, g.ph, g.dh, ceil_mode);
  g.ow = pool_out_size(g.w, g.kw, g.sw, g.pw, g.dw, ceil_mode);
  if (g.od < 1 || g.oh < 1 || g.ow < 1)
    throw py::value_error("kernel_size: the kernel " + triple_str(k) + " (dilation " +
                          triple_str(d) + ") is larger than the padded input " +
                          triple_str({g.d + 2 * g.pd, g.h + 2 * g.ph, g.w + 2 * g.pw}));
  return g;
}

std::vector<int64_t> out_shape(const std::vector<int64_t>& in, const Pool3dGeom& g) {
  return {in[0], in[1], g.od, g.oh, g.ow};
}

py::object max_pool3d(py::handle x_obj, py::handle kernel, py::handle stride, py::handle padding,
                      py::handle dilation, bool ceil_mode, bool return_indices) {
  py::array x = require_input(x_obj, "x");
  require_5d(x, "x");
  const Pool3dGeom g = geometry(shape_of(x), kernel, stride, padding, dilation, ceil_mode);
  const DType dt = dtype_of(x, "x");
  const std::vector<int64_t> oshape = out_shape(shape_of(x), g);
  py::array y = new_array(dt, oshape);
  py::array idx;
  if (return_indices)
    idx = py::array_t<int64_t>(std::vector<py::ssize_t>(oshape.begin(), oshape.end()));
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(y);
    int64_t* ip = return_indices ? static_cast<int64_t*>(idx.mutable_data()) : nullptr;
    py::gil_scoped_release nogil;
    max_pool3d_forward(xp, yp, ip, g);
  });
  if (return_indices) return py::make_tuple(y, idx);
  return std::move(y);
}

py::array max_pool3d_backward(py::handle dy_obj, py::handle idx_obj, py::handle input_shape,
                              py::handle kernel, py::handle stride, py::handle padding,
                              py::handle dilation, bool ceil_mode) {
  const std::vector<int64_t> shape = shape5(input_shape, "input_shape");
  const Pool3dGeom g = geometry(shape, kernel, stride, padding, dilation, ceil_mode);
  py::array dy = require_input(dy_obj, "dy");
  require_shape(dy, out_shape(shape, g), "dy");
  py::array idx = require_array(idx_obj, "indices");
  if (!idx.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("indices: expected dtype int64, got " + dtype_str(idx));
  require_contiguous(idx, "indices");
  require_aligned(idx, "indices");
  require_shape(idx, out_shape(shape, g), "indices");
  const DType dt = dtype_of(dy, "dy");
  py::array dx = new_array(dt, shape);
  int64_t bad = 0;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const int64_t* ip = static_cast<const int64_t*>(idx.data());
    T* dxp = mptr<T>(dx);
    py::gil_scoped_release nogil;
    bad = dg::max_pool3d_backward(dyp, ip, dxp, g);
  });
  if (bad)
    throw py::value_error("indices: " + std::to_string(bad) +
                          " indices lie outside the depth slices of their pooling window "
                          "(expected the indices max_pool3d returned for this geometry)");
  return dx;
}

py::array avg_pool3d(py::handle x_obj, py::handle kernel, py::handle stride, py::handle padding,
                     bool ceil_mode, bool count_include_pad, py::handle divisor_obj) {
  py::array x = require_input(x_obj, "x");
  require_5d(x, "x");
  const Pool3dGeom g = geometry(shape_of(x), kernel, stride, padding, py::int_(1), ceil_mode);
  const int64_t divisor = divisor_arg(divisor_obj);
  const DType dt = dtype_of(x, "x");
  py::array y = new_array(dt, out_shape(shape_of(x), g));
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(y);
    py::gil_scoped_release nogil;
    avg_pool3d_forward(xp, yp, g, count_include_pad, divisor);
  });
  return y;
}

py::array avg_pool3d_backward(py::handle dy_obj, py::handle input_shape, py::handle kernel,
                              py::handle stride, py::handle padding, bool ceil_mode,
                              bool count_include_pad, py::handle divisor_obj) {
  const std::vector<int64_t> shape = shape5(input_shape, "input_shape");
  const Pool3dGeom g = geometry(shape, kernel, stride, padding, py::int_(1), ceil_mode);
  const int64_t divisor = divisor_arg(divisor_obj);
  py::array dy = require_input(dy_obj, "dy");
  require_shape(dy, out_shape(shape, g), "dy");
  const DType dt = dtype_of(dy, "dy");
  py::array dx = new_array(dt, shape);
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    T* dxp = mptr<T>(dx);
    py::gil_scoped_release nogil;
    dg::avg_pool3d_backward(dyp, dxp, g, count_include_pad, divisor);
  });
  return dx;
}

}  // namespace

void bind_pool3d(py::module_& m) {
  m.def("max_pool3d", named("max_pool3d", &max_pool3d), py::arg("x"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("dilation") = 1,
        py::arg("ceil_mode") = false, py::arg("return_indices") = false,
        "3-D max pooling of a C-contiguous (N, C, D, H, W) float32 / float64 array, as "
        "torch.nn.functional.max_pool3d: y, or (y, int64 flat indices into each D*H*W volume) "
        "with return_indices (a NaN wins, the last one; ties: the first in (d, h, w) order).");
  m.def("max_pool3d_backward", named("max_pool3d_backward", &max_pool3d_backward), py::arg("dy"),
        py::arg("indices"), py::arg("input_shape"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("dilation") = 1,
        py::arg("ceil_mode") = false,
        "dx of max_pool3d: dy summed onto the input at the indices max_pool3d returned "
        "(deterministic: the same bits at any thread count).");
  m.def("avg_pool3d", named("avg_pool3d", &avg_pool3d), py::arg("x"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none(),
        "3-D average pooling of a C-contiguous (N, C, D, H, W) float32 / float64 array, as "
        "torch.nn.functional.avg_pool3d (count_include_pad, divisor_override).");
  m.def("avg_pool3d_backward", named("avg_pool3d_backward", &avg_pool3d_backward), py::arg("dy"),
        py::arg("input_shape"), py::arg("kernel_size"), py::arg("stride") = py::none(),
        py::arg("padding") = 0, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
        py::arg("divisor_override") = py::none(), "dx of avg_pool3d.");
}

}  // namespace bind
}  // namespace dg
