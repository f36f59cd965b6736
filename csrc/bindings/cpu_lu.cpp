// Binding of the batched LU with partial pivoting (cpu/lu.h) and the solves with its factors.
#include <cstring>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

py::array require_int64(py::handle h, const char* name) {
  py::array a = require_array(h, name);
  if (!a.dtype().is(py::dtype::of<int64_t>()))
    throw py::type_error(std::string(name) + ": expected dtype int64, got " + dtype_str(a));
  require_contiguous(a, name);
  require_aligned(a, name);
  return a;
}

py::tuple lu_factor_py(py::handle a_obj) {
  py::array a = require_input(a_obj, "a");
  require_ndim(a, 3, "a");
  const DType dt = dtype_of(a, "a");
  const int64_t batch = a.shape(0), n = a.shape(1);
  if (a.shape(2) != n)
    throw py::value_error("a: expected a batch of square matrices (batch, n, n), got shape " +
                          shape_str(a));
  py::array lu = new_array(dt, {batch, n, n});
  py::array piv(py::dtype::of<int64_t>(), std::vector<py::ssize_t>{batch, n});
  py::array info(py::dtype::of<int64_t>(), std::vector<py::ssize_t>{batch});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    T* lp = mptr<T>(lu);
    const T* ap = cptr<T>(a);
    int64_t* pp = static_cast<int64_t*>(piv.mutable_data());
    int64_t* ip = static_cast<int64_t*>(info.mutable_data());
    py::gil_scoped_release nogil;
    if (batch > 0 && n > 0) std::memcpy(lp, ap, sizeof(T) * size_t(batch * n * n));
    dg::lu_factor(lp, pp, ip, batch, n);
  });
  return py::make_tuple(lu, piv, info);
}

py::array lu_solve_py(py::handle lu_obj, py::handle piv_obj, py::handle b_obj, bool trans) {
  py::array lu = require_input(lu_obj, "lu");
  require_ndim(lu, 3, "lu");
  const DType dt = dtype_of(lu, "lu");
  const int64_t batch = lu.shape(0), n = lu.shape(1);
  if (lu.shape(2) != n)
    throw py::value_error("lu: expected a batch of square matrices (batch, n, n), got shape " +
                          shape_str(lu));
  py::array piv = require_int64(piv_obj, "piv");
  require_shape(piv, {batch, n}, "piv");
  py::array b = require_input(b_obj, "b");
  require_ndim(b, 3, "b");
  require_dtype(b, dt, "b");
  const int64_t k = b.shape(2);
  require_shape(b, {batch, n, k}, "b");
  const int64_t* pp = static_cast<const int64_t*>(piv.data());
  for (int64_t i = 0; i < batch * n; ++i)  // lu_factor's swaps: row j with a row p, j <= p < n
    if (pp[i] < i % n || pp[i] >= n)
      throw py::value_error("piv: expected row swaps from lu_factor (j <= piv[..., j] < n), got " +
                            std::to_string(pp[i]) + " at flat index " + std::to_string(i));
  py::array x = new_array(dt, {batch, n, k});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* lp = cptr<T>(lu);
    const T* bp = cptr<T>(b);
    T* xp = mptr<T>(x);
    py::gil_scoped_release nogil;
    if (batch > 0 && n > 0 && k > 0) std::memcpy(xp, bp, sizeof(T) * size_t(batch * n * k));
    dg::lu_solve(lp, pp, xp, batch, n, k, trans);
  });
  return x;
}

}  // namespace

void bind_lu(py::module_& m) {
  m.def("lu_factor", named("lu_factor", &lu_factor_py), py::arg("a"),
        "(lu, piv, info) of a batch a (batch, n, n) of C-contiguous float32 / float64 matrices: "
        "LAPACK getrf's packed factors (unit L below the diagonal, U on and above it), its "
        "0-based row swaps piv (batch, n) int64 (row j swapped with piv[j], in order) and info "
        "(batch,) int64: 0, or 1 + the index of the first exactly zero pivot (A singular).");
  m.def("lu_solve", named("lu_solve", &lu_solve_py), py::arg("lu"), py::arg("piv"), py::arg("b"),
        py::arg("trans") = false,
        "X (batch, n, k) with A X = b (A^T X = b when trans) from lu_factor's lu and piv of A "
        "and b (batch, n, k) of lu's dtype (a singular U gives inf / NaN, as LAPACK's getrs).");
}

}  // namespace bind
}  // namespace dg
