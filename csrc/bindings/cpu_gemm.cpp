// Binding of matmul: validates every argument, resolves transposes into strides, releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "bindings/checks.h"
#include "bindings/fastcall.h"
#include "common/cpu_isa.h"
#include "common/threads.h"
#include "cpu/gemm_blocking.h"
#include "cpu/ops.h"

namespace py = pybind11;

namespace dg {
namespace bind {
namespace {

// The element stride of a GEMM operand's dimension. A dimension of length 1 is never stepped
// along, so its stride is irrelevant (NumPy may give it any value): call it 1, which also lets
// the kernel take its unit-stride paths (and the epilogue apply) for a single column.
int64_t gemm_stride(const py::array& a, int dim, const char* name) {
  return a.shape()[dim] <= 1 ? 1 : elem_stride(a, dim, name);
}

// An input the kernel can address element by element: native float32/float64 with NumPy's
// ALIGNED flag (the data pointer and every stride a multiple of the item size). Byte-swapped
// and misaligned views are copied explicitly into native, aligned arrays (never read wrongly);
// other dtypes are a TypeError.
py::array addressable(py::array x, const char* name) {
  constexpr int kNpyAligned = 0x0100;  // NPY_ARRAY_ALIGNED
  DType dt;
  const bool native = native_float(x, &dt);
  if (native && (x.flags() & kNpyAligned)) return x;
  if (!native && !is_byteswapped_float(x)) dtype_of(x, name);  // throws the TypeError
  require_copyable(x, name);
  // np.array always copies (ascontiguousarray would return a misaligned contiguous x as is)
  return py::module_::import("numpy").attr("array")(
      x, py::arg("dtype") = x.dtype().attr("newbyteorder")("="), py::arg("order") = "C");
}

// The GEMM arguments for C = alpha * op(a) @ op(b) + beta * C over validated arrays; the
// transposes are the operands' strides swapped (ia / ib: the dimension of a / b that is op's rows,
// ka / kb the other; the last two of each, C's the last two of c).
template <class T>
GemmArgs<T> gemm_args(const py::array& a, int ia, int ka, const py::array& b, int ib, int kb,
                      py::array& c, double alpha, double beta) {
  const int ic = static_cast<int>(c.ndim()) - 2;
  GemmArgs<T> g = strided_gemm(
      int64_t(c.shape()[ic]), int64_t(c.shape()[ic + 1]), int64_t(a.shape()[ka]),
      static_cast<const T*>(a.data()), gemm_stride(a, ia, "a"), gemm_stride(a, ka, "a"),
      static_cast<const T*>(b.data()), gemm_stride(b, ib, "b"), gemm_stride(b, kb, "b"),
      static_cast<T*>(c.mutable_data()), gemm_stride(c, ic, "out"), gemm_stride(c, ic + 1, "out"));
  g.alpha = static_cast<T>(alpha);
  g.beta = static_cast<T>(beta);
  return g;
}

template <class T>
GemmArgs<T> gemm_args(const py::array& a, int ia, const py::array& b, int ib, py::array& c,
                      double alpha, double beta) {
  return gemm_args<T>(a, ia, 1 - ia, b, ib, 1 - ib, c, alpha, beta);
}

[[noreturn]] void inner_mismatch(const py::array& a, bool trans_a, int64_t m, int64_t k,
                                 const py::array& b, bool trans_b, int64_t kb, int64_t n) {
  throw py::value_error("matmul: inner dimensions differ: op(a) is " + std::to_string(m) + "x" +
                        std::to_string(k) + " (a has shape " + shape_str(a) +
                        (trans_a ? ", trans_a=True" : "") + "), op(b) is " + std::to_string(kb) +
                        "x" + std::to_string(n) + " (b has shape " + shape_str(b) +
                        (trans_b ? ", trans_b=True" : "") + ")");
}

// The batched form: a (..., m, k) and b (..., k, n) with NumPy-broadcast batch dimensions, out
// (*batch, m, n). One strided-batched GEMM: a broadcast batch dimension is a zero stride, so no
// operand is copied per product (only misaligned / byte-swapped inputs, as in 2-D).
py::array matmul_batched(py::array a, py::array b, bool trans_a, bool trans_b, double alpha,
                         double beta, py::handle out_obj, bool reference) {
  for (auto [x, name] : {std::pair<const py::array*, const char*>{&a, "a"}, {&b, "b"}})
    if (x->ndim() < 2)
      throw py::value_error(std::string(name) +
                            ": expected an array with at least 2 dimensions (a matrix or a "
                            "batch of them), got shape " +
                            shape_str(*x));
  a = addressable(a, "a");
  const DType dt = dtype_of(a, "a");
  b = addressable(b, "b");
  if (dtype_of(b, "b") != dt)
    throw py::type_error(std::string("b: expected dtype ") + dtype_name(dt) +
                         " (the dtype of a), got " + dtype_str(b));
  const int na = static_cast<int>(a.ndim()), nb = static_cast<int>(b.ndim());
  const int ia = trans_a ? na - 1 : na - 2, ka = trans_a ? na - 2 : na - 1;
  const int ib = trans_b ? nb - 1 : nb - 2, jb = trans_b ? nb - 2 : nb - 1;
  const int64_t m = a.shape(ia), k = a.shape(ka), kb = b.shape(ib), n = b.shape(jb);
  if (k != kb) inner_mismatch(a, trans_a, m, k, b, trans_b, kb, n);

  // The batch dimensions, aligned on the right as NumPy broadcasts them.
  const int nbat = std::max(na, nb) - 2;
  std::vector<int64_t> shape(nbat + 2);
  GemmBatch batch;
  batch.ndim = nbat;
  for (int d = 0; d < nbat; ++d) {
    const int da = d - (nbat - (na - 2)), db = d - (nbat - (nb - 2));
    const int64_t la = da >= 0 ? a.shape(da) : 1, lb = db >= 0 ? b.shape(db) : 1;
    if (la != lb && la != 1 && lb != 1) {
      std::vector<int64_t> ba(a.shape(), a.shape() + na - 2), bb(b.shape(), b.shape() + nb - 2);
      throw py::value_error("matmul: batch dimensions do not broadcast: a has shape " +
                            shape_str(a) + ", b has shape " + shape_str(b) + " (batch " +
                            shape_str(ba) + " vs " + shape_str(bb) + ")");
    }
    shape[d] = la == 1 ? lb : la;
    batch.shape[d] = shape[d];
    batch.sa[d] = la > 1 ? elem_stride(a, da, "a") : 0;
    batch.sb[d] = lb > 1 ? elem_stride(b, db, "b") : 0;
  }
  shape[nbat] = m;
  shape[nbat + 1] = n;

  py::array out;
  if (out_obj.is_none()) {
    if (beta != 0.0)
      throw py::value_error(
          "beta: must be 0 when out is None (beta scales the values in out), got " +
          std::to_string(beta));
    out = new_array(dt, shape);
  } else {
    out = require_array(out_obj, "out");
    require_out(out, dt, shape, "out");
  }
  if (out.size() == 0) return out;

  const bool alias = !out_obj.is_none() && (may_overlap(out, a) || may_overlap(out, b));
  py::array c = out;
  if (alias) {
    py::module_ np = py::module_::import("numpy");
    c = np.attr("array")(out, py::arg("order") = "C");  // keeps out's values for beta
  }
  for (int d = 0; d < nbat; ++d) batch.sc[d] = shape[d] > 1 ? elem_stride(c, d, "out") : 0;

  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const GemmArgs<T> g = gemm_args<T>(a, ia, ka, b, ib, jb, c, alpha, beta);
    const int64_t count = batch.count();
    run_kernel(reference || count * m * n * k >= kGilFreeMinMacs, [&] {
      if (reference) {
        for (int64_t i = 0; i < count; ++i) gemm_reference(batch_product(g, batch, i));
      } else {
        gemm_batched(g, batch);
      }
    });
  });

  if (alias) out.attr("__setitem__")(py::ellipsis(), c);
  return out;
}

// C = alpha * op(A) @ op(B) + beta * C. Returns out (allocated when None). 2-D a and b here (the
// hot path), anything else in matmul_batched.
py::array matmul(py::handle a_obj, py::handle b_obj, bool trans_a, bool trans_b, double alpha,
                 double beta, py::handle out_obj, bool reference) {
  py::array a = require_array(a_obj, "a");
  py::array b = require_array(b_obj, "b");
  if (a.ndim() != 2 || b.ndim() != 2)
    return matmul_batched(a, b, trans_a, trans_b, alpha, beta, out_obj, reference);
  a = addressable(a, "a");
  const DType dt = dtype_of(a, "a");
  b = addressable(b, "b");
  if (dtype_of(b, "b") != dt)
    throw py::type_error(std::string("b: expected dtype ") + dtype_name(dt) +
                         " (the dtype of a), got " + dtype_str(b));

  // op(A) = A or A.T: a transpose is the same memory with the strides swapped.
  const int ia = trans_a ? 1 : 0, ib = trans_b ? 1 : 0;
  const int64_t m = a.shape()[ia], k = a.shape()[1 - ia];
  const int64_t kb = b.shape()[ib], n = b.shape()[1 - ib];
  if (k != kb) inner_mismatch(a, trans_a, m, k, b, trans_b, kb, n);

  py::array out;
  const bool fresh = out_obj.is_none();
  if (fresh) {
    if (beta != 0.0)
      throw py::value_error(
          "beta: must be 0 when out is None (beta scales the values in out), got " +
          std::to_string(beta));
    out = new_array(dt, {m, n});
  } else {
    out = require_array(out_obj, "out");
    require_out(out, dt, {m, n}, "out");
  }
  if (m == 0 || n == 0) return out;

  // When out shares memory with an input, compute into a scratch C and copy it over afterwards.
  const bool alias = !fresh && (may_overlap(out, a) || may_overlap(out, b));
  py::array c = out;
  if (alias) {
    py::module_ np = py::module_::import("numpy");
    c = np.attr("array")(out, py::arg("order") = "C");  // keeps out's values for beta
  }

  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const GemmArgs<T> g = gemm_args<T>(a, ia, b, ib, c, alpha, beta);
    run_kernel(reference || m * n * k >= kGilFreeMinMacs, [&] {
      if (reference)
        gemm_reference(g);
      else
        gemm(g);
    });
  });

  if (alias) out.attr("__setitem__")(py::ellipsis(), c);
  return out;
}

// _cpu._fast_matmul(a, b, trans_a, trans_b, alpha, beta, out): dg.ops.matmul's common case
// (bindings/fastcall.h); NotImplemented sends the call to the general path.
PyObject* fast_matmul(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (!fast_arity("_fast_matmul", nargs, 7)) return nullptr;
  bool ta, tb;
  double alpha, beta;
  if (host_override_flag() || !exact_ndarray(args[0]) || !exact_ndarray(args[1]) ||
      !plain_bool(args[2], &ta) || !plain_bool(args[3], &tb) || !plain_real(args[4], &alpha) ||
      !plain_real(args[5], &beta) || !plain_out(args[6]))
    return not_implemented();
  return fast_call("matmul", [&] {
    return py::object(matmul(args[0], args[1], ta, tb, alpha, beta, args[6], false));
  });
}

// Test hook for GemmEpilogue: C = relu(op(A) @ op(B) + bias) with bias + relu applied by the
// epilogue callback on each finished block (a block seen twice or never gives a wrong answer).
template <class T>
struct BiasReluCtx {
  const T* bias;
};

template <class T>
void bias_relu_epilogue(T* c, int64_t rsc, int64_t rows, int64_t cols, int64_t col0,
                        const void* ctx) {
  const T* bias = static_cast<const BiasReluCtx<T>*>(ctx)->bias + col0;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      T& x = c[i * rsc + j];
      x = x + bias[j];
      x = x > T(0) ? x : T(0);
    }
}

py::array matmul_bias_relu(py::handle a_obj, py::handle b_obj, py::handle bias_obj, bool trans_a,
                           bool trans_b, bool reference) {
  py::array a = require_array(a_obj, "a");
  py::array b = require_array(b_obj, "b");
  require_ndim(a, 2, "a");
  require_ndim(b, 2, "b");
  const DType dt = dtype_of(a, "a");
  require_dtype(b, dt, "b");
  const int ia = trans_a ? 1 : 0, ib = trans_b ? 1 : 0;
  const int64_t m = a.shape(ia), k = a.shape(1 - ia), n = b.shape(1 - ib);
  if (b.shape(ib) != k) throw py::value_error("matmul_bias_relu: inner dimensions differ");
  py::array bias = require_array(bias_obj, "bias");
  require_dtype(bias, dt, "bias");
  require_shape(bias, {n}, "bias");
  require_contiguous(bias, "bias");
  py::array out = new_array(dt, {m, n});
  if (m == 0 || n == 0) return out;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    BiasReluCtx<T> ctx{static_cast<const T*>(bias.data())};
    GemmArgs<T> g = gemm_args<T>(a, ia, b, ib, out, 1.0, 0.0);
    g.epilogue.fn = &bias_relu_epilogue<T>;
    g.epilogue.ctx = &ctx;
    py::gil_scoped_release nogil;
    if (reference)
      gemm_reference(g);
    else
      gemm(g);
  });
  return out;
}

py::dict cache_dict(const CacheSizes& c) {
  py::dict d;
  d["l1d"] = c.l1d;
  d["l2"] = c.l2;
  d["l3"] = c.l3;
  d["l2_share"] = c.l2_share;
  return d;
}

// The ISA named by `isa` (for the per-ISA test hooks), which this CPU must support.
Isa supported_isa(const std::string& isa, const char* fn) {
  Isa want;
  if (isa == "generic")
    want = Isa::generic;
  else if (isa == "avx2")
    want = Isa::avx2;
  else if (isa == "avx512")
    want = Isa::avx512;
  else
    throw py::value_error(std::string(fn) + ": isa: expected 'generic', 'avx2' or 'avx512', got '" +
                          isa + "'");
  if (static_cast<int>(want) > static_cast<int>(detected_isa()))
    throw py::value_error(std::string(fn) + ": isa: this CPU does not support '" + isa +
                          "' (it has '" + isa_name(detected_isa()) + "')");
  return want;
}

py::dict blocking_dict(const GemmBlocking& b) {
  py::dict d;
  d["kc"] = b.kc;
  d["nb"] = b.nb;
  d["mb"] = b.mb;
  d["mc"] = b.mc;
  d["nc"] = b.nc;
  d["shared_a"] = b.shared_a;
  d["mr"] = b.mr;
  d["nr"] = b.nr;
  return d;
}

}  // namespace

static void bind_cache(py::module_& m) {
  m.def(
      "cache_sizes", [] { return cache_dict(cache_sizes()); },
      "The data cache sizes the GEMM blocks for, in bytes: {'l1d', 'l2', 'l3'} (L1d and L2 per "
      "core): detected (CPUID / sysfs), or DG_L1D_BYTES / DG_L2_BYTES / DG_L3_BYTES.");
  m.def(
      "detected_cache_sizes", [] { return cache_dict(detected_cache_sizes()); },
      "The cache sizes CPUID / sysfs report, before any override.");
  m.def(
      "cache_source", [] { return std::string(cache_source()); },
      "Where the detected cache sizes came from: 'cpuid', 'sysfs' or 'default'.");
  m.def(
      "cache_env_warning", [] { return std::string(cache_env_warning()); },
      "Why a DG_L1D_BYTES / DG_L2_BYTES / DG_L3_BYTES value was ignored ('' when none was).");
  m.def(
      "parse_cache_bytes", [](const std::string& s) { return parse_cache_bytes(s.c_str()); },
      py::arg("s"),
      "A cache size as the DG_*_BYTES variables are parsed ('524288', '512K', '2MiB'); -1 when "
      "invalid.");
  m.def(
      "_set_cache_sizes",
      [](long long l1d, long long l2, long long l3, long long l2_share) {
        CacheSizes c;
        c.l1d = l1d;
        c.l2 = l2;
        c.l3 = l3;
        c.l2_share = l2_share;
        return cache_dict(set_cache_sizes(c));
      },
      py::arg("l1d") = 0, py::arg("l2") = 0, py::arg("l3") = 0, py::arg("l2_share") = 0,
      "Test hook: the cache sizes the GEMM blocks for from now on (0: the default, detected or "
      "from the environment); returns the sizes in use.");
  m.def(
      "_set_gemm_huge_from",
      [](long long bytes) {
        const long long old = gemm_huge_from();
        set_gemm_huge_from(bytes);
        return old;
      },
      py::arg("bytes"),
      "A/B hook: the GEMM's packing scratch from `bytes` up asks for transparent huge pages "
      "(<= 0: never; default 1 MiB or DG_GEMM_HUGE_FROM); returns the previous value.");
  m.def(
      "_set_gemm_dynamic",
      [](bool on) {
        const bool old = gemm_dynamic();
        set_gemm_dynamic(on);
        return old;
      },
      py::arg("on"),
      "A/B hook: with several threads on the rows of C, hand out row chunks dynamically (True; "
      "DG_GEMM_DYNAMIC=1 to start with it) or split the rows in fixed shares (False, the "
      "default); returns the previous value. The results are identical.");
  m.def(
      "_gemm_blocking",
      [](const std::string& isa, const std::string& dtype) {
        if (dtype != "float32" && dtype != "float64")
          throw py::value_error("_gemm_blocking: dtype: expected 'float32' or 'float64', got '" +
                                dtype + "'");
        const bool f32 = dtype == "float32";
        switch (supported_isa(isa, "_gemm_blocking")) {
          case Isa::avx512:
            return blocking_dict(f32 ? avx512::gemm_blocking(0.f) : avx512::gemm_blocking(0.0));
          case Isa::avx2:
            return blocking_dict(f32 ? avx2::gemm_blocking(0.f) : avx2::gemm_blocking(0.0));
          default:
            return blocking_dict(f32 ? generic::gemm_blocking(0.f) : generic::gemm_blocking(0.0));
        }
      },
      py::arg("isa"), py::arg("dtype") = "float32",
      "The GEMM's blocking on this ISA for this dtype now: {'kc', 'nb', 'mb', 'mr', 'nr'}.");
  m.def(
      "measure_fma_peak",
      [](const std::string& isa, double seconds, int threads) {
        if (!(seconds > 0 && seconds <= 10))
          throw py::value_error("measure_fma_peak: seconds: expected 0 < seconds <= 10, got " +
                                std::to_string(seconds));
        if (threads < 1 || threads > max_threads())
          throw py::value_error("measure_fma_peak: threads: expected 1 <= threads <= " +
                                std::to_string(max_threads()) + ", got " + std::to_string(threads));
        const Isa which = supported_isa(isa, "measure_fma_peak");
        py::gil_scoped_release nogil;
        switch (which) {
          case Isa::avx512:
            return avx512::measure_fma_peak(seconds, threads);
          case Isa::avx2:
            return avx2::measure_fma_peak(seconds, threads);
          default:
            return generic::measure_fma_peak(seconds, threads);
        }
      },
      py::arg("isa"), py::arg("seconds") = 0.2, py::arg("threads") = 1,
      "The float32 FMA rate (GFLOP/s) of this ISA's vectors on `threads` threads, measured by "
      "independent FMA chains in registers for about `seconds`: the nominal peak.");
}

void bind_gemm(py::module_& m) {
  bind_cache(m);
  static PyMethodDef fast_matmul_def = {
      "_fast_matmul", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_matmul)),
      METH_FASTCALL,
      "_fast_matmul(a, b, trans_a, trans_b, alpha, beta, out, /)\n--\n\ndg.ops.matmul's common "
      "case (numpy arrays, Python scalars), or NotImplemented for its general path."};
  add_fast_entry(m, &fast_matmul_def);
  m.def(
      "matmul",
      named(
          "matmul",
          +[](py::handle a, py::handle b, bool trans_a, bool trans_b, double alpha, double beta,
              py::handle out) { return matmul(a, b, trans_a, trans_b, alpha, beta, out, false); }),
      // Not keyword-only (unlike dg.ops.matmul): ops.matmul passes everything positionally,
      // which pybind11 parses several times faster than keywords (it matters for small C).
      py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
      py::arg("alpha") = 1.0, py::arg("beta") = 0.0, py::arg("out") = py::none(),
      "C = alpha * op(a) @ op(b) + beta * C (C is out), with the packed SIMD kernel; a and b "
      "(..., m, k) / (..., k, n) with broadcast batch dimensions: a strided-batched GEMM.");
  m.def("matmul_reference",
        named(
            "matmul_reference",
            +[](py::handle a, py::handle b, bool trans_a, bool trans_b, double alpha, double beta,
                py::handle out) { return matmul(a, b, trans_a, trans_b, alpha, beta, out, true); }),
        py::arg("a"), py::arg("b"), py::kw_only(), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("out") = py::none(),
        "The same contract as matmul, computed by the simple triple-loop oracle.");
  m.def("_matmul_bias_relu", named("_matmul_bias_relu", &matmul_bias_relu), py::arg("a"),
        py::arg("b"), py::arg("bias"), py::kw_only(), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("reference") = false,
        "Test hook for the GEMM epilogue: relu(op(a) @ op(b) + bias), bias + relu applied by "
        "the epilogue callback.");
}

}  // namespace bind
}  // namespace dg
