// Argument validation at the binding edge: every error names the argument, what was expected
// and what came. Kernels below this layer never see a Python object and never validate again.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dg {
namespace bind {

namespace py = pybind11;

enum class DType { f32, f64 };

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    s += std::to_string(a.shape(i));
    if (a.ndim() == 1 || i + 1 < a.ndim()) s += ",";
    if (i + 1 < a.ndim()) s += " ";
  }
  return s + ")";
}

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    s += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) s += ",";
    if (i + 1 < shape.size()) s += " ";
  }
  return s + ")";
}

inline std::string strides_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    s += std::to_string(a.strides(i));
    if (a.ndim() == 1 || i + 1 < a.ndim()) s += ",";
    if (i + 1 < a.ndim()) s += " ";
  }
  return s + ")";
}

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }
inline const char* dtype_name(DType d) { return d == DType::f32 ? "float32" : "float64"; }

// An integer argument (a count, an index, a step): a Python or NumPy int; a bool is not one
// (TypeError, as a float), a value outside int64 is a ValueError.
inline int64_t require_int(py::handle h, const char* name) {
  if (PyBool_Check(h.ptr()) || !PyIndex_Check(h.ptr()))  // numpy.bool_ has no __index__
    throw py::type_error(std::string(name) + ": expected an int, got " +
                         std::string(Py_TYPE(h.ptr())->tp_name) + " " +
                         py::repr(h).cast<std::string>());
  const py::object v = py::reinterpret_steal<py::object>(PyNumber_Index(h.ptr()));
  if (!v) throw py::error_already_set();
  int overflow = 0;
  const long long n = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow)
    throw py::value_error(std::string(name) + ": expected an int64, got " +
                          py::str(v).cast<std::string>() + ", which is out of range");
  return static_cast<int64_t>(n);
}

// A numpy.ndarray, or TypeError.
inline py::array require_array(py::handle h, const char* name) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(
        std::string(name) + ": expected a numpy.ndarray, got " +
        (h.is_none() ? std::string("None") : py::type::of(h).attr("__name__").cast<std::string>()));
  return py::reinterpret_borrow<py::array>(h);
}

// True for a float32 / float64 dtype stored in the other byte order (e.g. '>f4' on x86).
inline bool is_byteswapped_float(const py::array& a) {
  const py::dtype d = a.dtype();
  return d.kind() == 'f' && (d.itemsize() == 4 || d.itemsize() == 8) &&
         !d.attr("isnative").cast<bool>();
}

// The byte-order character of a dtype stored in the other byte order ('>' on x86).
#if PY_BIG_ENDIAN
constexpr char kNonNativeByteOrder = '<';
#else
constexpr char kNonNativeByteOrder = '>';
#endif

// True, with *dt set, for a float32 / float64 array in native byte order, read from the array's
// descriptor (no dtype object made, no NumPy call: this is on every op's path).
inline bool native_float(const py::array& a, DType* dt) {
  using api = py::detail::npy_api;
  const auto* d = py::detail::array_descriptor_proxy(py::detail::array_proxy(a.ptr())->descr);
  if (d->byteorder == kNonNativeByteOrder) return false;
  if (d->type_num == api::NPY_FLOAT_) {
    *dt = DType::f32;
    return true;
  }
  if (d->type_num == api::NPY_DOUBLE_) {
    *dt = DType::f64;
    return true;
  }
  return false;
}

// float32 or float64 (native byte order), or TypeError.
inline DType dtype_of(const py::array& a, const char* name) {
  DType dt;
  if (native_float(a, &dt)) return dt;
  if (is_byteswapped_float(a))
    throw py::type_error(std::string(name) +
                         ": expected dtype float32 or float64 in native "
                         "byte order, got a byte-swapped " +
                         dtype_str(a) +
                         " array (convert it with x.astype(x.dtype.newbyteorder('=')))");
  throw py::type_error(std::string(name) + ": expected dtype float32 or float64, got " +
                       dtype_str(a));
}

inline void require_dtype(const py::array& a, DType want, const char* name) {
  DType got = dtype_of(a, name);
  if (got != want)
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name(want) + ", got " +
                         dtype_str(a));
}

inline void require_ndim(const py::array& a, int ndim, const char* name) {
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected a " + std::to_string(ndim) +
                          "-D array, got shape " + shape_str(a));
}

inline void require_shape(const py::array& a, const int64_t* shape, size_t ndim, const char* name) {
  bool same = a.ndim() == static_cast<py::ssize_t>(ndim);
  for (size_t i = 0; same && i < ndim; ++i) same = a.shape()[i] == shape[i];
  if (!same)
    throw py::value_error(std::string(name) + ": expected shape " +
                          shape_str(std::vector<int64_t>(shape, shape + ndim)) + ", got " +
                          shape_str(a));
}

inline void require_shape(const py::array& a, const std::vector<int64_t>& shape, const char* name) {
  require_shape(a, shape.data(), shape.size(), name);
}

inline void require_shape(const py::array& a, std::initializer_list<int64_t> shape,
                          const char* name) {
  require_shape(a, shape.begin(), shape.size(), name);
}

// The item size in bytes, read from the descriptor (py::array::itemsize() makes a dtype object).
inline int64_t item_size(const py::array& a) {
  PyObject* d = py::detail::array_proxy(a.ptr())->descr;
  if (py::detail::npy_api::get().PyArray_RUNTIME_VERSION_ < 0x12)
    return py::detail::array_descriptor1_proxy(d)->elsize;
  return py::detail::array_descriptor2_proxy(d)->elsize;
}

// The stride of dimension `dim` in elements; ValueError for byte strides that are not a multiple
// of the item size (the Python layer copies such views before calling).
inline int64_t elem_stride(const py::array& a, int dim, const char* name) {
  const int64_t bytes = a.strides()[dim], item = item_size(a);
  // float32 / float64: divisions by a constant (a general one takes tens of cycles)
  if (item == 4 && bytes % 4 == 0) return bytes / 4;
  if (item == 8 && bytes % 8 == 0) return bytes / 8;
  if (bytes % item != 0)
    throw py::value_error(std::string(name) + ": stride of " + std::to_string(bytes) +
                          " bytes is not a multiple of the item size " + std::to_string(item));
  return bytes / item;
}

inline bool is_c_contiguous(const py::array& a) { return (a.flags() & py::array::c_style) != 0; }

// NumPy's ALIGNED flag: the data pointer (and every stride) a multiple of the item size.
inline void require_aligned(const py::array& a, const char* name) {
  constexpr int kNpyAligned = 0x0100;  // NPY_ARRAY_ALIGNED
  if (!(a.flags() & kNpyAligned))
    throw py::value_error(std::string(name) +
                          ": expected an aligned array (address a multiple "
                          "of the item size " +
                          std::to_string(a.itemsize()) +
                          "), got one at "
                          "address offset " +
                          std::to_string(reinterpret_cast<uintptr_t>(a.data()) % a.itemsize()));
}

inline void require_contiguous(const py::array& a, const char* name) {
  if (!is_c_contiguous(a))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array, got strides " +
                          strides_str(a) + " for shape " + shape_str(a));
}

// True when two different index tuples of `a` may address the same bytes (a zero stride on a
// dimension longer than 1, as np.broadcast_to gives, or overlapping as_strided windows).
// Conservative: the dimensions sorted by |stride| must each step past everything the smaller
// ones span.
inline bool has_internal_overlap(const py::array& a) {
  constexpr py::ssize_t kMaxDims = 64;         // NumPy 2's NPY_MAXDIMS: no allocation on this path
  std::pair<int64_t, int64_t> dims[kMaxDims];  // (|stride| in bytes, length)
  const py::ssize_t nd = std::min(a.ndim(), kMaxDims);
  const py::ssize_t *shape = a.shape(), *strides = a.strides();
  int n = 0;
  for (py::ssize_t i = 0; i < nd; ++i) {
    if (shape[i] == 0) return false;  // no elements, nothing overlaps
    if (shape[i] > 1) dims[n++] = {std::abs(static_cast<int64_t>(strides[i])), shape[i]};
  }
  std::sort(dims, dims + n);
  int64_t span = item_size(a);
  for (int i = 0; i < n; ++i) {
    const auto [stride, len] = dims[i];
    if (stride < span) return true;
    span = stride * (len - 1) + span;
  }
  return false;
}

// An output buffer: writable, the right dtype and shape, no two elements at one address.
// Never silently copied.
inline void require_out(const py::array& out, DType want, const int64_t* shape, size_t ndim,
                        const char* name) {
  require_dtype(out, want, name);
  require_shape(out, shape, ndim, name);
  if (!out.writeable())
    throw py::value_error(std::string(name) + ": expected a writable array, got a read-only one");
  if (has_internal_overlap(out))
    throw py::value_error(std::string(name) +
                          ": expected an array whose elements do not "
                          "overlap, got a view with strides " +
                          strides_str(out) + " that maps several elements to one address");
}

inline void require_out(const py::array& out, DType want, const std::vector<int64_t>& shape,
                        const char* name) {
  require_out(out, want, shape.data(), shape.size(), name);
}

inline void require_out(const py::array& out, DType want, std::initializer_list<int64_t> shape,
                        const char* name) {
  require_out(out, want, shape.begin(), shape.size(), name);
}

// Copies of an input view are explicit and bounded: a view whose elements overlap (a
// broadcast / zero-stride view) can stand for far more bytes than it occupies; copying one
// that large would silently allocate (and touch) gigabytes, so it is a ValueError instead.
constexpr int64_t kMaxViewCopyBytes = int64_t(1) << 30;

inline void require_copyable(const py::array& a, const char* name) {
  const int64_t bytes = static_cast<int64_t>(a.nbytes());
  if (bytes > kMaxViewCopyBytes && has_internal_overlap(a))
    throw py::value_error(std::string(name) +
                          ": expected an array this op can read in place, "
                          "got a broadcast (overlapping-stride) view of shape " +
                          shape_str(a) + " whose copy would take " + std::to_string(bytes >> 20) +
                          " MiB; materialize it explicitly if that is intended");
}

// The byte range [lo, hi) an array's elements span (empty arrays span nothing).
inline std::pair<uintptr_t, uintptr_t> byte_extent(const py::array& a) {
  uintptr_t lo = reinterpret_cast<uintptr_t>(a.data()), hi = lo;
  const py::ssize_t *shape = a.shape(), *strides = a.strides();
  for (py::ssize_t i = 0, nd = a.ndim(); i < nd; ++i) {
    if (shape[i] == 0) return {lo, lo};
    const int64_t span = (shape[i] - 1) * static_cast<int64_t>(strides[i]);
    if (span < 0)
      lo += span;
    else
      hi += span;
  }
  return {lo, hi + item_size(a)};
}

// Conservative (like numpy.may_share_memory): true when the extents intersect.
inline bool may_overlap(const py::array& a, const py::array& b) {
  auto [alo, ahi] = byte_extent(a);
  auto [blo, bhi] = byte_extent(b);
  return alo < bhi && blo < ahi && alo != ahi && blo != bhi;
}

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

// a * b + c, or ValueError naming `name` where int64 would overflow. For geometry computed from
// user arguments (a dilation of 2^62 made a 5-tap kernel span 4 * 2^62 + 1, which wraps to 1,
// and the convolution ran on the 8 x 8 input as if undilated).
inline int64_t muladd_checked(int64_t a, int64_t b, int64_t c, const char* name) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || __builtin_add_overflow(r, c, &r))
    throw py::value_error(std::string(name) + ": too large: the geometry overflows int64 (" +
                          std::to_string(a) + " * " + std::to_string(b) + " + " +
                          std::to_string(c) + ")");
  return r;
}

// a / b rounded toward -inf (b > 0 or b < 0, not 0).
inline int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// A pooling window count along one axis, torch's pooling_output_shape (in >= 0, k, s, d >= 1,
// 0 <= p <= k / 2: checked by the caller), in int64 with every step that could overflow checked
// (the 2-D and 3-D pool bindings).
inline int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                             bool ceil_mode) {
  const int64_t span = muladd_checked(d, k - 1, 1, "dilation");  // the dilated kernel
  const int64_t padded = muladd_checked(2, p, in, "padding");
  const int64_t num = muladd_checked(1, padded - span, ceil_mode ? s - 1 : 0, "stride");
  int64_t o = floor_div(num, s) + 1;
  // with ceil_mode the last window must start inside the input or its leading padding:
  // (o - 1) * s >= in + p, without the product: o - 1 >= ceil((in + p) / s)
  if (ceil_mode && o - 1 >= (in + p) / s + ((in + p) % s != 0)) --o;
  return o;
}

// An average pool's divisor_override: None -> 0 (the window's count), else a nonzero int.
inline int64_t divisor_arg(py::handle h) {
  if (h.is_none()) return 0;
  const int64_t v = require_int(h, "divisor_override");
  if (v == 0) throw py::value_error("divisor_override: expected a nonzero int, got 0");
  return v;
}

// A new C-contiguous float32 or float64 array of ndim dimensions, made as NumPy makes its own
// results (PyArray_NewFromDescr with the builtin descriptor): no dtype object, no vectors. A
// shape whose bytes do not fit in an ssize_t is a ValueError giving the shape (NumPy's own
// "array is too big" names neither the op nor the shape).
inline py::array new_array(DType dt, const int64_t* shape, size_t ndim) {
  auto& api = py::detail::npy_api::get();
  constexpr size_t kMaxDims = 64;  // NumPy 2's NPY_MAXDIMS (NumPy 1's is 32: it raises)
  if (ndim > kMaxDims) throw py::value_error("too many dimensions: " + std::to_string(ndim));
  int64_t bytes = dt == DType::f32 ? 4 : 8;
  bool empty = false;
  for (size_t i = 0; i < ndim; ++i) {
    if (shape[i] < 0)
      throw py::value_error("the result's shape " +
                            shape_str(std::vector<int64_t>(shape, shape + ndim)) +
                            " has a negative size");
    empty = empty || shape[i] == 0;
  }
  for (size_t i = 0; i < ndim && !empty; ++i)
    if (__builtin_mul_overflow(bytes, shape[i], &bytes))
      throw py::value_error("the result's shape " +
                            shape_str(std::vector<int64_t>(shape, shape + ndim)) +
                            " is too large (more than 2^63 bytes)");
  Py_intptr_t dims[kMaxDims];
  for (size_t i = 0; i < ndim; ++i) dims[i] = static_cast<Py_intptr_t>(shape[i]);
  PyObject* descr = api.PyArray_DescrFromType_(dt == DType::f32 ? api.NPY_FLOAT_ : api.NPY_DOUBLE_);
  if (descr == nullptr) throw py::error_already_set();
  PyObject* r = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, static_cast<int>(ndim), dims,
                                          nullptr, nullptr, 0, nullptr);  // steals descr
  if (r == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::array>(r);
}

inline py::array new_array(DType dt, const std::vector<int64_t>& shape) {
  return new_array(dt, shape.data(), shape.size());
}

inline py::array new_array(DType dt, std::initializer_list<int64_t> shape) {
  return new_array(dt, shape.begin(), shape.size());
}

// A float input read linearly by a kernel: an ndarray of dtype float32/float64 (TypeError),
// C-contiguous (ValueError; dg.ops copies views explicitly before calling).
inline py::array require_input(py::handle h, const char* name) {
  py::array a = require_array(h, name);
  dtype_of(a, name);
  require_contiguous(a, name);
  require_aligned(a, name);
  return a;
}

// A second input that must match the first's dtype (TypeError) and shape (ValueError).
inline py::array require_like(py::handle h, const py::array& like, const char* name,
                              const char* like_name) {
  py::array a = require_input(h, name);
  const DType dt = dtype_of(like, like_name);
  if (dtype_of(a, name) != dt)
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name(dt) +
                         " (the dtype of " + like_name + "), got " + dtype_str(a));
  require_shape(a, shape_of(like), name);
  return a;
}

// The output of an elementwise op: a new array when out is None; else writable, the right
// dtype and shape, C-contiguous, and either disjoint from every input or exactly one of them
// (same memory, same layout: in place is safe elementwise). Never silently copied.
inline py::array elementwise_out(py::handle out_obj, DType dt, const std::vector<int64_t>& shape,
                                 std::initializer_list<const py::array*> inputs) {
  if (out_obj.is_none()) return new_array(dt, shape);
  py::array out = require_array(out_obj, "out");
  require_out(out, dt, shape, "out");
  require_contiguous(out, "out");
  require_aligned(out, "out");
  for (const py::array* in : inputs) {
    if (!may_overlap(out, *in)) continue;
    if (out.data() == in->data() && is_c_contiguous(*in)) continue;  // exactly in place
    throw py::value_error(
        "out: shares memory with an input without being exactly that input; elementwise "
        "ops may only write in place (out is the input) or to disjoint memory");
  }
  return out;
}

// "op: message" (unless the message already starts with "op:").
inline std::string with_op(const char* op, const char* msg) {
  const std::string m(msg), p = std::string(op) + ":";
  if (m.compare(0, p.size(), p) == 0) return m;
  return std::string(op) + ": " + m;
}

// The binding function f, with the op's name put in front of every TypeError / ValueError it
// raises: "matmul: out: expected ..., got ...".
template <class R, class... A>
auto named(const char* op, R (*f)(A...)) {
  return [op, f](A... args) -> R {
    try {
      return f(std::forward<A>(args)...);
    } catch (const py::value_error& e) {
      throw py::value_error(with_op(op, e.what()));
    } catch (const py::type_error& e) {
      throw py::type_error(with_op(op, e.what()));
    }
  };
}

// A double as Python prints it (shortest round trip: 0.1, nan, -inf).
inline std::string num_str(double v) { return py::repr(py::float_(v)).cast<std::string>(); }

// A hyper-parameter in [lo, hi) (hi_open) or [lo, hi]; NaN is always out. ValueError naming it.
inline void require_range(double v, const char* name, double lo, double hi, bool hi_open,
                          const char* expected) {
  if (!(v >= lo) || (hi_open ? !(v < hi) : !(v <= hi)))
    throw py::value_error(std::string(name) + ": expected " + expected + ", got " + num_str(v));
}

// Calls f(float{}) or f(double{}) for the array's dtype.
template <class F>
decltype(auto) dispatch_dtype(DType d, F&& f) {
  if (d == DType::f32) return f(float{});
  return f(double{});
}

}  // namespace bind
}  // namespace dg
