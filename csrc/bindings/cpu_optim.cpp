// Bindings of the in-place optimizer updates: sgd_update, adam_update, adagrad_update,
// rmsprop_update, adamax_update and nadam_update (torch.optim semantics).
#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings/cpu_common.h"
#include "cpu/optim_multi.h"

namespace dg {
namespace bind {
namespace {

py::array require_state(py::handle h, const py::array& param, const char* name) {
  py::array a = require_like(h, param, name, "param");
  if (!a.writeable())
    throw py::value_error(std::string(name) + ": expected a writable array, got a read-only one");
  return a;
}

void require_disjoint(const py::array& a, const char* an, const py::array& b, const char* bn) {
  if (may_overlap(a, b))
    throw py::value_error(std::string(an) + " and " + bn + ": must not share memory");
}

// A state array of an update, by name; an optional one may be None (its option is off).
struct State {
  py::handle h;
  const char* name;
  bool optional = false;
};

// One update's operands, checked: param writable, grad like it, N states writable and like it
// (an optional state given as None stays a default py::array: empty, overlapping nothing, its
// pointer null), no two of them sharing memory.
template <size_t N>
struct Operands {
  py::array p, g;
  std::array<py::array, N> s;
  std::array<bool, N> has{};
};

template <size_t N>
Operands<N> operands(py::handle p_obj, py::handle g_obj, const State (&states)[N]) {
  Operands<N> o;
  o.p = require_input(p_obj, "param");
  if (!o.p.writeable())
    throw py::value_error("param: expected a writable array, got a read-only one");
  o.g = require_like(g_obj, o.p, "grad", "param");
  std::pair<const py::array*, const char*> all[N + 2] = {{&o.p, "param"}, {&o.g, "grad"}};
  for (size_t k = 0; k < N; ++k) {
    o.has[k] = !(states[k].optional && states[k].h.is_none());
    if (o.has[k]) o.s[k] = require_state(states[k].h, o.p, states[k].name);
    all[k + 2] = {&o.s[k], states[k].name};
  }
  for (size_t i = 0; i < N + 2; ++i)
    for (size_t j = i + 1; j < N + 2; ++j)
      require_disjoint(*all[i].first, all[i].second, *all[j].first, all[j].second);
  return o;
}

// f(param, grad, state..., n) with the operands' typed pointers (null for an absent state), the
// GIL released.
template <size_t N, class F>
void run_update(Operands<N>& o, F&& f) {
  const int64_t n = o.p.size();
  dispatch_dtype(dtype_of(o.p, "param"), [&](auto tag) {
    using T = decltype(tag);
    T* pp = mptr<T>(o.p);
    const T* gp = cptr<T>(o.g);
    std::array<T*, N> sp;
    for (size_t k = 0; k < N; ++k) sp[k] = o.has[k] ? mptr<T>(o.s[k]) : nullptr;
    py::gil_scoped_release nogil;
    std::apply([&](auto*... s) { f(pp, gp, s..., n); }, sp);
  });
}

constexpr double kInf = HUGE_VAL;

// torch.optim's checks of the hyper-parameters (NaN is refused by all): a learning rate >= 0,
// any number (a step's precomputed scalars), eps and weight_decay >= 0, betas in [0, 1).
void check_lr(double lr, const char* name) {
  require_range(lr, name, 0.0, kInf, false, "a learning rate >= 0");
}

void check_number(double v, const char* name) {
  require_range(v, name, -kInf, kInf, false, "a number");
}

void check_eps_wd(double eps, double weight_decay) {
  require_range(eps, "eps", 0.0, kInf, false, "eps >= 0");
  require_range(weight_decay, "weight_decay", 0.0, kInf, false, "weight_decay >= 0");
}

void check_betas_eps_wd(double beta1, double beta2, double eps, double weight_decay) {
  require_range(beta1, "beta1", 0.0, 1.0, true, "a value in [0, 1)");
  require_range(beta2, "beta2", 0.0, 1.0, true, "a value in [0, 1)");
  check_eps_wd(eps, weight_decay);
}

// torch.optim.SGD's checks of the hyper-parameters; dampening only has to be a number.
void check_sgd_args(double lr, double momentum, double weight_decay, double dampening) {
  check_lr(lr, "lr");
  require_range(momentum, "momentum", 0.0, kInf, false, "momentum >= 0");
  require_range(weight_decay, "weight_decay", 0.0, kInf, false, "weight_decay >= 0");
  require_range(dampening, "dampening", -kInf, kInf, false, "a finite or infinite number");
}

// One parameter's operands of an SGD update: the momentum buffer a state when momentum != 0.
using SgdOperands = Operands<1>;

SgdOperands sgd_operands(py::handle p_obj, py::handle g_obj, py::handle buf_obj, bool has_buf) {
  if (has_buf && buf_obj.is_none())
    throw py::value_error("buf: momentum != 0 needs a momentum buffer, got None");
  return operands(p_obj, g_obj, {{has_buf ? buf_obj : py::none(), "buf", true}});
}

void check_nesterov(bool nesterov, double momentum, double dampening) {
  if (nesterov && (momentum <= 0.0 || dampening != 0.0))
    throw py::value_error("nesterov: requires momentum > 0 and dampening == 0 (as torch)");
}

void sgd(py::handle p_obj, py::handle g_obj, py::handle buf_obj, double lr, double momentum,
         double weight_decay, bool nesterov, double dampening, bool first_step) {
  check_sgd_args(lr, momentum, weight_decay, dampening);
  SgdOperands o = sgd_operands(p_obj, g_obj, buf_obj, momentum != 0.0);
  check_nesterov(nesterov, momentum, dampening);
  run_update(o, [&](auto* p, const auto* g, auto* buf, int64_t n) {
    sgd_update(p, g, buf, n, lr, momentum, dampening, weight_decay, nesterov, first_step);
  });
}

// True when some array of one parameter's (param, grad, buf) shares memory with an array of
// another parameter's (a parameter listed twice, or views of one array): the updates must then
// run in turn, as separate sgd_update calls would.
bool parameters_overlap(const std::vector<SgdOperands>& ops) {
  struct Extent {
    uintptr_t lo, hi;
    size_t owner;
  };
  std::vector<Extent> ext;
  ext.reserve(ops.size() * 3);
  for (size_t t = 0; t < ops.size(); ++t)
    for (const py::array* a : {&ops[t].p, &ops[t].g, &ops[t].s[0]}) {
      if (!a->ptr() || a->size() == 0) continue;
      auto [lo, hi] = byte_extent(*a);
      ext.push_back({lo, hi, t});
    }
  std::sort(ext.begin(), ext.end(), [](const Extent& a, const Extent& b) { return a.lo < b.lo; });
  // The arrays of one parameter are disjoint (checked), so an extent that starts before the
  // furthest end seen so far overlaps another parameter's array unless that end is its own's.
  uintptr_t far = 0;
  size_t far_owner = 0;
  bool any = false;
  for (const Extent& e : ext) {
    if (any && e.lo < far && far_owner != e.owner) return true;
    if (!any || e.hi > far) {
      far = e.hi;
      far_owner = e.owner;
      any = true;
    }
  }
  return false;
}

// sgd_update on every (params[i], grads[i], bufs[i]) with one set of hyper-parameters: every
// operand is checked before any is changed (the same checks and messages as sgd_update), then one
// call updates them all (cpu/dispatch.cpp sgd_update_multi: one parallel region) when they are
// of one dtype and share no memory, else one after the other.
void sgd_multi(const py::sequence& params, const py::sequence& grads, py::handle bufs_obj,
               double lr, double momentum, double weight_decay, bool nesterov, double dampening,
               bool first_step) {
  check_sgd_args(lr, momentum, weight_decay, dampening);
  const bool has_buf = momentum != 0.0;
  const size_t count = params.size();
  if (grads.size() != count)
    throw py::value_error("grads: expected one per parameter (" + std::to_string(count) +
                          "), got " + std::to_string(grads.size()));
  py::sequence bufs;
  if (has_buf) {
    if (bufs_obj.is_none() || !py::isinstance<py::sequence>(bufs_obj))
      throw py::value_error("bufs: momentum != 0 needs a list of momentum buffers");
    bufs = py::reinterpret_borrow<py::sequence>(bufs_obj);
    if (bufs.size() != count)
      throw py::value_error("bufs: expected one per parameter (" + std::to_string(count) +
                            "), got " + std::to_string(bufs.size()));
  }
  std::vector<SgdOperands> ops;
  ops.reserve(count);
  for (size_t i = 0; i < count; ++i)
    ops.push_back(sgd_operands(params[i], grads[i],
                               has_buf ? py::object(bufs[i]) : py::object(py::none()), has_buf));
  check_nesterov(nesterov, momentum, dampening);
  if (count == 0) return;
  const DType dt = dtype_of(ops[0].p, "param");
  bool together = !parameters_overlap(ops);
  for (const SgdOperands& o : ops) together = together && dtype_of(o.p, "param") == dt;
  if (!together) {
    for (SgdOperands& o : ops)
      run_update(o, [&](auto* p, const auto* g, auto* buf, int64_t n) {
        sgd_update(p, g, buf, n, lr, momentum, dampening, weight_decay, nesterov, first_step);
      });
    return;
  }
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    std::vector<T*> pp(count), bp(count);
    std::vector<const T*> gp(count);
    std::vector<int64_t> n(count);
    for (size_t i = 0; i < count; ++i) {
      pp[i] = mptr<T>(ops[i].p);
      gp[i] = cptr<T>(ops[i].g);
      bp[i] = has_buf ? mptr<T>(ops[i].s[0]) : nullptr;
      n[i] = ops[i].p.size();
    }
    py::gil_scoped_release nogil;
    sgd_update_multi(pp.data(), gp.data(), bp.data(), n.data(), static_cast<int64_t>(count), lr,
                     momentum, dampening, weight_decay, nesterov, first_step);
  });
}

void adam(py::handle p_obj, py::handle g_obj, py::handle m_obj, py::handle v_obj,
          py::handle step_obj, double lr, double beta1, double beta2, double eps,
          double weight_decay, bool decoupled) {
  const int64_t step = require_int(step_obj, "step");
  if (step < 1)
    throw py::value_error("step: expected step >= 1 (it counts from 1), got " +
                          std::to_string(step));
  check_lr(lr, "lr");
  check_betas_eps_wd(beta1, beta2, eps, weight_decay);
  Operands<2> o = operands(p_obj, g_obj, {{m_obj, "m"}, {v_obj, "v"}});
  run_update(o, [&](auto* p, const auto* g, auto* m, auto* v, int64_t n) {
    adam_update(p, g, m, v, n, lr, beta1, beta2, eps, weight_decay, decoupled, step);
  });
}

void adagrad(py::handle p_obj, py::handle g_obj, py::handle s_obj, double clr, double eps,
             double weight_decay, bool maximize) {
  check_lr(clr, "clr");
  check_eps_wd(eps, weight_decay);
  Operands<1> o = operands(p_obj, g_obj, {{s_obj, "sum"}});
  run_update(o, [&](auto* p, const auto* g, auto* s, int64_t n) {
    adagrad_update(p, g, s, n, clr, eps, weight_decay, maximize);
  });
}

// grad_avg None: not centered; buf only with momentum > 0 (ignored without).
void rmsprop(py::handle p_obj, py::handle g_obj, py::handle sq_obj, py::handle ga_obj,
             py::handle buf_obj, double lr, double alpha, double eps, double weight_decay,
             double momentum, bool maximize) {
  check_lr(lr, "lr");
  require_range(alpha, "alpha", 0.0, kInf, false, "alpha >= 0");
  check_eps_wd(eps, weight_decay);
  require_range(momentum, "momentum", 0.0, kInf, false, "momentum >= 0");
  const bool has_buf = momentum > 0.0;
  if (has_buf && buf_obj.is_none())
    throw py::value_error("buf: momentum > 0 needs a momentum buffer, got None");
  Operands<3> o = operands(p_obj, g_obj,
                           {{sq_obj, "square_avg"},
                            {ga_obj, "grad_avg", true},
                            {has_buf ? buf_obj : py::none(), "buf", true}});
  run_update(o, [&](auto* p, const auto* g, auto* sq, auto* ga, auto* buf, int64_t n) {
    rmsprop_update(p, g, sq, ga, buf, n, lr, alpha, eps, weight_decay, momentum, maximize);
  });
}

void adamax(py::handle p_obj, py::handle g_obj, py::handle m_obj, py::handle u_obj, double clr,
            double beta1, double beta2, double eps, double weight_decay, bool maximize) {
  check_number(clr, "clr");
  check_betas_eps_wd(beta1, beta2, eps, weight_decay);
  Operands<2> o = operands(p_obj, g_obj, {{m_obj, "exp_avg"}, {u_obj, "exp_inf"}});
  run_update(o, [&](auto* p, const auto* g, auto* m, auto* u, int64_t n) {
    adamax_update(p, g, m, u, n, clr, beta1, beta2, eps, weight_decay, maximize);
  });
}

void nadam(py::handle p_obj, py::handle g_obj, py::handle m_obj, py::handle v_obj, double decay,
           double beta1, double beta2, double bc2, double eps, double c_g, double c_m,
           double weight_decay, bool maximize) {
  check_betas_eps_wd(beta1, beta2, eps, weight_decay);
  for (const auto& [v, name] :
       {std::pair<double, const char*>{decay, "decay"}, {bc2, "bc2"}, {c_g, "c_g"}, {c_m, "c_m"}})
    check_number(v, name);
  Operands<2> o = operands(p_obj, g_obj, {{m_obj, "exp_avg"}, {v_obj, "exp_avg_sq"}});
  run_update(o, [&](auto* p, const auto* g, auto* m, auto* v, int64_t n) {
    nadam_update(p, g, m, v, n, decay, beta1, beta2, bc2, eps, c_g, c_m, weight_decay, maximize);
  });
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_update", named("sgd_update", &sgd), py::arg("param"), py::arg("grad"), py::arg("buf"),
        py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("nesterov") = false, py::arg("dampening") = 0.0, py::arg("first_step") = false,
        "One torch.optim.SGD step, in place on param and buf.");
  m.def("sgd_update_multi", named("sgd_update_multi", &sgd_multi), py::arg("params"),
        py::arg("grads"), py::arg("bufs"), py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0,
        py::arg("weight_decay") = 0.0, py::arg("nesterov") = false, py::arg("dampening") = 0.0,
        py::arg("first_step") = false,
        "sgd_update on every (params[i], grads[i], bufs[i]) (bufs None when momentum == 0): "
        "every operand checked first, then one call for all (one parallel region).");
  m.def("adam_update", named("adam_update", &adam), py::arg("param"), py::arg("grad"), py::arg("m"),
        py::arg("v"), py::kw_only(), py::arg("step"), py::arg("lr") = 1e-3, py::arg("beta1") = 0.9,
        py::arg("beta2") = 0.999, py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0,
        py::arg("decoupled") = false,
        "One torch.optim.Adam (decoupled=True: AdamW) step, in place on param, m and v.");
  m.def("adagrad_update", named("adagrad_update", &adagrad), py::arg("param"), py::arg("grad"),
        py::arg("sum"), py::kw_only(), py::arg("clr"), py::arg("eps") = 1e-10,
        py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
        "One torch.optim.Adagrad step in place on param and sum, clr = lr / (1 + (t - 1) "
        "lr_decay).");
  m.def("rmsprop_update", named("rmsprop_update", &rmsprop), py::arg("param"), py::arg("grad"),
        py::arg("square_avg"), py::arg("grad_avg"), py::arg("buf"), py::kw_only(), py::arg("lr"),
        py::arg("alpha") = 0.99, py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0,
        py::arg("momentum") = 0.0, py::arg("maximize") = false,
        "One torch.optim.RMSprop step in place (grad_avg: the centered form's state or None; "
        "buf: the momentum buffer, None without momentum).");
  m.def("adamax_update", named("adamax_update", &adamax), py::arg("param"), py::arg("grad"),
        py::arg("exp_avg"), py::arg("exp_inf"), py::kw_only(), py::arg("clr"),
        py::arg("beta1") = 0.9, py::arg("beta2") = 0.999, py::arg("eps") = 1e-8,
        py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
        "One torch.optim.Adamax step in place (clr = lr / (1 - beta1^t)), in optim/_more.py's "
        "roundings.");
  m.def("nadam_update", named("nadam_update", &nadam), py::arg("param"), py::arg("grad"),
        py::arg("exp_avg"), py::arg("exp_avg_sq"), py::kw_only(), py::arg("decay"),
        py::arg("beta1"), py::arg("beta2"), py::arg("bc2"), py::arg("eps"), py::arg("c_g"),
        py::arg("c_m"), py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
        "One torch.optim.NAdam step in place, its scalars (decay, bc2 = 1 - beta2^t, c_g, c_m) "
        "computed by optim.NAdam, in optim/_more.py's roundings.");
}

}  // namespace bind
}  // namespace dg
