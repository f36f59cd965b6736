// pybind11 bindings of the raw launch API (cuda/ops.h), shared by _cuda (GPU) and _simt
// (emulator). Arguments are device addresses as ints, element counts and strides, a dtype code
// (0 float32, 1 float64) and a stream handle; the Python layer (_cuda_ops.py) validates arrays
// and computes all of them. The GIL is released around every launch.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/ops.h"

namespace dg {
namespace cuda {
namespace bind {

namespace py = pybind11;

template <class T>
T* ptr(uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

template <class F>
void by_dtype(int dtype, F&& f) {
  if (dtype == 0) {
    f(float{});
  } else if (dtype == 1) {
    f(double{});
  } else {
    throw py::type_error("dtype code: expected 0 (float32) or 1 (float64), got " +
                         std::to_string(dtype));
  }
}

inline void* stream_of(uintptr_t s) { return reinterpret_cast<void*>(s); }

// The product C = alpha * A @ B + beta * C over raw device pointers and element strides (no
// epilogue: bias, act and z stay unset), shared by gemm and gemm_batched.
template <class T>
GemmParams<T> gemm_params(int64_t m, int64_t n, int64_t k, uintptr_t a, int64_t rsa, int64_t csa,
                          uintptr_t b, int64_t rsb, int64_t csb, uintptr_t c, int64_t rsc,
                          int64_t csc, double alpha, double beta) {
  GemmParams<T> p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = ptr<const T>(a);
  p.rsa = rsa;
  p.csa = csa;
  p.b = ptr<const T>(b);
  p.rsb = rsb;
  p.csb = csb;
  p.c = ptr<T>(c);
  p.rsc = rsc;
  p.csc = csc;
  p.alpha = static_cast<T>(alpha);
  p.beta = static_cast<T>(beta);
  return p;
}

inline void bind_raw_ops(py::module_& m) {
  using u = uintptr_t;
  m.def("gemm", [](int dt, int64_t mm, int64_t n, int64_t k, u a, int64_t rsa, int64_t csa, u b,
                   int64_t rsb, int64_t csb, u c, int64_t rsc, int64_t csc, double alpha,
                   double beta, u bias, int act, double param, u z, int precision, int tile,
                   u stream) {
    by_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      GemmParams<T> p =
          gemm_params<T>(mm, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc, alpha, beta);
      p.bias = ptr<const T>(bias);
      p.act = act;
      p.param = static_cast<T>(param);
      p.z = ptr<T>(z);
      py::gil_scoped_release nogil;
      gemm<T>(p, static_cast<Precision>(precision), static_cast<GemmTile>(tile), stream_of(stream));
    });
  });
  // The strided-batched GEMM (no epilogue): the batch shape and each operand's batch strides
  // (elements, 0 where it broadcasts) as lists of one length.
  m.def("gemm_batched", [](int dt, int64_t mm, int64_t n, int64_t k, u a, int64_t rsa, int64_t csa,
                           u b, int64_t rsb, int64_t csb, u c, int64_t rsc, int64_t csc,
                           double alpha, double beta, const std::vector<int64_t>& shape,
                           const std::vector<int64_t>& sa, const std::vector<int64_t>& sb,
                           const std::vector<int64_t>& sc, int precision, int tile, u stream) {
    if (sa.size() != shape.size() || sb.size() != shape.size() || sc.size() != shape.size())
      throw py::value_error("gemm_batched: shape and strides differ in length");
    by_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      GemmParams<T> p =
          gemm_params<T>(mm, n, k, a, rsa, csa, b, rsb, csb, c, rsc, csc, alpha, beta);
      py::gil_scoped_release nogil;
      gemm_batched<T>(p, static_cast<int>(shape.size()), shape.data(), sa.data(), sb.data(),
                      sc.data(), static_cast<Precision>(precision), static_cast<GemmTile>(tile),
                      stream_of(stream));
    });
  });
  m.def("activation", [](int dt, int64_t n, u x, u y, int act, double param, u stream) {
    by_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      py::gil_scoped_release nogil;
      activation<T>(n, ptr<const T>(x), ptr<T>(y), act, static_cast<T>(param), stream_of(stream));
    });
  });
  m.def("activation_backward",
        [](int dt, int64_t n, u dy, u saved, u dx, int act, double param, u stream) {
          by_dtype(dt, [&](auto tag) {
            using T = decltype(tag);
            py::gil_scoped_release nogil;
            activation_backward<T>(n, ptr<const T>(dy), ptr<const T>(saved), ptr<T>(dx), act,
                                   static_cast<T>(param), stream_of(stream));
          });
        });
  m.def("softmax", [](int dt, int64_t rows, int64_t cols, u x, u y, bool log, u stream) {
    by_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      py::gil_scoped_release nogil;
      softmax<T>(rows, cols, ptr<const T>(x), ptr<T>(y), log, stream_of(stream));
    });
  });
  m.def("softmax_backward",
        [](int dt, int64_t rows, int64_t cols, u dy, u y, u dx, bool log, u stream) {
          by_dtype(dt, [&](auto tag) {
            using T = decltype(tag);
            py::gil_scoped_release nogil;
            softmax_backward<T>(rows, cols, ptr<const T>(dy), ptr<const T>(y), ptr<T>(dx), log,
                                stream_of(stream));
          });
        });
  m.def("softmax_xent", [](int dt, int64_t rows, int64_t cols, u logits, u target, u loss,
                           u dlogits, double scale, u stream) {
    by_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      py::gil_scoped_release nogil;
      softmax_xent<T>(rows, cols, ptr<const T>(logits), ptr<const int64_t>(target), ptr<T>(loss),
                      ptr<T>(dlogits), static_cast<T>(scale), stream_of(stream));
    });
  });
  m.def("pointwise_loss",
        [](int dt, int64_t n, int kind, u y, u t, u loss, u grad, double scale, u stream) {
          by_dtype(dt, [&](auto tag) {
            using T = decltype(tag);
            py::gil_scoped_release nogil;
            pointwise_loss<T>(n, kind, ptr<const T>(y), ptr<const T>(t), ptr<T>(loss), ptr<T>(grad),
                              static_cast<T>(scale), stream_of(stream));
          });
        });
  m.def("reduce_sum", [](int dt, int64_t outer, int64_t n, int64_t inner, u x, u y, double scale,
                         u work, int64_t work_len, u stream) {
    by_dtype(dt, [&](auto tag) {
      using T = decltype(tag);
      py::gil_scoped_release nogil;
      reduce_sum<T>(outer, n, inner, ptr<const T>(x), ptr<T>(y), static_cast<T>(scale),
                    ptr<T>(work), work_len, stream_of(stream));
    });
  });
  m.def("sgd_update",
        [](int dt, int64_t n, u param, u grad, u buf, double lr, double momentum,
           double weight_decay, bool nesterov, double dampening, bool first_step, u stream) {
          by_dtype(dt, [&](auto tag) {
            using T = decltype(tag);
            py::gil_scoped_release nogil;
            sgd_update<T>(n, ptr<T>(param), ptr<const T>(grad), ptr<T>(buf), lr, momentum,
                          weight_decay, nesterov, dampening, first_step, stream_of(stream));
          });
        });
  m.def("adam_update",
        [](int dt, int64_t n, u param, u grad, u mm, u v, int64_t step, double lr, double beta1,
           double beta2, double eps, double weight_decay, bool decoupled, u stream) {
          by_dtype(dt, [&](auto tag) {
            using T = decltype(tag);
            py::gil_scoped_release nogil;
            adam_update<T>(n, ptr<T>(param), ptr<const T>(grad), ptr<T>(mm), ptr<T>(v), step, lr,
                           beta1, beta2, eps, weight_decay, decoupled, stream_of(stream));
          });
        });
}

}  // namespace bind
}  // namespace cuda
}  // namespace dg
