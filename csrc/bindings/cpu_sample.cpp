// Bindings of sampling at precomputed taps (csrc/cpu/sample.h): grid_sample's forward gather,
// its input gradient's scatter and its grid gradient's per-tap dot over the channels.
// Taps: idx (n, nt, m) int64, a flat pixel index per batch item, tap and output position (one
// outside [0, npix) is a tap outside the input: it reads 0, its gradient is dropped), and wts
// (n, nt, m) of the data's dtype or None (every weight 1: nearest, nt = 1).
#include <string>
#include <vector>

#include "bindings/cpu_common.h"

namespace dg {
namespace bind {
namespace {

// idx: a C-contiguous (n, nt, m) int64 array with n batch items.
py::array require_taps(py::handle idx_obj, int64_t n) {
  py::array idx = require_array(idx_obj, "idx");
  if (!idx.dtype().equal(py::dtype::of<int64_t>()))
    throw py::type_error("idx: expected dtype int64, got " + dtype_str(idx));
  require_ndim(idx, 3, "idx");
  require_contiguous(idx, "idx");
  require_aligned(idx, "idx");
  if (idx.shape(0) != n)
    throw py::value_error("idx: expected " + std::to_string(n) + " batch items, got shape " +
                          shape_str(idx));
  return idx;
}

// wts: None (nt must be 1) or a C-contiguous array of idx's shape and dtype dt; its data or null.
const void* require_weights(py::handle wts_obj, const py::array& idx, DType dt, py::array* keep) {
  if (wts_obj.is_none()) {
    if (idx.shape(1) != 1)
      throw py::value_error("wts: None (weight 1) needs one tap, got idx of shape " +
                            shape_str(idx));
    return nullptr;
  }
  *keep = require_input(wts_obj, "wts");
  require_dtype(*keep, dt, "wts");
  require_shape(*keep, shape_of(idx), "wts");
  return keep->data();
}

// A (n, c, 1) zero array of dtype dt: the pixels of an empty image (every tap outside).
py::array zero_pixels(DType dt, int64_t n, int64_t c) {
  py::array z = new_array(dt, {n, c, int64_t(1)});
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    T* p = mptr<T>(z);
    for (int64_t i = 0; i < n * c; ++i) p[i] = T(0);
  });
  return z;
}

py::array sample_gather(py::handle src_obj, py::handle idx_obj, py::handle wts_obj, bool vector) {
  py::array src = require_input(src_obj, "src");
  require_ndim(src, 3, "src");
  const DType dt = dtype_of(src, "src");
  const int64_t n = src.shape(0), c = src.shape(1);
  int64_t npix = src.shape(2);
  py::array idx = require_taps(idx_obj, n);
  py::array wts_keep;
  const void* wp = require_weights(wts_obj, idx, dt, &wts_keep);
  const int64_t nt = idx.shape(1), m = idx.shape(2);
  py::array out = new_array(dt, {n, c, m});
  if (npix == 0) {  // every tap outside: reads of a zero pixel
    src = zero_pixels(dt, n, c);
    npix = 1;
  }
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* sp = cptr<T>(src);
    const int64_t* ip = static_cast<const int64_t*>(idx.data());
    T* op = mptr<T>(out);
    py::gil_scoped_release nogil;
    sample_forward(sp, ip, static_cast<const T*>(wp), op, n, c, npix, nt, m, vector);
  });
  return out;
}

py::array sample_scatter_add(py::handle go_obj, py::handle idx_obj, py::handle wts_obj,
                             int64_t npix) {
  py::array go = require_input(go_obj, "go");
  require_ndim(go, 3, "go");
  const DType dt = dtype_of(go, "go");
  const int64_t n = go.shape(0), c = go.shape(1);
  py::array idx = require_taps(idx_obj, n);
  if (idx.shape(2) != go.shape(2))
    throw py::value_error("idx: expected " + std::to_string(go.shape(2)) +
                          " output positions (go's last dim), got shape " + shape_str(idx));
  if (npix < 0) throw py::value_error("npix: expected >= 0, got " + std::to_string(npix));
  py::array wts_keep;
  const void* wp = require_weights(wts_obj, idx, dt, &wts_keep);
  const int64_t nt = idx.shape(1), m = idx.shape(2);
  py::array gx = new_array(dt, {n, c, npix});
  if (npix == 0) return gx;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* gp = cptr<T>(go);
    const int64_t* ip = static_cast<const int64_t*>(idx.data());
    T* xp = mptr<T>(gx);
    py::gil_scoped_release nogil;
    sample_scatter(gp, ip, static_cast<const T*>(wp), xp, n, c, npix, nt, m);
  });
  return gx;
}

py::array sample_dot_(py::handle go_obj, py::handle src_obj, py::handle idx_obj, bool vector) {
  py::array src = require_input(src_obj, "src");
  require_ndim(src, 3, "src");
  const DType dt = dtype_of(src, "src");
  const int64_t n = src.shape(0), c = src.shape(1);
  int64_t npix = src.shape(2);
  py::array idx = require_taps(idx_obj, n);
  const int64_t nt = idx.shape(1), m = idx.shape(2);
  py::array go = require_input(go_obj, "go");
  require_dtype(go, dt, "go");
  require_shape(go, {n, c, m}, "go");
  py::array sv = new_array(dt, {n, nt, m});
  if (npix == 0) {
    src = zero_pixels(dt, n, c);
    npix = 1;
  }
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* gp = cptr<T>(go);
    const T* sp = cptr<T>(src);
    const int64_t* ip = static_cast<const int64_t*>(idx.data());
    T* vp = mptr<T>(sv);
    py::gil_scoped_release nogil;
    sample_dot(gp, sp, ip, vp, n, c, npix, nt, m, vector);
  });
  return sv;
}

}  // namespace

void bind_sample(py::module_& m) {
  m.def("sample_gather", named("sample_gather", &sample_gather), py::arg("src"), py::arg("idx"),
        py::arg("wts"), py::arg("vector") = true,
        "out (n, c, m) = sum over taps t of wts[b, t, j] * src[b, c, idx[b, t, j]] for src (n, c, "
        "npix), idx (n, nt, m) int64, wts (n, nt, m) or None (weight 1, one tap); an index outside "
        "[0, npix) reads 0. vector=False: scalar loads instead of the SIMD gathers (same bits).");
  m.def("sample_scatter_add", named("sample_scatter_add", &sample_scatter_add), py::arg("go"),
        py::arg("idx"), py::arg("wts"), py::arg("npix"),
        "gx (n, c, npix): zeros plus wts[b, t, j] * go[b, c, j] added at idx[b, t, j] (an index "
        "outside [0, npix) dropped), in np.add.at's order over (t, j); deterministic.");
  m.def("sample_dot", named("sample_dot", &sample_dot_), py::arg("go"), py::arg("src"),
        py::arg("idx"), py::arg("vector") = true,
        "sv (n, nt, m) = sum over channels c (ascending) of go[b, c, j] * src[b, c, idx[b, t, j]] "
        "for go (n, c, m), src (n, c, npix); an index outside [0, npix) reads 0.");
}

}  // namespace bind
}  // namespace dg
