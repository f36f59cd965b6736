// Gather and scatter-add with an index per element along one dim (torch.gather, torch.scatter_add):
// over the positions p of the index, out[p] = x[p with p[d] = idx[p]] and
// out[p with p[d] = idx[p]] += src[p]. Every operand is read through its own strides (views,
// broadcast zero strides, an index smaller than x outside dim d), so the Python layer makes no
// copy, and the index (int32 or int64) is range-checked in the same pass that uses it: a value
// outside [0, n) stops the kernel before any memory it names is touched, and is reported.
// Scalar code: one load of the index, one of the element, one store; there is nothing here a
// vector unit does faster on the short rows this is for (no ISA builds).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "common/threads.h"

namespace dg {
namespace gather_kernels {

inline constexpr int kMaxDims = 64;                  // NumPy 2's NPY_MAXDIMS
inline constexpr int64_t kGrain = int64_t(1) << 16;  // fewer elements: the calling thread alone

// The loop nest over the index's shape: dims of length 1 dropped and neighbours that every
// operand steps through as one merged (never dim d), so that contiguous operands leave one long
// innermost loop. Strides in elements, per operand: pos, the operand addressed at p (gather's
// out, scatter's src); idx, the index; sel, the operand addressed at p with p[d] = idx[p]
// (gather's x, scatter's out); base, scatter's initial values (addressed as sel, over sel's
// whole length n along d).
struct Nest {
  int k = 0, d = 0;
  int64_t size[kMaxDims];
  int64_t pos[kMaxDims], idx[kMaxDims], sel[kMaxDims], base[kMaxDims];
};

// shape: the index's (nd dims, none 0); strides in elements (base may be null: all zero).
inline Nest make_nest(int nd, int d, const int64_t* shape, const int64_t* pos, const int64_t* idx,
                      const int64_t* sel, const int64_t* base) {
  Nest ns;
  for (int a = 0; a < nd; ++a) {
    if (a != d && shape[a] == 1) continue;
    const int64_t b = base ? base[a] : 0;
    const int q = ns.k - 1;
    if (a != d && q >= 0 && q != ns.d && ns.pos[q] == pos[a] * shape[a] &&
        ns.idx[q] == idx[a] * shape[a] && ns.sel[q] == sel[a] * shape[a] &&
        ns.base[q] == b * shape[a]) {
      ns.size[q] *= shape[a];
      ns.pos[q] = pos[a], ns.idx[q] = idx[a], ns.sel[q] = sel[a], ns.base[q] = b;
      continue;
    }
    if (a == d) ns.d = ns.k;
    ns.size[ns.k] = shape[a];
    ns.pos[ns.k] = pos[a], ns.idx[ns.k] = idx[a], ns.sel[ns.k] = sel[a], ns.base[ns.k] = b;
    ++ns.k;
  }
  return ns;
}

// The first index value found out of range (any thread's), and a flag the others stop on.
struct BadIndex {
  std::atomic<bool> hit{false};
  int64_t value = 0;
  void report(int64_t v) {
    if (!hit.exchange(true)) value = v;
  }
};

// The tasks of a nest: the coordinates of the `outer` dims (all but the innermost, L, and, for
// a scatter, d: the destinations one task writes then belong to it alone) times `chunks`
// ranges of L (for_tasks walks them; run_tasks hands blocks of them to the threads).
struct Tasks {
  int n_outer = 0;
  int dims[kMaxDims];  // the outer dims, outermost first
  int64_t count = 1, chunks = 1, chunk = 0;
};

inline Tasks make_tasks(const Nest& ns, bool scatter, int nt) {
  Tasks t;
  const int L = ns.k - 1;
  for (int a = 0; a < L; ++a)
    if (!(scatter && a == ns.d)) {
      t.dims[t.n_outer++] = a;
      t.count *= ns.size[a];
    }
  const int64_t len = ns.size[L];
  // ranges of L where there are too few outer tasks to share out (not for a scatter along L:
  // every element of its row may hit any destination of the row)
  if (!(scatter && L == ns.d) && nt > 1 && t.count < 4 * nt && len >= 512)
    t.chunks = std::min<int64_t>((4 * nt + t.count - 1) / t.count, len / 256);
  t.chunk = (len + t.chunks - 1) / t.chunks;
  return t;
}

// A task's offsets into each operand (sel and base: without dim d's term).
struct Offsets {
  int64_t pos, idx, sel, base;
};

// f(offsets, rows, step, lo, hi) for tasks [b, e) of t (task = outer linear index * chunks +
// chunk): `rows` consecutive tasks along the innermost outer dim (one when L is cut in chunks),
// the offsets of the first and the step between them; false from f stops. The row loop is f's
// own, its strides in registers: one call per task cost as much as a 16-element row.
template <class F>
inline void for_tasks(const Nest& ns, const Tasks& t, int64_t b, int64_t e, F&& f) {
  int64_t c[kMaxDims];
  int64_t rest = b / t.chunks, ch = b % t.chunks;
  for (int q = t.n_outer - 1; q >= 0; --q) {
    const int64_t s = ns.size[t.dims[q]];
    c[q] = rest % s;
    rest /= s;
  }
  const int last = t.n_outer - 1, la = last >= 0 ? t.dims[last] : 0;
  const int64_t last_size = last >= 0 ? ns.size[la] : 1;
  const Offsets step = last < 0 ? Offsets{0, 0, 0, 0}
                                : Offsets{ns.pos[la], ns.idx[la], la == ns.d ? 0 : ns.sel[la],
                                          la == ns.d ? 0 : ns.base[la]};
  const int64_t len = ns.size[ns.k - 1];
  for (int64_t task = b; task < e;) {
    Offsets o{0, 0, 0, 0};
    for (int q = 0; q < t.n_outer; ++q) {
      const int a = t.dims[q];
      o.pos += c[q] * ns.pos[a], o.idx += c[q] * ns.idx[a];
      if (a != ns.d) o.sel += c[q] * ns.sel[a], o.base += c[q] * ns.base[a];
    }
    const int64_t lo = ch * t.chunk, hi = std::min(len, lo + t.chunk);
    int64_t rows = 1;
    if (t.chunks == 1 && last >= 0) rows = std::min(last_size - c[last], e - task);
    if (!f(o, rows, step, lo, hi)) return;
    task += rows;
    if (t.chunks > 1 && ++ch < t.chunks) continue;
    ch = 0;
    if (last < 0) continue;
    c[last] += rows;
    if (c[last] < last_size) continue;
    c[last] = 0;
    for (int q = last - 1; q >= 0 && ++c[q] == ns.size[t.dims[q]]; --q) c[q] = 0;
  }
}

// Runs the tasks on the calling thread or, for `elems` elements above kGrain, on nt threads in
// dynamically handed-out blocks of about max(4096, elems / (8 nt)) elements.
template <class F>
inline void run_tasks(const Nest& ns, const Tasks& t, int64_t elems, int nt, BadIndex& bad, F&& f) {
  const int64_t total = t.count * t.chunks;
  if (nt <= 1 || elems <= kGrain || total < 2) {
    for_tasks(ns, t, 0, total, f);
    return;
  }
  const int64_t per_task = std::max<int64_t>(1, elems / total);
  const int64_t want = std::max<int64_t>(4096, elems / (8 * int64_t(nt)));
  const int64_t block = std::max<int64_t>(1, want / per_task);
  const int64_t blocks = (total + block - 1) / block;
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    if (bad.hit.load(std::memory_order_relaxed)) continue;
    for_tasks(ns, t, blk * block, std::min(total, (blk + 1) * block), f);
  }
}

// Rows of a gather: o[i ps] = x[idx[i is] xd + i xs] for i in [lo, hi), `rows` rows `step` apart.
// False, with the value reported, at an index outside [0, n). The strides come by value (GCC
// reloaded captured ones from the closure after every store).
template <class E, class I>
inline bool gather_rows(E* o, const I* ip, const E* xp, int64_t rows, Offsets step, int64_t lo,
                        int64_t hi, int64_t ps, int64_t is, int64_t xs, int64_t xd, uint64_t n,
                        BadIndex& bad) {
  if (ps == 1 && is == 1 && xs == 0) {  // the common case: contiguous rows along d
    for (int64_t r = 0; r < rows; ++r, o += step.pos, ip += step.idx, xp += step.sel) {
      int64_t i = lo;
      // four at a time, one branch for their checks, the loads before the stores: 15-20%
      // faster than one at a time on 16-element rows
      for (; i + 4 <= hi; i += 4) {
        const uint64_t v0 = ip[i], v1 = ip[i + 1], v2 = ip[i + 2], v3 = ip[i + 3];
        if (((v0 >= n) | (v1 >= n)) | ((v2 >= n) | (v3 >= n))) break;  // reported below
        const E a = xp[v0 * xd], b = xp[v1 * xd], c = xp[v2 * xd], d = xp[v3 * xd];
        o[i] = a, o[i + 1] = b, o[i + 2] = c, o[i + 3] = d;
      }
      for (; i < hi; ++i) {
        const int64_t v = ip[i];
        if (static_cast<uint64_t>(v) >= n) return bad.report(v), false;
        o[i] = xp[v * xd];
      }
    }
    return true;
  }
  for (int64_t r = 0; r < rows; ++r, o += step.pos, ip += step.idx, xp += step.sel)
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t v = ip[i * is];
      if (static_cast<uint64_t>(v) >= n) return bad.report(v), false;
      o[i * ps] = xp[v * xd + i * xs];
    }
  return true;
}

// o[i os] = b[i bs] for i in [0, len): short contiguous rows without a call to memcpy.
template <class T>
inline void copy_row(T* o, const T* b, int64_t len, int64_t os, int64_t bs) {
  if (os == 1 && bs == 1) {
    if (len >= 64) {
      std::memcpy(o, b, sizeof(T) * len);
      return;
    }
    int64_t i = 0;
    for (; i + 4 <= len; i += 4) std::memcpy(o + i, b + i, 4 * sizeof(T));
    for (; i < len; ++i) o[i] = b[i];
    return;
  }
  if (bs == 0) {
    const T v = b[0];
    if (os == 1) {
      int64_t i = 0;
      for (; i + 4 <= len; i += 4) {
        const T q[4] = {v, v, v, v};
        std::memcpy(o + i, q, sizeof q);
      }
      for (; i < len; ++i) o[i] = v;
      return;
    }
    for (int64_t i = 0; i < len; ++i) o[i * os] = v;
    return;
  }
  for (int64_t i = 0; i < len; ++i) o[i * os] = b[i * bs];
}

// out[p] = x[p with p[d] = idx[p]] over the nest (pos: out, sel: x), idx in [0, n). E: an
// element of x's size (the bytes are copied, whatever the dtype). Returns false, with *bad_value
// set, for an index value out of range.
template <class E, class I>
bool gather(const Nest& ns, int64_t n, E* out, const I* idx, const E* x, int nt,
            int64_t* bad_value) {
  const Tasks t = make_tasks(ns, false, nt);
  const int L = ns.k - 1;
  const int64_t ps = ns.pos[L], is = ns.idx[L], xs = L == ns.d ? 0 : ns.sel[L], xd = ns.sel[ns.d];
  int64_t elems = 1;
  for (int a = 0; a < ns.k; ++a) elems *= ns.size[a];
  BadIndex bad;
  const uint64_t un = static_cast<uint64_t>(n);
  run_tasks(ns, t, elems, nt, bad,
            [&](const Offsets& o, int64_t rows, const Offsets& step, int64_t lo, int64_t hi) {
              return gather_rows(out + o.pos, idx + o.idx, x + o.sel, rows, step, lo, hi, ps, is,
                                 xs, xd, un, bad);
            });
  if (bad.hit.load()) *bad_value = bad.value;
  return !bad.hit.load();
}

// A scatter's strides (pos: src, sel: out; the j loop runs along d when d is not L).
struct ScatterGeo {
  int64_t ss, is, os, bs;  // along L (os, bs: 0 when d is L)
  int64_t sd, id, od, bd;  // along d
  int64_t m;               // the j loop: the index's length along d, or 1 when d is L
};

// The rows of one scatter task: `rows` rows `step` apart, each first set from base (when non
// null) over its n destinations along d and [lo, hi) along L, then
// o[idx[j id + i is] od + i os] += s[j sd + i ss] for j in [0, m), i in [lo, hi), in that order.
template <class T, class I>
inline bool scatter_rows(T* o, const I* ip, const T* sp, const T* b, int64_t rows, Offsets step,
                         int64_t lo, int64_t hi, ScatterGeo g, uint64_t n, BadIndex& bad) {
  const int64_t nn = static_cast<int64_t>(n);
  if (g.ss == 1 && g.is == 1 && g.os == 0 && g.od == 1 && g.m == 1) {  // contiguous rows along d
    // One element at a time, each read-modify-write waits for the last one that hit the same
    // destination (on a 16-element row, most do): two short rows are interleaved, long rows
    // take four elements at a time, one branch for their checks (16384 x 16 float32: 200 ->
    // 170 us; 256 x 4096: 740 -> 640 us). The order within each row stays the index's.
    int64_t r = 0;
    if (hi - lo <= 256)
      for (; r + 2 <= rows; r += 2, o += 2 * step.sel, ip += 2 * step.idx, sp += 2 * step.pos) {
        T* o2 = o + step.sel;
        const I* ip2 = ip + step.idx;
        const T* sp2 = sp + step.pos;
        if (b) {
          copy_row(o, b + r * step.base, nn, 1, g.bd);
          copy_row(o2, b + (r + 1) * step.base, nn, 1, g.bd);
        }
        for (int64_t i = lo; i < hi; ++i) {
          const uint64_t v = static_cast<int64_t>(ip[i]), w = static_cast<int64_t>(ip2[i]);
          if ((v >= n) | (w >= n)) return bad.report(v >= n ? ip[i] : ip2[i]), false;
          o[v] += sp[i];
          o2[w] += sp2[i];
        }
      }
    for (; r < rows; ++r, o += step.sel, ip += step.idx, sp += step.pos) {
      if (b) copy_row(o, b + r * step.base, nn, 1, g.bd);
      int64_t i = lo;
      for (; i + 4 <= hi; i += 4) {
        const uint64_t v0 = ip[i], v1 = ip[i + 1], v2 = ip[i + 2], v3 = ip[i + 3];
        if (((v0 >= n) | (v1 >= n)) | ((v2 >= n) | (v3 >= n))) break;  // reported below
        o[v0] += sp[i];
        o[v1] += sp[i + 1];
        o[v2] += sp[i + 2];
        o[v3] += sp[i + 3];
      }
      for (; i < hi; ++i) {
        const int64_t v = ip[i];
        if (static_cast<uint64_t>(v) >= n) return bad.report(v), false;
        o[v] += sp[i];
      }
    }
    return true;
  }
  for (int64_t r = 0; r < rows; ++r, o += step.sel, ip += step.idx, sp += step.pos) {
    if (b) {
      const T* br = b + r * step.base;
      for (int64_t t = 0; t < nn; ++t)
        copy_row(o + t * g.od + lo * g.os, br + t * g.bd + lo * g.bs, hi - lo, g.os, g.bs);
    }
    for (int64_t j = 0; j < g.m; ++j) {
      const I* ij = ip + j * g.id;
      const T* sj = sp + j * g.sd;
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t v = ij[i * g.is];
        if (static_cast<uint64_t>(v) >= n) return bad.report(v), false;
        o[v * g.od + i * g.os] += sj[i * g.ss];
      }
    }
  }
  return true;
}

// out[p with p[d] = idx[p]] += src[p] over the nest (pos: src, sel: out), idx in [0, n); each
// destination takes its terms in increasing p[d] (np.add.at's order: the same bits on any
// thread count). With base non-null, each task first sets the destinations it owns (all n
// along d, its range of L) from base: the caller passes base only where the index covers out in
// every other dim (then the tasks cover all of out). Returns false, with *bad_value set, for an
// index value out of range (out is then partly written).
template <class T, class I>
bool scatter_add(const Nest& ns, int64_t n, T* out, const I* idx, const T* src, const T* base,
                 int nt, int64_t* bad_value) {
  const Tasks t = make_tasks(ns, true, nt);
  const int L = ns.k - 1, d = ns.d;
  const bool along_l = L == d;
  ScatterGeo g;
  g.ss = ns.pos[L], g.is = ns.idx[L], g.os = along_l ? 0 : ns.sel[L];
  g.bs = along_l ? 0 : ns.base[L];
  g.sd = along_l ? 0 : ns.pos[d], g.id = along_l ? 0 : ns.idx[d], g.od = ns.sel[d];
  g.bd = ns.base[d], g.m = along_l ? 1 : ns.size[d];
  int64_t elems = 1;
  for (int a = 0; a < ns.k; ++a) elems *= ns.size[a];
  if (base && ns.size[d] > 0) elems += elems / ns.size[d] * n;
  BadIndex bad;
  const uint64_t un = static_cast<uint64_t>(n);
  run_tasks(ns, t, elems, nt, bad,
            [&](const Offsets& o, int64_t rows, const Offsets& step, int64_t lo, int64_t hi) {
              return scatter_rows(out + o.sel, idx + o.idx, src + o.pos,
                                  base ? base + o.base : nullptr, rows, step, lo, hi, g, un, bad);
            });
  if (bad.hit.load()) *bad_value = bad.value;
  return !bad.hit.load();
}

}  // namespace gather_kernels
}  // namespace dg
