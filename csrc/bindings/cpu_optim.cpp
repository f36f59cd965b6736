// Bindings of the in-place optimizer updates: sgd_update and adam_update (torch.optim
// semantics).
#include <cmath>

#include "bindings/cpu_common.h"

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

void sgd(py::handle p_obj, py::handle g_obj, py::handle buf_obj, double lr, double momentum,
         double weight_decay, bool nesterov, double dampening, bool first_step) {
  // torch.optim.SGD's checks (NaN is rejected too); dampening only has to be a number.
  require_range(lr, "lr", 0.0, kInf, false, "a learning rate >= 0");
  require_range(momentum, "momentum", 0.0, kInf, false, "momentum >= 0");
  require_range(weight_decay, "weight_decay", 0.0, kInf, false, "weight_decay >= 0");
  require_range(dampening, "dampening", -kInf, kInf, false, "a finite or infinite number");
  py::array p = require_input(p_obj, "param");
  if (!p.writeable())
    throw py::value_error("param: expected a writable array, got a read-only one");
  py::array g = require_like(g_obj, p, "grad", "param");
  require_disjoint(p, "param", g, "grad");
  py::array buf;
  const bool has_buf = momentum != 0.0;
  if (has_buf) {
    if (buf_obj.is_none())
      throw py::value_error("buf: momentum != 0 needs a momentum buffer, got None");
    buf = require_state(buf_obj, p, "buf");
    require_disjoint(p, "param", buf, "buf");
    require_disjoint(g, "grad", buf, "buf");
  }
  if (nesterov && (momentum <= 0.0 || dampening != 0.0))
    throw py::value_error("nesterov: requires momentum > 0 and dampening == 0 (as torch)");
  const int64_t n = p.size();
  dispatch_dtype(dtype_of(p, "param"), [&](auto tag) {
    using T = decltype(tag);
    T* pp = mptr<T>(p);
    const T* gp = cptr<T>(g);
    T* bp = has_buf ? mptr<T>(buf) : nullptr;
    py::gil_scoped_release nogil;
    sgd_update(pp, gp, bp, n, lr, momentum, dampening, weight_decay, nesterov, first_step);
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

}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_update", named("sgd_update", &sgd), py::arg("param"), py::arg("grad"), py::arg("buf"),
        py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("nesterov") = false, py::arg("dampening") = 0.0, py::arg("first_step") = false,
        "One torch.optim.SGD step, in place on param and buf.");
  m.def("adam_update", named("adam_update", &adam), py::arg("param"), py::arg("grad"), py::arg("m"),
        py::arg("v"), py::kw_only(), py::arg("step"), py::arg("lr") = 1e-3, py::arg("beta1") = 0.9,
        py::arg("beta2") = 0.999, py::arg("eps") = 1e-8, py::arg("weight_decay") = 0.0,
        py::arg("decoupled") = false,
        "One torch.optim.Adam (decoupled=True: AdamW) step, in place on param, m and v.");
}

}  // namespace bind
}  // namespace dg
