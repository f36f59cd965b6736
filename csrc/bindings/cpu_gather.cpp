// Bindings of gather and scatter_add with an index per element along one dim (csrc/cpu/gather.h):
// strided operands of any layout, an int32 or int64 index checked in the kernel's own pass.
#include <string>
#include <vector>

#include "bindings/cpu_common.h"
#include "bindings/index_error.h"
#include "common/threads.h"
#include "cpu/gather.h"

namespace dg {
namespace bind {
namespace {

using gather_kernels::kMaxDims;

// The element strides of a (aligned: every byte stride a multiple of the item size).
std::vector<int64_t> strides_of(const py::array& a, const char* name) {
  std::vector<int64_t> s(a.ndim());
  for (int i = 0; i < a.ndim(); ++i) s[i] = elem_stride(a, i, name);
  return s;
}

// The index: an aligned int32 or int64 array in native byte order; true for int64.
bool index_is_int64(const py::array& idx) {
  if (idx.dtype().equal(py::dtype::of<int64_t>())) return true;
  if (idx.dtype().equal(py::dtype::of<int32_t>())) return false;
  throw py::type_error("index: expected dtype int64 or int32, got " + dtype_str(idx));
}

// dim in [0, nd), nd >= 1, and the index of ndim nd no larger than `like` outside dim.
int64_t check_dim_and_index(py::handle dim_obj, const py::array& like, const py::array& idx,
                            const char* like_name) {
  const int64_t nd = like.ndim(), dim = require_int(dim_obj, "dim");
  if (nd == 0 || nd > kMaxDims || dim < 0 || dim >= nd)
    throw py::value_error("dim: expected 0 <= dim < " + std::to_string(nd) + " (" + like_name +
                          "'s ndim), got " + std::to_string(dim));
  require_ndim(idx, static_cast<int>(nd), "index");
  for (int64_t k = 0; k < nd; ++k)
    if (k != dim && idx.shape(k) > like.shape(k))
      throw py::value_error("index: shape " + shape_str(idx) + " is larger than " + like_name +
                            "'s " + shape_str(like) + " in a dim other than dim " +
                            std::to_string(dim));
  require_aligned(idx, "index");
  return dim;
}

[[noreturn]] void out_of_range(const char* op, int64_t v, int64_t n, int64_t dim) {
  throw index_range_error(std::string(op) + ": index: " + std::to_string(v) +
                          " is out of range [0, " + std::to_string(n) + ") for dim " +
                          std::to_string(dim));
}

template <class F>
void dispatch_index(bool i64, F&& f) {
  if (i64) return f(int64_t{});
  return f(int32_t{});
}

struct Bytes16 {
  uint64_t lo, hi;
};

// x.gather(dim, index): a new C-contiguous array of index's shape and x's dtype (any numeric or
// bool dtype of 1, 2, 4, 8 or 16 bytes: the elements are copied as bytes).
py::array gather(py::handle x_obj, py::handle dim_obj, py::handle idx_obj) {
  py::array x = require_array(x_obj, "x");
  const char kind = x.dtype().kind();
  const int64_t item = item_size(x);
  if (std::string("biufc").find(kind) == std::string::npos ||
      (item != 1 && item != 2 && item != 4 && item != 8 && item != 16))
    throw py::type_error("x: expected a numeric or bool dtype, got " + dtype_str(x));
  require_aligned(x, "x");
  py::array idx = require_array(idx_obj, "index");
  const bool i64 = index_is_int64(idx);
  const int64_t dim = check_dim_and_index(dim_obj, x, idx, "x");
  const int nd = static_cast<int>(x.ndim());
  const std::vector<int64_t> shape = shape_of(idx);
  py::array out = py::array(x.dtype(), std::vector<py::ssize_t>(shape.begin(), shape.end()));
  if (out.size() == 0) return out;
  std::vector<int64_t> os(nd);
  for (int64_t a = nd - 1, s = 1; a >= 0; s *= shape[a], --a) os[a] = s;
  const std::vector<int64_t> is = strides_of(idx, "index"), xs = strides_of(x, "x");
  const gather_kernels::Nest ns = gather_kernels::make_nest(
      nd, static_cast<int>(dim), shape.data(), os.data(), is.data(), xs.data(), nullptr);
  const int64_t n = x.shape(dim);
  int64_t bad = 0;
  bool ok = true;
  {
    const void* xp = x.data();
    void* op = out.mutable_data();
    const void* ip = idx.data();
    const int nt = num_threads();
    py::gil_scoped_release nogil;
    auto run = [&](auto e) {
      using E = decltype(e);
      dispatch_index(i64, [&](auto i) {
        using I = decltype(i);
        ok = gather_kernels::gather(ns, n, static_cast<E*>(op), static_cast<const I*>(ip),
                                    static_cast<const E*>(xp), nt, &bad);
      });
    };
    switch (item) {
      case 1:
        run(uint8_t{});
        break;
      case 2:
        run(uint16_t{});
        break;
      case 4:
        run(uint32_t{});
        break;
      case 8:
        run(uint64_t{});
        break;
      default:
        run(Bytes16{});
    }
  }
  if (!ok) out_of_range("gather", bad, n, dim);
  return out;
}

// base.scatter_add(dim, index, src): a new C-contiguous array of base's shape and dtype (float32
// or float64), base plus src's elements added at index along dim. base and src of any layout
// (a broadcast zero for base gives the scatter into zeros); src at least index's shape (its
// leading block is used). Repeated destinations add in index order: np.add.at's bits.
py::array scatter_add(py::handle base_obj, py::handle dim_obj, py::handle idx_obj,
                      py::handle src_obj) {
  py::array base = require_array(base_obj, "self");
  const DType dt = dtype_of(base, "self");
  require_aligned(base, "self");
  py::array idx = require_array(idx_obj, "index");
  const bool i64 = index_is_int64(idx);
  const int64_t dim = check_dim_and_index(dim_obj, base, idx, "self");
  py::array src = require_array(src_obj, "src");
  require_dtype(src, dt, "src");
  require_aligned(src, "src");
  const int nd = static_cast<int>(base.ndim());
  require_ndim(src, nd, "src");
  for (int k = 0; k < nd; ++k)
    if (src.shape(k) < idx.shape(k))
      throw py::value_error("src: expected a shape at least the index's " + shape_str(idx) +
                            " in every dim, got " + shape_str(src));
  const std::vector<int64_t> shape = shape_of(base), ishape = shape_of(idx);
  bool covers = true;  // the index spans base outside dim: each task sets its destinations
  for (int k = 0; k < nd; ++k) covers = covers && (k == dim || ishape[k] == shape[k]);
  const bool empty = idx.size() == 0;
  py::array out = empty || !covers ? py::array(base.attr("copy")()) : new_array(dt, shape);
  if (empty) return out;
  if (base.size() == 0) {  // a non-empty index fits base outside dim: shape[dim] is 0
    const int64_t v = i64 ? *static_cast<const int64_t*>(idx.data())
                          : int64_t(*static_cast<const int32_t*>(idx.data()));
    out_of_range("scatter_add", v, shape[dim], dim);
  }
  std::vector<int64_t> os(nd);
  for (int64_t a = nd - 1, s = 1; a >= 0; s *= shape[a], --a) os[a] = s;
  const std::vector<int64_t> is = strides_of(idx, "index"), ss = strides_of(src, "src");
  const std::vector<int64_t> bs = strides_of(base, "self");
  const gather_kernels::Nest ns = gather_kernels::make_nest(
      nd, static_cast<int>(dim), ishape.data(), ss.data(), is.data(), os.data(), bs.data());
  const int64_t n = shape[dim];
  int64_t bad = 0;
  bool ok = true;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    T* op = mptr<T>(out);
    const T* sp = cptr<T>(src);
    const T* bp = covers ? cptr<T>(base) : nullptr;
    const void* ip = idx.data();
    const int nt = num_threads();
    py::gil_scoped_release nogil;
    dispatch_index(i64, [&](auto i) {
      using I = decltype(i);
      ok = gather_kernels::scatter_add(ns, n, op, static_cast<const I*>(ip), sp, bp, nt, &bad);
    });
  });
  if (!ok) out_of_range("scatter_add", bad, n, dim);
  return out;
}

}  // namespace

void bind_gather(py::module_& m) {
  m.def("gather", named("gather", &gather), py::arg("x"), py::arg("dim"), py::arg("index"),
        "x.gather(dim, index) (torch.gather): a new C-contiguous array of index's shape, "
        "out[p] = x[p with p[dim] = index[p]]; x of any layout and numeric dtype; index int32 or "
        "int64, of x's ndim, no larger than x outside dim; IndexError for a value outside "
        "[0, x.shape[dim]).");
  m.def("scatter_add", named("scatter_add", &scatter_add), py::arg("self"), py::arg("dim"),
        py::arg("index"), py::arg("src"),
        "self.scatter_add(dim, index, src) (torch.scatter_add): a new C-contiguous array, self "
        "plus src[p] added at p with p[dim] = index[p] (float32 / float64; any layout; src at "
        "least index's shape); repeated destinations add in index order (np.add.at's bits); "
        "IndexError for a value outside [0, self.shape[dim]).");
}

}  // namespace bind
}  // namespace dg
