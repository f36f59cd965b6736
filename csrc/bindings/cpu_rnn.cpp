// Bindings of nn.LSTM's time loop (csrc/cpu/rnn.h): the forward and the backward through time of
// one layer-direction over C-contiguous buffers that nn/rnn.py allocates and keeps.
#include "bindings/cpu_common.h"
#include "cpu/rnn.h"  // g_rnn_prepack, g_rnn_prepacked_loops (the kernels are cpu/ops.h's)

namespace dg {
namespace bind {
namespace {

// A C-contiguous, writable (when `out`) array of dtype dt and the given shape.
py::array rnn_buffer(py::handle h, DType dt, std::initializer_list<int64_t> shape, const char* name,
                     bool out) {
  py::array a = require_array(h, name);
  require_dtype(a, dt, name);
  require_shape(a, shape, name);
  require_contiguous(a, name);
  if (out && !a.writeable())
    throw py::value_error(std::string(name) + ": expected a writable array, got a read-only one");
  return a;
}

// No two buffers the loop writes may share bytes with each other or with what it reads.
void require_apart(std::initializer_list<std::pair<const py::array*, const char*>> bufs) {
  for (auto i = bufs.begin(); i != bufs.end(); ++i)
    for (auto j = std::next(i); j != bufs.end(); ++j)
      if (may_overlap(*i->first, *j->first))
        throw py::value_error(std::string(i->second) + " and " + j->second +
                              ": expected separate buffers, got overlapping ones");
}

// pre (T, N, 4H), C-contiguous, of a float dtype (writable when `out`) and the sizes it gives
// every other buffer.
struct LstmPre {
  py::array pre;
  DType dt;
  int64_t seq, batch, g4, hd;
  bool empty() const { return seq == 0 || batch == 0 || hd == 0; }
};

LstmPre lstm_pre(py::handle pre_obj, bool out) {
  py::array a = require_array(pre_obj, "pre");
  require_ndim(a, 3, "pre");
  LstmPre x{a, dtype_of(a, "pre"), a.shape(0), a.shape(1), a.shape(2), a.shape(2) / 4};
  if (x.g4 % 4 != 0) throw py::value_error("pre: expected (T, N, 4 H), got shape " + shape_str(a));
  x.pre = rnn_buffer(pre_obj, x.dt, {x.seq, x.batch, x.g4}, "pre", out);
  return x;
}

void lstm_forward(py::handle pre_obj, py::handle s_obj, py::handle cs_obj, py::handle tcs_obj,
                  py::handle wt_obj, bool reverse) {
  LstmPre x = lstm_pre(pre_obj, true);
  const DType dt = x.dt;
  const int64_t seq = x.seq, batch = x.batch, hd = x.hd;
  py::array s = rnn_buffer(s_obj, dt, {seq + 1, batch, hd}, "s", true);
  py::array cs = rnn_buffer(cs_obj, dt, {seq + 1, batch, hd}, "cs", true);
  py::array tcs = rnn_buffer(tcs_obj, dt, {seq, batch, hd}, "tcs", true);
  py::array wt = rnn_buffer(wt_obj, dt, {hd, x.g4}, "wt", false);
  require_apart({{&x.pre, "pre"}, {&s, "s"}, {&cs, "cs"}, {&tcs, "tcs"}, {&wt, "wt"}});
  if (x.empty()) return;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    T *pp = mptr<T>(x.pre), *sp = mptr<T>(s), *cp = mptr<T>(cs), *tp = mptr<T>(tcs);
    const T* wp = cptr<T>(wt);
    py::gil_scoped_release nogil;
    lstm_sequence_forward(pp, sp, cp, tp, wp, seq, batch, hd, reverse);
  });
}

void lstm_backward(py::handle pre_obj, py::handle cs_obj, py::handle tcs_obj, py::handle w_obj,
                   py::handle gacc_obj, py::handle dc_obj, py::handle dgates_obj, bool reverse) {
  LstmPre x = lstm_pre(pre_obj, false);
  const DType dt = x.dt;
  const int64_t seq = x.seq, batch = x.batch, hd = x.hd;
  py::array cs = rnn_buffer(cs_obj, dt, {seq + 1, batch, hd}, "cs", false);
  py::array tcs = rnn_buffer(tcs_obj, dt, {seq, batch, hd}, "tcs", false);
  py::array w = rnn_buffer(w_obj, dt, {x.g4, hd}, "w", false);
  py::array gacc = rnn_buffer(gacc_obj, dt, {seq + 1, batch, hd}, "gacc", true);
  py::array dc = rnn_buffer(dc_obj, dt, {batch, hd}, "dc", true);
  py::array dgates = rnn_buffer(dgates_obj, dt, {seq, batch, x.g4}, "dgates", true);
  require_apart({{&gacc, "gacc"},
                 {&dc, "dc"},
                 {&dgates, "dgates"},
                 {&x.pre, "pre"},
                 {&cs, "cs"},
                 {&tcs, "tcs"},
                 {&w, "w"}});
  if (x.empty()) return;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T *pp = cptr<T>(x.pre), *cp = cptr<T>(cs), *tp = cptr<T>(tcs), *wp = cptr<T>(w);
    T *gp = mptr<T>(gacc), *dcp = mptr<T>(dc), *dgp = mptr<T>(dgates);
    py::gil_scoped_release nogil;
    lstm_sequence_backward(pp, cp, tp, wp, gp, dcp, dgp, seq, batch, hd, reverse);
  });
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def("lstm_sequence_forward", named("lstm_sequence_forward", &lstm_forward), py::arg("pre"),
        py::arg("s"), py::arg("cs"), py::arg("tcs"), py::arg("wt"), py::arg("reverse"),
        "One LSTM layer-direction's time loop in place: pre (T, N, 4H) = W_ih x + b_ih + b_hh "
        "on entry, the activated gates on exit; s, cs (T + 1, N, H) the hidden and cell "
        "states by slot (slot 0, or T when reverse, holds h0 / c0); tcs (T, N, H) tanh(c_t); "
        "wt = W_hh^T (H, 4H). All C-contiguous, one float dtype.");
  m.def("lstm_sequence_backward", named("lstm_sequence_backward", &lstm_backward), py::arg("pre"),
        py::arg("cs"), py::arg("tcs"), py::arg("w"), py::arg("gacc"), py::arg("dc"),
        py::arg("dgates"), py::arg("reverse"),
        "The backward through time of lstm_sequence_forward: gacc (T + 1, N, H) holds the "
        "outputs' gradients by slot (the initial slot zero) and gets the states' gradients "
        "added, dh0 in the initial slot; dc (N, H) dc_T in, dc0 out; dgates (T, N, 4H) the "
        "gates' pre-activation gradients.");
  m.def(
      "_set_rnn_prepack",
      [](bool on) { return g_rnn_prepack.exchange(on, std::memory_order_relaxed); }, py::arg("on"),
      "A/B and test hook: the LSTM time loops pack W_hh once per call (True, the default) or "
      "leave it to the GEMM on every step (False); the results are identical. Process-wide, "
      "every ISA; returns the previous value.");
  m.def(
      "_rnn_prepacked_loops",
      [] { return static_cast<long long>(g_rnn_prepacked_loops.load(std::memory_order_relaxed)); },
      "Test hook: how many LSTM time loops (forward or backward) have run with W_hh packed once "
      "since the module was loaded.");
}

}  // namespace bind
}  // namespace dg
