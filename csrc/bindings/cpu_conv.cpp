// Bindings of Conv2d (csrc/cpu/conv.h): conv2d_forward and conv2d_backward, NCHW, float32 and
// float64. Every argument is checked here (the kernels never validate), each error naming the
// op and the argument; the GIL is released while the kernel runs.
#include <string>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

// An int or a sequence of two ints: (first, second).
std::pair<int64_t, int64_t> int_pair(py::handle h, const char* name) {
  if (PyLong_Check(h.ptr()) || (PyIndex_Check(h.ptr()) && !PySequence_Check(h.ptr()))) {
    const int64_t v = require_int(h, name);
    return {v, v};
  }
  if (!PySequence_Check(h.ptr()) || PyUnicode_Check(h.ptr()))
    throw py::type_error(std::string(name) + ": expected an int or a pair of ints, got " +
                         std::string(Py_TYPE(h.ptr())->tp_name));
  py::sequence s = py::reinterpret_borrow<py::sequence>(h);
  if (s.size() != 2)
    throw py::value_error(std::string(name) + ": expected an int or a pair of ints, got " +
                          std::to_string(s.size()) + " values");
  return {require_int(s[0], name), require_int(s[1], name)};
}

ConvAlgo algo_from_name(const std::string& a) {
  if (a == "auto") return ConvAlgo::automatic;
  if (a == "gemm") return ConvAlgo::gemm;
  if (a == "direct") return ConvAlgo::direct;
  if (a == "tap") return ConvAlgo::tap;
  if (a == "winograd") return ConvAlgo::winograd;
  throw py::value_error("algo: expected 'auto', 'gemm', 'tap', 'winograd' or 'direct', got '" + a +
                        "'");
}

// algo='winograd' (F(2x2, 3x3), csrc/cpu/winograd.h) applies only to 3x3, stride 1, dilation 1,
// one group, padding <= 2 (dx is then the same kind of convolution).
// "kernel 3x3, stride (1, 1), dilation (1, 1), groups 1, padding (1, 1)", for the algo errors
std::string geometry(const Conv2dParams& p) {
  return "kernel " + std::to_string(p.kh) + "x" + std::to_string(p.kw) + ", stride (" +
         std::to_string(p.sh) + ", " + std::to_string(p.sw) + "), dilation (" +
         std::to_string(p.dh) + ", " + std::to_string(p.dw) + "), groups " +
         std::to_string(p.groups) + ", padding (" + std::to_string(p.ph) + ", " +
         std::to_string(p.pw) + ")";
}

void check_winograd(ConvAlgo algo, const Conv2dParams& p) {
  if (algo != ConvAlgo::winograd) return;
  if (p.kh == 3 && p.kw == 3 && p.sh == 1 && p.sw == 1 && p.dh == 1 && p.dw == 1 && p.groups == 1 &&
      p.ph <= 2 && p.pw <= 2)
    return;
  throw py::value_error(
      "algo: 'winograd' needs a 3x3 kernel, stride 1, dilation 1, groups 1 and padding <= 2, "
      "got " +
      geometry(p));
}

// algo='tap' (the per-tap implicit GEMM, csrc/cpu/conv.h tap_applies / tap_phase_applies)
// applies only to one group and a kernel of more than one tap, with stride 1 and padding <=
// (k - 1) * dilation (dx is then a tap convolution too), or stride 2 along one or both axes
// (strides <= 2; the phase planes, dx by col2im); elsewhere it is a ValueError, as 'winograd',
// not a silent fallback.
void check_tap(ConvAlgo algo, const Conv2dParams& p) {
  if (algo != ConvAlgo::tap) return;
  const bool base = p.groups == 1 && p.kh * p.kw > 1;
  const bool s1 = p.sh == 1 && p.sw == 1 && p.ph <= (p.kh - 1) * p.dh && p.pw <= (p.kw - 1) * p.dw;
  const bool s2 = (p.sh == 2 || p.sw == 2) && p.sh <= 2 && p.sw <= 2;
  if (base && (s1 || s2)) return;
  throw py::value_error(
      "algo: 'tap' needs groups 1, a kernel of more than one tap, and stride 1 with padding <= "
      "(kernel - 1) * dilation or strides of 1 and 2 with at least one 2, got " +
      geometry(p));
}

struct ConvOperands {
  py::array x, w;
  DType dt;
  Conv2dParams p;
};

ConvOperands conv_operands(py::handle x_obj, py::handle w_obj, py::handle stride,
                           py::handle padding, py::handle dilation, py::handle groups_obj) {
  ConvOperands o;
  o.x = require_input(x_obj, "input");
  if (o.x.ndim() != 4)
    throw py::value_error("input: expected a 4-D array (N, C, H, W), got shape " + shape_str(o.x));
  o.dt = dtype_of(o.x, "input");
  o.w = require_input(w_obj, "weight");
  if (dtype_of(o.w, "weight") != o.dt)
    throw py::type_error(std::string("weight: expected dtype ") + dtype_name(o.dt) +
                         " (the dtype of input), got " + dtype_str(o.w));
  if (o.w.ndim() != 4)
    throw py::value_error(
        "weight: expected a 4-D array (out_channels, in_channels / groups, kH, "
        "kW), got shape " +
        shape_str(o.w));
  Conv2dParams& p = o.p;
  p.n = o.x.shape(0);
  p.c = o.x.shape(1);
  p.h = o.x.shape(2);
  p.w = o.x.shape(3);
  p.o = o.w.shape(0);
  p.kh = o.w.shape(2);
  p.kw = o.w.shape(3);
  std::tie(p.sh, p.sw) = int_pair(stride, "stride");
  std::tie(p.ph, p.pw) = int_pair(padding, "padding");
  std::tie(p.dh, p.dw) = int_pair(dilation, "dilation");
  p.groups = require_int(groups_obj, "groups");
  if (p.sh <= 0 || p.sw <= 0)
    throw py::value_error("stride: expected positive values, got (" + std::to_string(p.sh) + ", " +
                          std::to_string(p.sw) + ")");
  if (p.ph < 0 || p.pw < 0)
    throw py::value_error("padding: expected non-negative values, got (" + std::to_string(p.ph) +
                          ", " + std::to_string(p.pw) + ")");
  if (p.dh <= 0 || p.dw <= 0)
    throw py::value_error("dilation: expected positive values, got (" + std::to_string(p.dh) +
                          ", " + std::to_string(p.dw) + ")");
  if (p.groups <= 0)
    throw py::value_error("groups: expected a positive int, got " + std::to_string(p.groups));
  if (p.c % p.groups != 0)
    throw py::value_error("groups: " + std::to_string(p.groups) + " does not divide the input's " +
                          std::to_string(p.c) + " channels");
  if (p.o % p.groups != 0)
    throw py::value_error("groups: " + std::to_string(p.groups) + " does not divide the weight's " +
                          std::to_string(p.o) + " output channels");
  if (o.w.shape(1) * p.groups != p.c)
    throw py::value_error("input: expected " + std::to_string(o.w.shape(1) * p.groups) +
                          " channels (weight of shape " + shape_str(o.w) + ", groups " +
                          std::to_string(p.groups) + "), got " + std::to_string(p.c) +
                          " channels in input of shape " + shape_str(o.x));
  if (p.kh <= 0 || p.kw <= 0)
    throw py::value_error("weight: expected a non-empty kernel, got shape " + shape_str(o.w));
  const int64_t eh = muladd_checked(p.dh, p.kh - 1, 1, "dilation");
  const int64_t ew = muladd_checked(p.dw, p.kw - 1, 1, "dilation");
  const int64_t hp = muladd_checked(2, p.ph, p.h, "padding");
  const int64_t wp = muladd_checked(2, p.pw, p.w, "padding");
  if (hp < eh || wp < ew)
    throw py::value_error("weight: the kernel (" + std::to_string(eh) + " x " + std::to_string(ew) +
                          " dilated) is larger than the padded input (" + std::to_string(hp) +
                          " x " + std::to_string(wp) + ")");
  p.ho = (hp - eh) / p.sh + 1;
  p.wo = (wp - ew) / p.sw + 1;
  return o;
}

py::array require_same(py::handle h, DType dt, const char* name) {
  py::array a = require_input(h, name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name(dt) +
                         " (the dtype of input), got " + dtype_str(a));
  return a;
}

py::array conv2d_fwd(py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle stride,
                     py::handle padding, py::handle dilation, py::handle groups,
                     const std::string& algo_name) {
  const ConvAlgo algo = algo_from_name(algo_name);
  const ConvOperands ops = conv_operands(x_obj, w_obj, stride, padding, dilation, groups);
  const Conv2dParams p = ops.p;
  check_winograd(algo, p);
  check_tap(algo, p);
  py::array b;
  const bool has_bias = !b_obj.is_none();
  if (has_bias) {
    b = require_same(b_obj, ops.dt, "bias");
    require_shape(b, {p.o}, "bias");
  }
  py::array y = new_array(ops.dt, {p.n, p.o, p.ho, p.wo});
  dispatch_dtype(ops.dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = cptr<T>(ops.x);
    const T* wp = cptr<T>(ops.w);
    const T* bp = has_bias ? cptr<T>(b) : nullptr;
    T* yp = mptr<T>(y);
    py::gil_scoped_release nogil;
    conv2d_forward(p, xp, wp, bp, yp, algo);
  });
  return y;
}

py::tuple conv2d_bwd(py::handle dy_obj, py::handle x_obj, py::handle w_obj, py::handle stride,
                     py::handle padding, py::handle dilation, py::handle groups, bool need_dx,
                     bool need_dw, bool need_db, const std::string& algo_name) {
  const ConvAlgo algo = algo_from_name(algo_name);
  const ConvOperands ops = conv_operands(x_obj, w_obj, stride, padding, dilation, groups);
  const Conv2dParams p = ops.p;
  check_winograd(algo, p);
  check_tap(algo, p);
  py::array dy = require_same(dy_obj, ops.dt, "grad_output");
  require_shape(dy, {p.n, p.o, p.ho, p.wo}, "grad_output");
  py::array dx = need_dx ? new_array(ops.dt, shape_of(ops.x)) : py::array();
  py::array dw = need_dw ? new_array(ops.dt, shape_of(ops.w)) : py::array();
  py::array db = need_db ? new_array(ops.dt, {p.o}) : py::array();
  dispatch_dtype(ops.dt, [&](auto tag) {
    using T = decltype(tag);
    const T* dyp = cptr<T>(dy);
    const T* xp = cptr<T>(ops.x);
    const T* wp = cptr<T>(ops.w);
    T* dxp = need_dx ? mptr<T>(dx) : nullptr;
    T* dwp = need_dw ? mptr<T>(dw) : nullptr;
    T* dbp = need_db ? mptr<T>(db) : nullptr;
    py::gil_scoped_release nogil;
    conv2d_backward(p, dyp, xp, wp, dxp, dwp, dbp, algo);
  });
  auto opt = [](bool has, const py::array& a) {
    return has ? py::object(a) : py::object(py::none());
  };
  return py::make_tuple(opt(need_dx, dx), opt(need_dw, dw), opt(need_db, db));
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", named("conv2d", &conv2d_fwd), py::arg("input"), py::arg("weight"),
        py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("algo") = "auto",
        "y (N, O, Ho, Wo) = conv2d(input (N, C, H, W), weight (O, C / groups, kH, kW)) + bias; "
        "zero padding. algo: 'auto', 'gemm' (im2col + GEMM), 'tap' (stride 1, one group, "
        "padding <= (k - 1) * dilation, else ValueError: per-tap implicit GEMM on a padded copy), "
        "'direct' (the plain loop) or "
        "'winograd' (F(2x2, 3x3): 3x3, stride 1, dilation 1, groups 1, padding <= 2, else "
        "ValueError; its backward computes dx and dw by Winograd).");
  m.def("conv2d_backward", named("conv2d_backward", &conv2d_bwd), py::arg("grad_output"),
        py::arg("input"), py::arg("weight"), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("need_dx") = true,
        py::arg("need_dw") = true, py::arg("need_db") = true, py::arg("algo") = "auto",
        "(grad_input or None, grad_weight or None, grad_bias or None) of conv2d_forward.");
}

}  // namespace bind
}  // namespace dg
