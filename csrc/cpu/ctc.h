// The CTC loss (torch.nn.functional.ctc_loss) and its gradient w.r.t. log_probs in ATen's form
// (exp(log_probs) minus the alignment posteriors), one sample a task, in double whatever T.
//
// exp(lp) is taken once for the batch by a vector exp (it is also the gradient's start: exp(lp)
// at every class that is not in the target). Each sample then runs first in probability space:
// alpha rows (over the 2L+1 states of the extended target blank, l1, blank, ..., lL, blank) scaled
// to sum 1 at every step, the loss minus the sum of the logs of the scales; beta (without the
// current step's probability, so alpha * beta is the mass of the paths through a state) scaled the
// same way, backwards, the posterior of a class at t the sum of its states' alpha * beta over the
// row's sum. A handful of flops a state instead of the three exp and a log of the log-space
// recursion. Only the states that lie on a complete path are kept (alpha: those that can still
// reach the end in time; beta: those reachable from the start), so every other state is an exact
// zero.
//
// That is exact while every product stays a normal double: a sample whose log_probs leave
// (-600, 1) (where grads are wanted: any class; else its target's), whose loss is infinite, or
// where a state's share of its row drops below ~1e-290 (it would lose bits or flush to 0) is
// done again by the log-space recursions, which are ATen's (ctc_loss_cpu_template and its
// backward) term for term, with their semantics where results are not finite: an impossible
// alignment has an infinite loss and NaN gradients (zero with zero_infinity), a class with a
// log_prob of -inf a NaN gradient.
//
// Header-only, for the binding's translation unit (csrc/bindings/cpu_ctc.cpp): a scalar loop
// over a short row, no ISA-specific code.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/threads.h"
#include "cpu/ops.h"

namespace dg {
namespace ctc {

template <class T>
struct Args {
  const T* lp;  // (t_max, n, c), C-contiguous
  int64_t t_max, n, c;
  const int64_t* targets;   // sample b's labels: targets[tg_start[b] + j], j < tg_len[b]
  const int64_t* tg_start;  // (n)
  const int64_t* in_len;    // (n), each in [0, t_max]
  const int64_t* tg_len;    // (n)
  int64_t blank;
  bool zero_infinity;  // the gradient of a sample with an infinite loss is 0 (else NaN)
  bool force_log;      // every sample by the log-space recursions (the tests)
  T* loss;             // (n): -log p(target | input)
  T* grad;             // (t_max, n, c) or null: exp(lp) - posteriors (zero for t >= in_len)
  const T* ex;         // exp(lp) (t_max, n, c) or null (ctc_loss: the grad buffer, or its own)
};

// The range of log_probs the probability-space pass takes: exp of it is a normal double with
// room for the products of a step, and a row's sum is at most 3 e (2L+1).
constexpr double kLpLo = -600.0, kLpHi = 1.0;
// The smallest state value (before a row is scaled) that keeps its bits through the scaling.
constexpr double kTiny = 1e-290;

struct Scratch {
  std::vector<double> d;
  std::vector<int64_t> i;
};

// ---- log space: ATen's recursions ------------------------------------------------------------

template <class T>
void sample_log(const Args<T>& a, int64_t b, Scratch& sc) {
  const double ninf = -std::numeric_limits<double>::infinity();
  const int64_t tn = a.in_len[b], nl = a.tg_len[b], ns = 2 * nl + 1, nc = a.c;
  const int64_t stride = a.n * nc;
  const int64_t* lab = a.targets + a.tg_start[b];
  const T* lp = a.lp + b * nc;
  const auto prime = [&](int64_t s) { return (s & 1) ? lab[s >> 1] : a.blank; };
  const auto lpv = [&](int64_t t, int64_t c) { return static_cast<double>(lp[t * stride + c]); };
  const bool grad = a.grad != nullptr;
  sc.d.resize(static_cast<size_t>(tn * ns * (grad ? 2 : 1) + (grad ? nc : 0)));
  double* la = sc.d.data();
  for (int64_t s = 0; s < ns; ++s) la[s] = ninf;
  la[0] = lpv(0, a.blank);
  if (nl > 0) la[1] = lpv(0, lab[0]);
  for (int64_t t = 1; t < tn; ++t) {
    const double* p = la + (t - 1) * ns;
    double* q = la + t * ns;
    for (int64_t s = 0; s < ns; ++s) {
      const int64_t cur = prime(s);
      const double l1 = p[s];
      double m = l1;
      double l2 = ninf, l3 = ninf;
      if (s > 0) {
        l2 = p[s - 1];
        if (l2 > m) m = l2;
      }
      if (s > 1 && prime(s - 2) != cur) {
        l3 = p[s - 2];
        if (l3 > m) m = l3;
      }
      if (m == ninf) m = 0;
      q[s] = std::log(std::exp(l1 - m) + std::exp(l2 - m) + std::exp(l3 - m)) + m + lpv(t, cur);
    }
  }
  const double* last = la + (tn - 1) * ns;
  const double l1 = last[ns - 1], l2 = nl > 0 ? last[ns - 2] : ninf;
  double m = std::max(l1, l2);
  m = m == ninf ? 0 : m;
  const double nll = -(std::log(std::exp(l1 - m) + std::exp(l2 - m)) + m);
  a.loss[b] = static_cast<T>(nll);
  if (!grad) return;
  if (a.zero_infinity && nll == std::numeric_limits<double>::infinity()) {
    for (int64_t t = 0; t < tn; ++t) std::fill_n(a.grad + t * stride + b * nc, nc, T(0));
    return;
  }
  double* lb = la + tn * ns;
  double* lcab = lb + tn * ns;
  double* e = lb + (tn - 1) * ns;
  for (int64_t s = 0; s < ns; ++s) e[s] = ninf;
  e[ns - 1] = lpv(tn - 1, a.blank);
  if (nl > 0) e[ns - 2] = lpv(tn - 1, prime(ns - 2));
  for (int64_t t = tn - 2; t >= 0; --t) {
    const double* p = lb + (t + 1) * ns;
    double* q = lb + t * ns;
    for (int64_t s = ns - 1; s >= 0; --s) {
      const int64_t cur = prime(s);
      const double b1 = p[s];
      double mx = b1;
      double b2 = ninf, b3 = ninf;
      if (s < ns - 1) {
        b2 = p[s + 1];
        if (b2 > mx) mx = b2;
      }
      if (s < ns - 2 && prime(s + 2) != cur) {
        b3 = p[s + 2];
        if (b3 > mx) mx = b3;
      }
      if (mx == ninf) mx = 0;
      q[s] = std::log(std::exp(b1 - mx) + std::exp(b2 - mx) + std::exp(b3 - mx)) + mx + lpv(t, cur);
    }
  }
  for (int64_t t = 0; t < tn; ++t) {
    std::fill_n(lcab, nc, ninf);
    for (int64_t s = 0; s < ns; ++s) {
      const double ab = la[t * ns + s] + lb[t * ns + s];
      double& acc = lcab[prime(s)];
      if (acc == ninf) {
        acc = ab;
      } else {
        const double mx = std::max(acc, ab);
        acc = std::log(std::exp(acc - mx) + std::exp(ab - mx)) + mx;
      }
    }
    T* g = a.grad + t * stride + b * nc;
    for (int64_t c = 0; c < nc; ++c) {
      const double v = lpv(t, c);
      g[c] = static_cast<T>(std::exp(v) - std::exp(lcab[c] + nll - v));
    }
  }
}

// ---- probability space -----------------------------------------------------------------------

// The sum of x[0, n), four partial sums (a single chain waits on each add's latency).
inline double row_sum(const double* x, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < n; ++i) s0 += x[i];
  return (s0 + s1) + (s2 + s3);
}

// False (no loss written; gradient rows maybe) where the sample needs the log-space recursions.
template <class T>
bool sample_prob(const Args<T>& a, int64_t b, Scratch& sc) {
  const int64_t tn = a.in_len[b], nl = a.tg_len[b], ns = 2 * nl + 1, nc = a.c;
  const int64_t stride = a.n * nc, w = ns + 2;
  const int64_t* lab = a.targets + a.tg_start[b];
  const T* lp = a.lp + b * nc;
  const T* ex = a.ex == nullptr ? nullptr : a.ex + b * nc;
  const bool grad = a.grad != nullptr;
  if (grad) {  // the log-space answer for a class outside the range differs (NaN at -inf)
    for (int64_t t = 0; t < tn; ++t) {
      const T* r = lp + t * stride;
      bool ok = true;
      for (int64_t c = 0; c < nc; ++c) ok &= (r[c] > T(kLpLo)) & (r[c] < T(kLpHi));
      if (!ok) return false;
    }
  }
  // ys[t, s]: the probability of state s's label at t; skip[s]: 1 where s - 2 -> s is allowed
  // (a label unlike the one before it), 0 past the states
  sc.d.resize(static_cast<size_t>(tn * ns + w + tn * w + 2 * w + (grad ? nc : 0)));
  double* ys = sc.d.data();
  double* skip = ys + tn * ns;
  double* alpha = skip + w;  // row t at alpha + t * w + 2 (two zeros ahead)
  sc.i.resize(static_cast<size_t>(ns));
  int64_t* cls = sc.i.data();  // state -> class
  for (int64_t s = 0; s < ns; ++s) cls[s] = (s & 1) ? lab[s >> 1] : a.blank;
  for (int64_t s = 0; s < w; ++s)
    skip[s] = (s & 1) && s >= 3 && s < ns && lab[s >> 1] != lab[(s >> 1) - 1] ? 1.0 : 0.0;
  for (int64_t t = 0; t < tn; ++t) {
    const T* r = lp + t * stride;
    double* yt = ys + t * ns;
    bool ok = true;
    for (int64_t s = 0; s < ns; ++s) {
      const double v = r[cls[s]];
      ok &= (v > kLpLo) & (v < kLpHi);
      yt[s] = ex != nullptr ? static_cast<double>(ex[t * stride + cls[s]]) : v;
    }
    if (!ok) return false;
    if (ex == nullptr)
      for (int64_t s = 0; s < ns; ++s) yt[s] = std::exp(yt[s]);
  }

  // log p = the sum of the logs of the scales: their product in mant, a log when it leaves
  // [1e-30, 1e30] (a scale below 1e-100 is logged at once)
  double log_scale = 0, mant = 1;
  for (int64_t t = 0; t < tn; ++t) {
    double* __restrict q = alpha + t * w + 2;
    q[-2] = q[-1] = 0;
    const double* __restrict yt = ys + t * ns;
    const int64_t lo = std::max<int64_t>(0, ns - 2 * (tn - t));  // can still reach the end
    for (int64_t s = 0; s < lo; ++s) q[s] = 0;
    bool under = false;
    if (t == 0) {
      for (int64_t s = lo; s < ns; ++s) q[s] = s < 2 ? yt[s] : 0;
    } else {
      const double* __restrict p = alpha + (t - 1) * w + 2;
      for (int64_t s = lo; s < ns; ++s) {
        const double in = p[s] + p[s - 1] + skip[s] * p[s - 2];
        const double v = in * yt[s];
        under |= (in > 0) & (v < kTiny);
        q[s] = v;
      }
    }
    const double sum = row_sum(q + lo, ns - lo);
    if (under || !(sum > 0)) return false;  // a lost bit, or an impossible alignment
    const double inv = 1.0 / sum;
    for (int64_t s = lo; s < ns; ++s) q[s] *= inv;
    if (sum < 1e-100) {
      log_scale += std::log(sum);
    } else {
      mant *= sum;
      if (!(mant > 1e-30 && mant < 1e30)) {
        log_scale += std::log(mant);
        mant = 1;
      }
    }
  }
  const double nll = -(log_scale + std::log(mant));
  if (!grad) {
    a.loss[b] = static_cast<T>(nll);
    return true;
  }

  // beta'[t, s]: the mass of the path suffixes after t from state s, scaled by the row; two
  // rows, two zeros after each. The gradient rows hold exp(lp) already (ctc_loss).
  double* bt = alpha + tn * w;
  double* bn = bt + w;
  double* post = bn + w;  // (nc): a class's alpha * beta at t, 0 between steps
  std::fill_n(post, nc, 0.0);
  std::fill_n(bt, w, 0.0);
  bt[ns - 1] = 1;
  if (nl > 0) bt[ns - 2] = 1;
  for (int64_t t = tn - 1; t >= 0; --t) {
    const double* at = alpha + t * w + 2;
    const double* __restrict yt = ys + t * ns;
    T* g = a.grad + t * stride + b * nc;
    // the gradient at t: exp(lp) - (the class's states' alpha * beta) / Z
    double z = 0;
    for (int64_t s = 0; s < ns; ++s) {
      const double ab = at[s] * bt[s];
      post[cls[s]] += ab;
      z += ab;
    }
    if (!(z > 1e-280)) return false;
    const double iz = 1.0 / z;
    for (int64_t s = 0; s < ns; ++s) {
      const int64_t c = cls[s];
      if (post[c] < 0) continue;  // done (a class of several states)
      g[c] = static_cast<T>(yt[s] - post[c] * iz);
      post[c] = -1;
    }
    for (int64_t s = 0; s < ns; ++s) post[cls[s]] = 0;
    if (t == 0) break;
    // beta' at t - 1 from beta' at t: u = y * beta' at s, s + 1 and (a skip) s + 2, over the
    // states reachable from the start at t - 1 (s < 2t)
    const int64_t hi = std::min<int64_t>(ns, 2 * t);
    bool under = false;
    for (int64_t s = 0; s < ns; ++s) {
      const double u = bt[s] * yt[s];
      under |= (bt[s] > 0) & (u < kTiny);
      bt[s] = u;
    }
    for (int64_t s = 0; s < hi; ++s) bn[s] = bt[s] + bt[s + 1] + skip[s + 2] * bt[s + 2];
    const double sum = row_sum(bn, hi);
    if (under || !(sum > 0)) return false;
    const double inv = 1.0 / sum;
    for (int64_t s = 0; s < hi; ++s) bn[s] *= inv;
    for (int64_t s = hi; s < w; ++s) bn[s] = 0;
    std::swap(bt, bn);
  }
  a.loss[b] = static_cast<T>(nll);
  return true;
}

template <class T>
void sample(const Args<T>& a, int64_t b) {
  thread_local Scratch sc;
  const int64_t tn = a.in_len[b], nc = a.c, stride = a.n * nc;
  if (a.grad != nullptr)  // rows past the input: no alignment uses them
    for (int64_t t = tn; t < a.t_max; ++t) std::fill_n(a.grad + t * stride + b * nc, nc, T(0));
  if (tn == 0) {  // log p is 0 for an empty target, -inf for any other (as ATen)
    a.loss[b] = a.tg_len[b] == 0 ? T(0) : std::numeric_limits<T>::infinity();
    return;
  }
  if (a.force_log || !sample_prob(a, b, sc)) sample_log(a, b, sc);
}

// Whether exp(lp) over every class pays: it is the gradient's start, or forward only, the
// classes are few against the states.
inline bool want_exp(bool grad, int64_t c, int64_t s_max) { return grad || c <= 4 * s_max; }

// The losses (and gradients) of a batch: exp(lp) first (a.ex: the caller's, or here by the
// vector kernel math_fn for float32: into the gradient (its rows hold it for the non-target
// classes) or a buffer), then the samples on the threads. The caller gives a.ex for float64,
// where math_fn's exp is scalar: numpy's ufunc is 5x faster.
template <class T>
void ctc_loss(Args<T> a) {
  int64_t s_max = 0;
  for (int64_t b = 0; b < a.n; ++b) s_max = std::max(s_max, 2 * a.tg_len[b] + 1);
  const int64_t size = a.t_max * a.n * a.c;
  std::vector<T> ex;
  if (!a.force_log && a.ex == nullptr && sizeof(T) == 4 && want_exp(a.grad, a.c, s_max)) {
    T* to = a.grad;
    if (to == nullptr) {
      ex.resize(static_cast<size_t>(size));
      to = ex.data();
    }
    math_fn(MathFn::exp, a.lp, to, size);
    a.ex = to;
  }
  if (a.force_log) a.ex = nullptr;
  const double work = double(a.t_max) * double(a.n) * double(2 * s_max + a.c);
  const int nt = static_cast<int>(std::min<int64_t>(num_threads(), a.n));
  if (nt <= 1 || work < 32768) {
    for (int64_t b = 0; b < a.n; ++b) sample(a, b);
    return;
  }
  place_team(nt);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
  for (int64_t b = 0; b < a.n; ++b) sample(a, b);
}

}  // namespace ctc
}  // namespace dg
