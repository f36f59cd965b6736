// Bindings of the in-place optimizer updates: sgd_update, adam_update, adagrad_update,
// rmsprop_update, adamax_update and nadam_update (torch.optim semantics).
#include <algorithm>
#include <cmath>
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

constexpr double kInf = HUGE_VAL;

// torch.optim.SGD's checks of the hyper-parameters (NaN is rejected too); dampening only has
// to be a number.
void check_sgd_args(double lr, double momentum, double weight_decay, double dampening) {
  require_range(lr, "lr", 0.0, kInf, false, "a learning rate >= 0");
  require_range(momentum, "momentum", 0.0, kInf, false, "momentum >= 0");
  require_range(weight_decay, "weight_decay", 0.0, kInf, false, "weight_decay >= 0");
  require_range(dampening, "dampening", -kInf, kInf, false, "a finite or infinite number");
}

// One parameter's operands of an SGD update, checked: param writable, grad like it, buf (when
// momentum != 0) writable and like it, no two of them sharing memory.
struct SgdOperands {
  py::array p, g, buf;
};

SgdOperands sgd_operands(py::handle p_obj, py::handle g_obj, py::handle buf_obj, bool has_buf) {
  SgdOperands o;
  o.p = require_input(p_obj, "param");
  if (!o.p.writeable())
    throw py::value_error("param: expected a writable array, got a read-only one");
  o.g = require_like(g_obj, o.p, "grad", "param");
  require_disjoint(o.p, "param", o.g, "grad");
  if (has_buf) {
    if (buf_obj.is_none())
      throw py::value_error("buf: momentum != 0 needs a momentum buffer, got None");
    o.buf = require_state(buf_obj, o.p, "buf");
    require_disjoint(o.p, "param", o.buf, "buf");
    require_disjoint(o.g, "grad", o.buf, "buf");
  }
  return o;
}

void check_nesterov(bool nesterov, double momentum, double dampening) {
  if (nesterov && (momentum <= 0.0 || dampening != 0.0))
    throw py::value_error("nesterov: requires momentum > 0 and dampening == 0 (as torch)");
}

void sgd(py::handle p_obj, py::handle g_obj, py::handle buf_obj, double lr, double momentum,
         double weight_decay, bool nesterov, double dampening, bool first_step) {
  check_sgd_args(lr, momentum, weight_decay, dampening);
  const bool has_buf = momentum != 0.0;
  SgdOperands o = sgd_operands(p_obj, g_obj, buf_obj, has_buf);
  check_nesterov(nesterov, momentum, dampening);
  const int64_t n = o.p.size();
  dispatch_dtype(dtype_of(o.p, "param"), [&](auto tag) {
    using T = decltype(tag);
    T* pp = mptr<T>(o.p);
    const T* gp = cptr<T>(o.g);
    T* bp = has_buf ? mptr<T>(o.buf) : nullptr;
    py::gil_scoped_release nogil;
    sgd_update(pp, gp, bp, n, lr, momentum, dampening, weight_decay, nesterov, first_step);
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
    for (const py::array* a : {&ops[t].p, &ops[t].g, &ops[t].buf}) {
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
      dispatch_dtype(dtype_of(o.p, "param"), [&](auto tag) {
        using T = decltype(tag);
        T* pp = mptr<T>(o.p);
        const T* gp = cptr<T>(o.g);
        T* bp = has_buf ? mptr<T>(o.buf) : nullptr;
        const int64_t n = o.p.size();
        py::gil_scoped_release nogil;
        sgd_update(pp, gp, bp, n, lr, momentum, dampening, weight_decay, nesterov, first_step);
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
      bp[i] = has_buf ? mptr<T>(ops[i].buf) : nullptr;
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
  // torch.optim.Adam's checks (NaN is rejected too).
  require_range(lr, "lr", 0.0, kInf, false, "a learning rate >= 0");
  require_range(beta1, "beta1", 0.0, 1.0, true, "a value in [0, 1)");
  require_range(beta2, "beta2", 0.0, 1.0, true, "a value in [0, 1)");
  require_range(eps, "eps", 0.0, kInf, false, "eps >= 0");
  require_range(weight_decay, "weight_decay", 0.0, kInf, false, "weight_decay >= 0");
  py::array p = require_input(p_obj, "param");
  if (!p.writeable())
    throw py::value_error("param: expected a writable array, got a read-only one");
  py::array g = require_like(g_obj, p, "grad", "param");
  py::array m = require_state(m_obj, p, "m");
  py::array v = require_state(v_obj, p, "v");
  require_disjoint(p, "param", g, "grad");
  require_disjoint(p, "param", m, "m");
  require_disjoint(p, "param", v, "v");
  require_disjoint(m, "m", v, "v");
  require_disjoint(g, "grad", m, "m");
  require_disjoint(g, "grad", v, "v");
  const int64_t n = p.size();
  dispatch_dtype(dtype_of(p, "param"), [&](auto tag) {
    using T = decltype(tag);
    T* pp = mptr<T>(p);
    const T* gp = cptr<T>(g);
    T* mp = mptr<T>(m);
    T* vp = mptr<T>(v);
    py::gil_scoped_release nogil;
    adam_update(pp, gp, mp, vp, n, lr, beta1, beta2, eps, weight_decay, decoupled, step);
  });
}

// One optional state array (None when the option is off: a default py::array, which is an
// empty float64 array and overlaps nothing): like param, writable, apart from the operands
// already taken.
py::array optional_state(py::handle h, const py::array& p, const char* name,
                         std::initializer_list<std::pair<const py::array*, const char*>> apart) {
  if (h.is_none()) return py::array();
  py::array a = require_state(h, p, name);
  for (const auto& [other, other_name] : apart) require_disjoint(a, name, *other, other_name);
  return a;
}

void adagrad(py::handle p_obj, py::handle g_obj, py::handle s_obj, double clr, double eps,
             double weight_decay, bool maximize) {
  require_range(clr, "clr", 0.0, kInf, false, "a learning rate >= 0");
  require_range(eps, "eps", 0.0, kInf, false, "eps >= 0");
  require_range(weight_decay, "weight_decay", 0.0, kInf, false, "weight_decay >= 0");
  py::array p = require_input(p_obj, "param");
  if (!p.writeable())
    throw py::value_error("param: expected a writable array, got a read-only one");
  py::array g = require_like(g_obj, p, "grad", "param");
  py::array s = require_state(s_obj, p, "sum");
  require_disjoint(p, "param", g, "grad");
  require_disjoint(p, "param", s, "sum");
  require_disjoint(g, "grad", s, "sum");
  const int64_t n = p.size();
  dispatch_dtype(dtype_of(p, "param"), [&](auto tag) {
    using T = decltype(tag);
    T* pp = mptr<T>(p);
    const T* gp = cptr<T>(g);
    T* sp = mptr<T>(s);
    py::gil_scoped_release nogil;
    adagrad_update(pp, gp, sp, n, clr, eps, weight_decay, maximize);
  });
}

void rmsprop(py::handle p_obj, py::handle g_obj, py::handle sq_obj, py::handle ga_obj,
             py::handle buf_obj, double lr, double alpha, double eps, double weight_decay,
             double momentum, bool maximize) {
  require_range(lr, "lr", 0.0, kInf, false, "a learning rate >= 0");
  require_range(alpha, "alpha", 0.0, kInf, false, "alpha >= 0");
  require_range(eps, "eps", 0.0, kInf, false, "eps >= 0");
  require_range(weight_decay, "weight_decay", 0.0, kInf, false, "weight_decay >= 0");
  require_range(momentum, "momentum", 0.0, kInf, false, "momentum >= 0");
  py::array p = require_input(p_obj, "param");
  if (!p.writeable())
    throw py::value_error("param: expected a writable array, got a read-only one");
  py::array g = require_like(g_obj, p, "grad", "param");
  py::array sq = require_state(sq_obj, p, "square_avg");
  require_disjoint(p, "param", g, "grad");
  require_disjoint(p, "param", sq, "square_avg");
  require_disjoint(g, "grad", sq, "square_avg");
  // an absent state is a default py::array (not a null handle): the flags say which are real
  const bool has_ga = !ga_obj.is_none(), has_buf = momentum > 0.0;
  py::array ga =
      optional_state(ga_obj, p, "grad_avg", {{&p, "param"}, {&g, "grad"}, {&sq, "square_avg"}});
  if (momentum > 0.0 && buf_obj.is_none())
    throw py::value_error("buf: momentum > 0 needs a momentum buffer, got None");
  py::array buf =
      has_buf
          ? optional_state(buf_obj, p, "buf",
                           {{&p, "param"}, {&g, "grad"}, {&sq, "square_avg"}, {&ga, "grad_avg"}})
          : py::array();
  const int64_t n = p.size();
  dispatch_dtype(dtype_of(p, "param"), [&](auto tag) {
    using T = decltype(tag);
    T* pp = mptr<T>(p);
    const T* gp = cptr<T>(g);
    T* sp = mptr<T>(sq);
    T* gap = has_ga ? mptr<T>(ga) : nullptr;
    T* bp = has_buf ? mptr<T>(buf) : nullptr;
    py::gil_scoped_release nogil;
    rmsprop_update(pp, gp, sp, gap, bp, n, lr, alpha, eps, weight_decay, momentum, maximize);
  });
}

// param (writable), grad like it and two writable states like it, no two sharing memory: the
// operands of the two-state updates (Adamax, NAdam).
struct TwoStates {
  py::array p, g, a, b;
};

TwoStates two_states(py::handle p_obj, py::handle g_obj, py::handle a_obj, py::handle b_obj,
                     const char* a_name, const char* b_name) {
  TwoStates o;
  o.p = require_input(p_obj, "param");
  if (!o.p.writeable())
    throw py::value_error("param: expected a writable array, got a read-only one");
  o.g = require_like(g_obj, o.p, "grad", "param");
  o.a = require_state(a_obj, o.p, a_name);
  o.b = require_state(b_obj, o.p, b_name);
  const std::pair<const py::array*, const char*> all[] = {
      {&o.p, "param"}, {&o.g, "grad"}, {&o.a, a_name}, {&o.b, b_name}};
  for (int i = 0; i < 4; ++i)
    for (int j = i + 1; j < 4; ++j)
      require_disjoint(*all[i].first, all[i].second, *all[j].first, all[j].second);
  return o;
}

void adamax(py::handle p_obj, py::handle g_obj, py::handle m_obj, py::handle u_obj, double clr,
            double beta1, double beta2, double eps, double weight_decay, bool maximize) {
  require_range(clr, "clr", -kInf, kInf, false, "a number");
  require_range(beta1, "beta1", 0.0, 1.0, true, "a value in [0, 1)");
  require_range(beta2, "beta2", 0.0, 1.0, true, "a value in [0, 1)");
  require_range(eps, "eps", 0.0, kInf, false, "eps >= 0");
  require_range(weight_decay, "weight_decay", 0.0, kInf, false, "weight_decay >= 0");
  TwoStates o = two_states(p_obj, g_obj, m_obj, u_obj, "exp_avg", "exp_inf");
  const int64_t n = o.p.size();
  dispatch_dtype(dtype_of(o.p, "param"), [&](auto tag) {
    using T = decltype(tag);
    T *pp = mptr<T>(o.p), *mp = mptr<T>(o.a), *up = mptr<T>(o.b);
    const T* gp = cptr<T>(o.g);
    py::gil_scoped_release nogil;
    adamax_update(pp, gp, mp, up, n, clr, beta1, beta2, eps, weight_decay, maximize);
  });
}

void nadam(py::handle p_obj, py::handle g_obj, py::handle m_obj, py::handle v_obj, double decay,
           double beta1, double beta2, double bc2, double eps, double c_g, double c_m,
           double weight_decay, bool maximize) {
  require_range(beta1, "beta1", 0.0, 1.0, true, "a value in [0, 1)");
  require_range(beta2, "beta2", 0.0, 1.0, true, "a value in [0, 1)");
  require_range(eps, "eps", 0.0, kInf, false, "eps >= 0");
  require_range(weight_decay, "weight_decay", 0.0, kInf, false, "weight_decay >= 0");
  for (const auto& [v, name] :
       {std::pair<double, const char*>{decay, "decay"}, {bc2, "bc2"}, {c_g, "c_g"}, {c_m, "c_m"}})
    require_range(v, name, -kInf, kInf, false, "a number");
  TwoStates o = two_states(p_obj, g_obj, m_obj, v_obj, "exp_avg", "exp_avg_sq");
  const int64_t n = o.p.size();
  dispatch_dtype(dtype_of(o.p, "param"), [&](auto tag) {
    using T = decltype(tag);
    T *pp = mptr<T>(o.p), *mp = mptr<T>(o.a), *vp = mptr<T>(o.b);
    const T* gp = cptr<T>(o.g);
    py::gil_scoped_release nogil;
    nadam_update(pp, gp, mp, vp, n, decay, beta1, beta2, bc2, eps, c_g, c_m, weight_decay,
                 maximize);
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
