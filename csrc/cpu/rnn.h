// The time loops of the recurrent layers (nn.LSTM): a whole layer-direction's recurrence in one
// call, so that a long sequence of small steps pays no per-step Python or array-call overhead
// (nn/rnn.py `_sequence`: 512 steps of N 8, H 32 ran 0.36x torch as numpy calls per step).
//
// Layout (T steps, N rows, H hidden; the four LSTM gates i, f, g, o in blocks of H, torch's
// order): pre (T, N, 4H) holds W_ih x_t + b_ih + b_hh on entry; the forward adds h_{t-1} W_hh^T
// (given as wt = W_hh^T, (H, 4H) row-major) into pre[t] by one GEMM per step (beta 1) and leaves
// the activated gates there (sigmoid for i, f, o; tanh for g), which the backward reads. The states
// by slot (T + 1, N, H): step t reads slot t + prv and writes slot t + cur, slot `first` holding
// the initial state (forward: prv 0, cur 1, first 0; reverse: prv 1, cur 0, first T, steps in
// reverse order).
//   c_t = f c_{t-1} + i g,  h_t = o tanh(c_t)
// Backward through time, per step (t in the reverse of the forward's order), dh the slot's
// gradient, dc the running cell gradient:
//   dct = dh o (1 - tanh(c_t)^2) + dc
//   d(a_i, a_f, a_g, a_o) = (dct g i (1 - i), dct c_{t-1} f (1 - f), dct i (1 - g^2),
//                            dh tanh(c_t) o (1 - o)),   dc <- dct f
//   gacc[t + prv] += d(a) W_hh  (one GEMM per step, beta 1)
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

namespace dg {

// Whether the time loops pack W_hh once per call (StepGemm below; true, the default) or leave
// it to gemm() on every step (false: the same bits, the A/B and the tests' reference route).
// One switch for the process and every ISA's kernels, read once per time loop; set by
// _cpu._set_rnn_prepack (bindings/cpu_rnn.cpp, which includes this file for these two only).
inline std::atomic<bool> g_rnn_prepack{true};
// The time loops that have run with W_hh prepacked (_cpu._rnn_prepacked_loops): the tests'
// check that their cases take that route, without a copy of the GEMM's route decision.
inline std::atomic<int64_t> g_rnn_prepacked_loops{0};

}  // namespace dg

#ifdef DG_ISA_NS  // the kernels, compiled per ISA (the generated rnn_<isa>.cpp)

#include "cpu/kernel_common.h"
// gemm_prepack / gemm_prepacked: the GEMM's templates without its entry points, which are
// gemm_<isa>.cpp's (gemm() through cpu/ops.h; cpu/gemm.h explains the macro). Only here, and
// only around this #include.
#ifdef DG_GEMM_TEMPLATES_ONLY
#error "DG_GEMM_TEMPLATES_ONLY is cpu/rnn.h's own, around its #include of cpu/gemm.h"
#endif
#define DG_GEMM_TEMPLATES_ONLY
#include "cpu/gemm.h"
#undef DG_GEMM_TEMPLATES_ONLY

namespace dg {
namespace DG_ISA_NS {
namespace {

// The step GEMM's W_hh (its op(B), the same every step) packed once per call of the time loop
// instead of by gemm() on every step: at H 256, N 32 that was 1 MiB of W_hh^T repacked a step
// for 32 rows, and the LSTM ran 0.85-0.87x torch (bench_ops, round 44). The same bits as the
// per-step gemm() (cpu/gemm.h gemm_prepacked). Products gemm() runs without packing B (small H
// or N) keep the plain gemm(). g_rnn_prepack false (above) is the per-step route, for
// tests/test_lstm_prepacked_r44.py's comparison and A/B timings. nn.LSTM forward + backward,
// T 100, N 32, 128 inputs, AVX-512 (shared 2-core VM), in one process against the per-step
// route / torch, 1 and 2 threads: H 256 1.07x / 1.08x faster (0.93x / 0.91x torch, from 0.87x /
// 0.84x), H 512 1.10x / 1.07x (0.93x / 0.90x torch). The time loops' GEMMs now run at ~80% of
// the FMA peak; the rest of the gap is the input and weight-gradient GEMMs outside this file.
template <class T>
class StepGemm {
 public:
  explicit StepGemm(const GemmArgs<T>& g) {
    if (!g_rnn_prepack.load(std::memory_order_relaxed)) return;
    const int64_t size = gemm_prepack_size(g);
    if (size <= 0) return;
    const size_t bytes = (static_cast<size_t>(size) * sizeof(T) + 63) / 64 * 64;
    packed_.reset(static_cast<T*>(std::aligned_alloc(64, bytes)));
    if (!packed_) throw std::bad_alloc();
    gemm_prepack(g, packed_.get());
    g_rnn_prepacked_loops.fetch_add(1, std::memory_order_relaxed);
  }
  // g: the packing call's product with other A and C (alpha, beta)
  void operator()(const GemmArgs<T>& g) const {
    if (packed_)
      gemm_prepacked(g, packed_.get());
    else
      DG_ISA_NS::gemm(g);
  }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> packed_;
};

// f(vector of row r's lanes [j, j + n)) over every row and lane of an (N, H) step, whole
// vectors then one masked tail a row; rows split between threads when the step is large.
template <class T, class F>
inline void for_step_lanes(int64_t batch, int64_t hd, F&& f) {
  constexpr int W = Vec<T>::width;
  // the gate math costs ~10 exp-class calls a lane: threads pay off from ~4K lanes
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 12) / std::max<int64_t>(1, hd));
  parallel_chunks(batch, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t j = 0;
      for (; j + W <= hd; j += W) f(r, j, W);
      if (j < hd) f(r, j, static_cast<int>(hd - j));
    }
  });
}

template <class T>
void lstm_forward_t(T* pre, T* s, T* cs, T* tcs, const T* wt, int64_t seq, int64_t batch,
                    int64_t hd, bool reverse) {
  using V = Vec<T>;
  const int64_t g4 = 4 * hd, step = batch * hd;
  const int64_t prv = reverse ? 1 : 0, cur = reverse ? 0 : 1;
  // a += h_{t-1} @ W_hh^T, from W_hh^T row-major (wt): a small product packs a transposed B
  // slower than a row-major one (8 x 128 x 32: 3.0 against 1.15 us a call)
  GemmArgs<T> mm = strided_gemm<T>(batch, g4, hd, s, hd, 1, wt, g4, 1, pre, g4, 1);
  mm.beta = T(1);
  const StepGemm<T> step_gemm(mm);
  for (int64_t k = 0; k < seq; ++k) {
    const int64_t t = reverse ? seq - 1 - k : k;
    T* a = pre + t * batch * g4;
    mm.a = s + (t + prv) * step;
    mm.c = a;
    step_gemm(mm);
    const T* cp = cs + (t + prv) * step;
    T* cn = cs + (t + cur) * step;
    T* tc = tcs + t * step;
    T* hn = s + (t + cur) * step;
    for_step_lanes<T>(batch, hd, [&](int64_t r, int64_t j, int n) {
      T* ar = a + r * g4 + j;
      const int64_t o = r * hd + j;
      const V i = vsigmoid(load_n(ar, n)), f = vsigmoid(load_n(ar + hd, n));
      const V g = vtanh(load_n(ar + 2 * hd, n)), og = vsigmoid(load_n(ar + 3 * hd, n));
      const V c = fmadd(f, load_n(cp + o, n), i * g);
      const V th = vtanh(c);
      store_n(i, ar, n);
      store_n(f, ar + hd, n);
      store_n(g, ar + 2 * hd, n);
      store_n(og, ar + 3 * hd, n);
      store_n(c, cn + o, n);
      store_n(th, tc + o, n);
      store_n(og * th, hn + o, n);
    });
  }
}

template <class T>
void lstm_backward_t(const T* pre, const T* cs, const T* tcs, const T* w, T* gacc, T* dc, T* dgates,
                     int64_t seq, int64_t batch, int64_t hd, bool reverse) {
  using V = Vec<T>;
  const int64_t g4 = 4 * hd, step = batch * hd;
  const int64_t prv = reverse ? 1 : 0, cur = reverse ? 0 : 1;
  const V one = V::set1(T(1));
  // gacc[t + prv] += d(a) @ W_hh: (N, 4H) @ (4H, H)
  GemmArgs<T> mm = strided_gemm<T>(batch, hd, g4, dgates, g4, 1, w, hd, 1, gacc, hd, 1);
  mm.beta = T(1);
  const StepGemm<T> step_gemm(mm);
  for (int64_t k = 0; k < seq; ++k) {
    const int64_t t = reverse ? k : seq - 1 - k;  // the forward's order, reversed
    const T* a = pre + t * batch * g4;
    T* d = dgates + t * batch * g4;
    const T* dhp = gacc + (t + cur) * step;
    const T* cp = cs + (t + prv) * step;
    const T* tc = tcs + t * step;
    for_step_lanes<T>(batch, hd, [&](int64_t r, int64_t j, int n) {
      const T* ar = a + r * g4 + j;
      T* dr = d + r * g4 + j;
      const int64_t o = r * hd + j;
      const V i = load_n(ar, n), f = load_n(ar + hd, n), g = load_n(ar + 2 * hd, n);
      const V og = load_n(ar + 3 * hd, n), th = load_n(tc + o, n), dh = load_n(dhp + o, n);
      const V dct = fmadd(dh * og, fnmadd(th, th, one), load_n(dc + o, n));
      store_n(dct * g * i * (one - i), dr, n);
      store_n(dct * load_n(cp + o, n) * f * (one - f), dr + hd, n);
      store_n(dct * i * fnmadd(g, g, one), dr + 2 * hd, n);
      store_n(dh * th * og * (one - og), dr + 3 * hd, n);
      store_n(dct * f, dc + o, n);
    });
    mm.a = d;
    mm.c = gacc + (t + prv) * step;
    step_gemm(mm);
  }
}

}  // namespace

#define DG_RNN_DEFS(T)                                                                             \
  void lstm_sequence_forward(T* pre, T* s, T* cs, T* tcs, const T* wt, int64_t seq, int64_t batch, \
                             int64_t hd, bool reverse) {                                           \
    lstm_forward_t(pre, s, cs, tcs, wt, seq, batch, hd, reverse);                                  \
  }                                                                                                \
  void lstm_sequence_backward(const T* pre, const T* cs, const T* tcs, const T* w, T* gacc, T* dc, \
                              T* dgates, int64_t seq, int64_t batch, int64_t hd, bool reverse) {   \
    lstm_backward_t(pre, cs, tcs, w, gacc, dc, dgates, seq, batch, hd, reverse);                   \
  }
DG_RNN_DEFS(float)
DG_RNN_DEFS(double)
#undef DG_RNN_DEFS

}  // namespace DG_ISA_NS
}  // namespace dg

#endif  // DG_ISA_NS
