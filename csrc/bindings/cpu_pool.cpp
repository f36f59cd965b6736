// Bindings of the 2-D pooling kernels (csrc/cpu/pool.h): max_pool2d (+ indices), avg_pool2d,
// adaptive_avg_pool2d, adaptive_max_pool2d (+ indices) and their backward passes, on C-contiguous
// (N, C, H, W) arrays. The geometry is checked here as torch checks it (kernel, stride, dilation
// >= 1, 0 <= padding <= kernel / 2, an output of at least one element per plane), and the output
// size is torch's.
#include <atomic>
#include <string>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

struct Pair {
  int64_t a, b;
};

// An int or a sequence of two ints.
Pair pair_arg(py::handle h, const char* name) {
  if (PyIndex_Check(h.ptr()) && !PyBool_Check(h.ptr())) {
    const int64_t v = require_int(h, name);
    return {v, v};
  }
  if (!py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h) || py::len(h) != 2)
    throw py::type_error(std::string(name) + ": expected an int or a pair of ints, got " +
                         py::repr(h).cast<std::string>());
  py::sequence s = py::reinterpret_borrow<py::sequence>(h);
  return {require_int(s[0], name), require_int(s[1], name)};
}

std::string pair_str(Pair p) {
  return "(" + std::to_string(p.a) + ", " + std::to_string(p.b) + ")";
}

void require_at_least(Pair p, int64_t lo, const char* name) {
  if (p.a < lo || p.b < lo)
    throw py::value_error(std::string(name) + ": expected values >= " + std::to_string(lo) +
                          ", got " + pair_str(p));
}

void require_4d(const py::array& a, const char* name) {
  if (a.ndim() != 4)
    throw py::value_error(std::string(name) + ": expected a 4-D (N, C, H, W) array, got shape " +
                          shape_str(a));
}

std::vector<int64_t> shape4(py::handle h, const char* name) {
  if (!py::isinstance<py::sequence>(h) || py::isinstance<py::str>(h) || py::len(h) != 4)
    throw py::type_error(std::string(name) + ": expected a sequence of 4 ints (N, C, H, W), got " +
                         py::repr(h).cast<std::string>());
  py::sequence s = py::reinterpret_borrow<py::sequence>(h);
  std::vector<int64_t> v;
  for (int i = 0; i < 4; ++i) {
    v.push_back(require_int(s[i], name));
    if (v.back() < 0)
      throw py::value_error(std::string(name) + ": expected sizes >= 0, got " +
                            py::repr(h).cast<std::string>());
  }
  return v;
}

// The geometry of x's shape (N, C, H, W) pooled with these arguments; ValueError naming the
// argument for anything torch refuses. stride None: the kernel size.
Pool2dGeom geometry(const std::vector<int64_t>& shape, py::handle kernel, py::handle stride,
                    py::handle padding, py::handle dilation, bool ceil_mode) {
  const Pair k = pair_arg(kernel, "kernel_size");
  const Pair s = stride.is_none() ? k : pair_arg(stride, "stride");
  const Pair p = pair_arg(padding, "padding");
  const Pair d = pair_arg(dilation, "dilation");
  require_at_least(k, 1, "kernel_size");
  require_at_least(s, 1, "stride");
  require_at_least(d, 1, "dilation");
  require_at_least(p, 0, "padding");
  muladd_checked(k.a, k.b, 0, "kernel_size");  // the average's count_include_pad divisor
  if (p.a > k.a / 2 || p.b > k.b / 2)
    throw py::value_error("padding: expected at most half of the kernel size " + pair_str(k) +
                          ", got " + pair_str(p));
  Pool2dGeom g;
  g.planes = shape[0] * shape[1];
  g.h = shape[2];
  g.w = shape[3];
  g.kh = k.a;
  g.kw = k.b;
  g.sh = s.a;
  g.sw = s.b;
  g.ph = p.a;
  g.pw = p.b;
  g.dh = d.a;
  g.dw = d.b;
  g.oh = pool_out_size(g.h, g.kh, g.sh, g.ph, g.dh, ceil_mode);
  g.ow = pool_out_size(g.w, g.kw, g.sw, g.pw, g.dw, ceil_mode);
  if (g.oh < 1 || g.ow < 1)  // the dilated window's extent, not the (negative) output size
    throw py::value_error(
        "kernel_size: the kernel " + pair_str(k) + " (dilation " + pair_str(d) + ", spanning " +
        pair_str({muladd_checked(d.a, k.a - 1, 1, "dilation"),
                  muladd_checked(d.b, k.b - 1, 1, "dilation")}) +
        ") is larger than the padded input " + pair_str({g.h + 2 * g.ph, g.w + 2 * g.pw}));
  if (g.h == 0 ||
      g.w == 0)  // padding alone gave windows: none holds an input element (torch raises)
    throw py::value_error("input: expected non-zero height and width, got " + pair_str({g.h, g.w}) +
                          " (every window would lie in the padding)");
  return g;
}

// An output: a new array for None, else a writable C-contiguous array of the right dtype and
// shape sharing no memory with the inputs (never silently copied).
void check_disjoint(const py::array& out, std::initializer_list<const py::array*> inputs,
                    const char* name) {
  for (const py::array* in : inputs)
    if (may_overlap(out, *in))
      throw py::value_error(std::string(name) + ": expected memory disjoint from the inputs");
}

py::array float_out(py::handle h, DType dt, const std::vector<int64_t>& shape,
                    std::initializer_list<const py::array*> inputs, const char* name) {
  if (h.is_none()) return new_array(dt, shape);
  py::array out = require_array(h, name);
  require_out(out, dt, shape, name);
  require_contiguous(out, name);
  require_aligned(out, name);
  check_disjoint(out, inputs, name);
  return out;
}

py::array index_out(py::handle h, const std::vector<int64_t>& shape,
                    std::initializer_list<const py::array*> inputs, const char* name) {
  if (h.is_none())
    return py::array_t<int64_t>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
  py::array out = require_array(h, name);
  if (!out.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error(std::string(name) + ": expected dtype int64, got " + dtype_str(out));
  require_shape(out, shape, name);
  if (!out.writeable())
    throw py::value_error(std::string(name) + ": expected a writable array, got a read-only one");
  require_contiguous(out, name);
  require_aligned(out, name);
  check_disjoint(out, inputs, name);
  return out;
}

std::vector<int64_t> out_shape(const std::vector<int64_t>& in, const Pool2dGeom& g) {
  return {in[0], in[1], g.oh, g.ow};
}

py::object max_pool2d(py::handle x_obj, py::handle kernel, py::handle stride, py::handle padding,
                      py::handle dilation, bool ceil_mode, bool return_indices, py::handle out_obj,
                      py::handle indices_out) {
  py::array x = require_input(x_obj, "x");
  require_4d(x, "x");
  const Pool2dGeom g = geometry(shape_of(x), kernel, stride, padding, dilation, ceil_mode);
  const DType dt = dtype_of(x, "x");
  const std::vector<int64_t> oshape = out_shape(shape_of(x), g);
  py::array y = float_out(out_obj, dt, oshape, {&x}, "out");
  py::array idx;
  if (return_indices) idx = index_out(indices_out, oshape, {&x, &y}, "indices_out");
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(y);
    int64_t* ip = return_indices ? static_cast<int64_t*>(idx.mutable_data()) : nullptr;
    py::gil_scoped_release nogil;
    max_pool2d_forward(xp, yp, ip, g);
  });
  if (return_indices) return py::make_tuple(y, idx);
  return std::move(y);
}

py::array max_pool2d_backward(py::handle dy_obj, py::handle idx_obj, py::handle input_shape,
                              py::handle kernel, py::handle stride, py::handle padding,
                              py::handle dilation, bool ceil_mode, py::handle out_obj) {
  const std::vector<int64_t> shape = shape4(input_shape, "input_shape");
  const Pool2dGeom g = geometry(shape, kernel, stride, padding, dilation, ceil_mode);
  py::array dy = require_input(dy_obj, "dy");
  require_shape(dy, out_shape(shape, g), "dy");
  py::array idx = require_array(idx_obj, "indices");
  if (!idx.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("indices: expected dtype int64, got " + dtype_str(idx));
  require_contiguous(idx, "indices");
  require_aligned(idx, "indices");
  require_shape(idx, out_shape(shape, g), "indices");
  const DType dt = dtype_of(dy, "dy");
  py::array dx = float_out(out_obj, dt, shape, {&dy, &idx}, "out");
  int64_t bad = 0;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const int64_t* ip = static_cast<const int64_t*>(idx.data());
    T* dxp = mptr<T>(dx);
    py::gil_scoped_release nogil;
    bad = dg::max_pool2d_backward(dyp, ip, dxp, g);
  });
  if (bad)
    throw py::value_error("indices: " + std::to_string(bad) +
                          " indices lie outside the rows of their pooling window (expected the "
                          "indices max_pool2d returned for this geometry)");
  return dx;
}

// The training path (functional.max_pool2d under autograd): y and what its backward needs, the
// 2x2/2 layer's 1-byte window codes (cpu/pool.h, "window codes": an eighth of the indices'
// bytes) where the CPU has that fast path, else torch's int64 indices. The codes' array starts
// on a cache line (the forward writes it as whole lines).
py::tuple max_pool2d_train(py::handle x_obj, py::handle kernel, py::handle stride,
                           py::handle padding, py::handle dilation, bool ceil_mode,
                           py::handle out_obj, py::handle saved_out) {
  py::array x = require_input(x_obj, "x");
  require_4d(x, "x");
  const Pool2dGeom g = geometry(shape_of(x), kernel, stride, padding, dilation, ceil_mode);
  const DType dt = dtype_of(x, "x");
  const std::vector<int64_t> oshape = out_shape(shape_of(x), g);
  py::array y = float_out(out_obj, dt, oshape, {&x}, "out");
  // saved_out: a uint8 array takes codes (refused where there are none), an int64 one indices
  bool want_codes = true, have_codes = false;
  py::array codes;  // (a default py::array is an empty array, not a null handle)
  if (!saved_out.is_none()) {
    py::array so = require_array(saved_out, "saved_out");
    if (so.dtype().equal(py::dtype::of<int64_t>())) {
      want_codes = false;
    } else if (so.dtype().equal(py::dtype::of<uint8_t>())) {
      require_shape(so, oshape, "saved_out");
      if (!so.writeable())
        throw py::value_error("saved_out: expected a writable array, got a read-only one");
      require_contiguous(so, "saved_out");
      check_disjoint(so, {&x, &y}, "saved_out");
      codes = so;
      have_codes = true;
    } else {
      throw py::type_error(
          "saved_out: expected dtype uint8 (window codes) or int64 (indices), "
          "got " +
          dtype_str(so));
    }
  }
  if (want_codes) {
    if (!have_codes) {  // a new array starting on a cache line (the forward writes whole lines)
      const int64_t n = oshape[0] * oshape[1] * oshape[2] * oshape[3];
      py::array_t<uint8_t> buf(static_cast<py::ssize_t>(n + 64));
      uint8_t* const raw = buf.mutable_data();
      uint8_t* const cp = raw + (64 - reinterpret_cast<uintptr_t>(raw) % 64) % 64;
      const std::vector<py::ssize_t> sh(oshape.begin(), oshape.end());
      const std::vector<py::ssize_t> strides{sh[1] * sh[2] * sh[3], sh[2] * sh[3], sh[3], 1};
      codes = py::array(py::dtype::of<uint8_t>(), sh, strides, cp, buf);
    }
    bool coded = false;
    dispatch_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      const T* xp = cptr<T>(x);
      T* yp = mptr<T>(y);
      uint8_t* cp = static_cast<uint8_t*>(codes.mutable_data());
      py::gil_scoped_release nogil;
      coded = max_pool2d_forward_codes(xp, yp, cp, g);
    });
    if (coded) return py::make_tuple(y, codes);
    if (!saved_out.is_none())
      throw py::value_error(
          "saved_out: window codes exist only for 2x2 windows at stride 2 "
          "without padding on an AVX2 or AVX-512 CPU; pass an int64 array");
  }
  py::array idx = index_out(saved_out, oshape, {&x, &y}, "saved_out");
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(y);
    int64_t* ip = static_cast<int64_t*>(idx.mutable_data());
    py::gil_scoped_release nogil;
    max_pool2d_forward(xp, yp, ip, g);
  });
  return py::make_tuple(y, idx);
}

// Its backward: `saved` as max_pool2d_train returned it (uint8 codes or int64 indices).
py::array max_pool2d_train_backward(py::handle dy_obj, py::handle saved_obj, py::handle input_shape,
                                    py::handle kernel, py::handle stride, py::handle padding,
                                    py::handle dilation, bool ceil_mode, py::handle out_obj) {
  py::array saved = require_array(saved_obj, "saved");
  if (saved.dtype().equal(py::dtype::of<int64_t>()))
    return max_pool2d_backward(dy_obj, saved_obj, input_shape, kernel, stride, padding, dilation,
                               ceil_mode, out_obj);
  if (!saved.dtype().equal(py::dtype::of<uint8_t>()))
    throw py::type_error(
        "saved: expected the uint8 window codes or int64 indices max_pool2d_train "
        "returned, got dtype " +
        dtype_str(saved));
  const std::vector<int64_t> shape = shape4(input_shape, "input_shape");
  const Pool2dGeom g = geometry(shape, kernel, stride, padding, dilation, ceil_mode);
  const bool two_by_two = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 &&
                          g.pw == 0 && g.dh == 1 && g.dw == 1 && 2 * g.oh <= g.h && 2 * g.ow <= g.w;
  if (!two_by_two)
    throw py::value_error(
        "saved: window codes exist only for 2x2 windows at stride 2 without "
        "padding or a partial window; expected int64 indices for this geometry");
  py::array dy = require_input(dy_obj, "dy");
  require_shape(dy, out_shape(shape, g), "dy");
  require_contiguous(saved, "saved");
  require_shape(saved, out_shape(shape, g), "saved");
  const DType dt = dtype_of(dy, "dy");
  py::array dx = float_out(out_obj, dt, shape, {&dy, &saved}, "out");
  int64_t bad = 0;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const uint8_t* cp = static_cast<const uint8_t*>(saved.data());
    T* dxp = mptr<T>(dx);
    py::gil_scoped_release nogil;
    bad = max_pool2d_backward_codes(dyp, cp, dxp, g);
    if (bad < 0) {  // this ISA (DG_CPU_ISA changed since the forward): the codes as indices
      const int64_t ohw = g.oh * g.ow;
      std::vector<int64_t> idx(static_cast<size_t>(g.planes * ohw));
      for (int64_t i = 0; i < g.planes * ohw; ++i) {
        const int64_t r = (i % ohw) / g.ow, o = i % g.ow, c = cp[i];
        idx[i] = c < 4 ? (2 * r + (c >> 1)) * g.w + 2 * o + (c & 1) : -1;
      }
      bad = dg::max_pool2d_backward(dyp, idx.data(), dxp, g);
    }
  });
  if (bad)
    throw py::value_error("saved: " + std::to_string(bad) +
                          " window codes are not 0-3 (expected the codes max_pool2d_train "
                          "returned for this geometry)");
  return dx;
}

py::array avg_pool2d(py::handle x_obj, py::handle kernel, py::handle stride, py::handle padding,
                     bool ceil_mode, bool count_include_pad, py::handle divisor_obj,
                     py::handle out_obj) {
  py::array x = require_input(x_obj, "x");
  require_4d(x, "x");
  const Pool2dGeom g = geometry(shape_of(x), kernel, stride, padding, py::int_(1), ceil_mode);
  const int64_t divisor = divisor_arg(divisor_obj);
  const DType dt = dtype_of(x, "x");
  py::array y = float_out(out_obj, dt, out_shape(shape_of(x), g), {&x}, "out");
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(y);
    py::gil_scoped_release nogil;
    avg_pool2d_forward(xp, yp, g, count_include_pad, divisor);
  });
  return y;
}

py::array avg_pool2d_backward(py::handle dy_obj, py::handle input_shape, py::handle kernel,
                              py::handle stride, py::handle padding, bool ceil_mode,
                              bool count_include_pad, py::handle divisor_obj, py::handle out_obj) {
  const std::vector<int64_t> shape = shape4(input_shape, "input_shape");
  const Pool2dGeom g = geometry(shape, kernel, stride, padding, py::int_(1), ceil_mode);
  const int64_t divisor = divisor_arg(divisor_obj);
  py::array dy = require_input(dy_obj, "dy");
  require_shape(dy, out_shape(shape, g), "dy");
  const DType dt = dtype_of(dy, "dy");
  py::array dx = float_out(out_obj, dt, shape, {&dy}, "out");
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    T* dxp = mptr<T>(dx);
    py::gil_scoped_release nogil;
    dg::avg_pool2d_backward(dyp, dxp, g, count_include_pad, divisor);
  });
  return dx;
}

Pair adaptive_out(py::handle h) {
  const Pair o = pair_arg(h, "output_size");
  require_at_least(o, 0, "output_size");
  return o;
}

py::array adaptive_avg_pool2d(py::handle x_obj, py::handle output_size, py::handle out_obj) {
  py::array x = require_input(x_obj, "x");
  require_4d(x, "x");
  const Pair o = adaptive_out(output_size);
  if ((x.shape(2) == 0 || x.shape(3) == 0) && o.a * o.b > 0)
    throw py::value_error("x: expected non-zero height and width, got shape " + shape_str(x));
  const DType dt = dtype_of(x, "x");
  py::array y = float_out(out_obj, dt, {x.shape(0), x.shape(1), o.a, o.b}, {&x}, "out");
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(y);
    const int64_t planes = x.shape(0) * x.shape(1), h = x.shape(2), w = x.shape(3);
    py::gil_scoped_release nogil;
    adaptive_avg_pool2d_forward(xp, yp, planes, h, w, o.a, o.b);
  });
  return y;
}

// The adaptive passes' backward arguments: input_shape (N, C, H, W) and dy (N, C, oh, ow), any
// output size, but a non-empty output needs a non-empty plane.
struct AdaptiveGrad {
  std::vector<int64_t> shape;
  py::array dy;
  int64_t oh, ow;
};
AdaptiveGrad adaptive_grad(py::handle dy_obj, py::handle input_shape) {
  AdaptiveGrad a{shape4(input_shape, "input_shape"), require_input(dy_obj, "dy"), 0, 0};
  require_4d(a.dy, "dy");
  if (a.dy.shape(0) != a.shape[0] || a.dy.shape(1) != a.shape[1])
    throw py::value_error("dy: expected shape (" + std::to_string(a.shape[0]) + ", " +
                          std::to_string(a.shape[1]) + ", oh, ow), got " + shape_str(a.dy));
  a.oh = a.dy.shape(2);
  a.ow = a.dy.shape(3);
  if ((a.shape[2] == 0 || a.shape[3] == 0) && a.oh * a.ow > 0)
    throw py::value_error("input_shape: expected non-zero height and width");
  return a;
}

py::array adaptive_avg_pool2d_backward(py::handle dy_obj, py::handle input_shape,
                                       py::handle out_obj) {
  const AdaptiveGrad a = adaptive_grad(dy_obj, input_shape);
  const DType dt = dtype_of(a.dy, "dy");
  py::array dx = float_out(out_obj, dt, a.shape, {&a.dy}, "out");
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(a.dy);
    T* dxp = mptr<T>(dx);
    const std::vector<int64_t>& sh = a.shape;
    py::gil_scoped_release nogil;
    dg::adaptive_avg_pool2d_backward(dyp, dxp, sh[0] * sh[1], sh[2], sh[3], a.oh, a.ow);
  });
  return dx;
}

// Adaptive max pooling: (y, the int64 flat index of each maximum in its H * W plane), always:
// the indices are what the backward takes.
py::tuple adaptive_max_pool2d(py::handle x_obj, py::handle output_size, py::handle out_obj,
                              py::handle indices_out) {
  py::array x = require_input(x_obj, "x");
  require_4d(x, "x");
  const Pair o = adaptive_out(output_size);
  if ((x.shape(2) == 0 || x.shape(3) == 0) && o.a * o.b > 0)
    throw py::value_error("x: expected non-zero height and width, got shape " + shape_str(x));
  const DType dt = dtype_of(x, "x");
  const std::vector<int64_t> oshape = {x.shape(0), x.shape(1), o.a, o.b};
  py::array y = float_out(out_obj, dt, oshape, {&x}, "out");
  py::array idx = index_out(indices_out, oshape, {&x, &y}, "indices_out");
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(x);
    T* yp = mptr<T>(y);
    int64_t* ip = static_cast<int64_t*>(idx.mutable_data());
    const int64_t planes = x.shape(0) * x.shape(1), h = x.shape(2), w = x.shape(3);
    py::gil_scoped_release nogil;
    dg::adaptive_max_pool2d_forward(xp, yp, ip, planes, h, w, o.a, o.b);
  });
  return py::make_tuple(y, idx);
}

py::array adaptive_max_pool2d_backward(py::handle dy_obj, py::handle idx_obj,
                                       py::handle input_shape, py::handle out_obj) {
  const AdaptiveGrad a = adaptive_grad(dy_obj, input_shape);
  py::array idx = require_array(idx_obj, "indices");
  if (!idx.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("indices: expected dtype int64, got " + dtype_str(idx));
  require_contiguous(idx, "indices");
  require_aligned(idx, "indices");
  require_shape(idx, shape_of(a.dy), "indices");
  const DType dt = dtype_of(a.dy, "dy");
  py::array dx = float_out(out_obj, dt, a.shape, {&a.dy, &idx}, "out");
  int64_t bad = 0;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(a.dy);
    const int64_t* ip = static_cast<const int64_t*>(idx.data());
    T* dxp = mptr<T>(dx);
    const std::vector<int64_t>& sh = a.shape;
    py::gil_scoped_release nogil;
    bad = dg::adaptive_max_pool2d_backward(dyp, ip, dxp, sh[0] * sh[1], sh[2], sh[3], a.oh, a.ow);
  });
  if (bad)
    throw py::value_error("indices: " + std::to_string(bad) +
                          " indices lie outside their adaptive pooling window (expected the "
                          "indices adaptive_max_pool2d returned for this input size)");
  return dx;
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool2d", named("max_pool2d", &max_pool2d), py::arg("x"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("dilation") = 1,
        py::arg("ceil_mode") = false, py::arg("return_indices") = false, py::kw_only(),
        py::arg("out") = py::none(), py::arg("indices_out") = py::none(),
        "Max pooling of (N, C, H, W); with return_indices, (y, flat int64 indices into H*W).");
  m.def("max_pool2d_backward", named("max_pool2d_backward", &max_pool2d_backward), py::arg("dy"),
        py::arg("indices"), py::arg("input_shape"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("dilation") = 1,
        py::arg("ceil_mode") = false, py::kw_only(), py::arg("out") = py::none(),
        "dx of max_pool2d: dy scattered to the indices.");
  m.def("max_pool2d_train", named("max_pool2d_train", &max_pool2d_train), py::arg("x"),
        py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::kw_only(),
        py::arg("out") = py::none(), py::arg("saved_out") = py::none(),
        "(y, saved) for training: saved is uint8 window codes (2x2/2 windows) or int64 indices.");
  m.def("max_pool2d_train_backward", named("max_pool2d_train_backward", &max_pool2d_train_backward),
        py::arg("dy"), py::arg("saved"), py::arg("input_shape"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("dilation") = 1,
        py::arg("ceil_mode") = false, py::kw_only(), py::arg("out") = py::none(),
        "dx of max_pool2d_train from its saved codes or indices.");
  m.def("avg_pool2d", named("avg_pool2d", &avg_pool2d), py::arg("x"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none(),
        py::kw_only(), py::arg("out") = py::none(),
        "Average pooling of (N, C, H, W), torch's divisors.");
  m.def("avg_pool2d_backward", named("avg_pool2d_backward", &avg_pool2d_backward), py::arg("dy"),
        py::arg("input_shape"), py::arg("kernel_size"), py::arg("stride") = py::none(),
        py::arg("padding") = 0, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
        py::arg("divisor_override") = py::none(), py::kw_only(), py::arg("out") = py::none(),
        "dx of avg_pool2d.");
  m.def("adaptive_avg_pool2d", named("adaptive_avg_pool2d", &adaptive_avg_pool2d), py::arg("x"),
        py::arg("output_size"), py::kw_only(), py::arg("out") = py::none(),
        "Adaptive average pooling of (N, C, H, W) to output_size.");
  m.def("adaptive_max_pool2d", named("adaptive_max_pool2d", &adaptive_max_pool2d), py::arg("x"),
        py::arg("output_size"), py::kw_only(), py::arg("out") = py::none(),
        py::arg("indices_out") = py::none(),
        "Adaptive max pooling of (N, C, H, W): (y, flat int64 indices into H*W).");
  m.def("adaptive_max_pool2d_backward",
        named("adaptive_max_pool2d_backward", &adaptive_max_pool2d_backward), py::arg("dy"),
        py::arg("indices"), py::arg("input_shape"), py::kw_only(), py::arg("out") = py::none(),
        "dx of adaptive_max_pool2d: dy scattered (summed) to the indices.");
  m.def("adaptive_avg_pool2d_backward",
        named("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward), py::arg("dy"),
        py::arg("input_shape"), py::kw_only(), py::arg("out") = py::none(),
        "dx of adaptive_avg_pool2d.");
  m.def(
      "_pool_generic_only", [](bool on) { return pool_generic_only.exchange(on); }, py::arg("on"),
      "Tests only: True sends every pooling pass down the generic kernels (the fast paths' "
      "oracle); returns the previous setting.");
  m.def(
      "_pool_stream_bytes", [](int64_t n) { return pool_stream_bytes.exchange(n); },
      py::arg("nbytes"),
      "Tests only: outputs of at least nbytes are written with non-temporal stores (default "
      "16 MiB); returns the previous setting.");
}

}  // namespace bind
}  // namespace dg
