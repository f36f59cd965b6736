// The vocabulary of common/op_names.h on the Python side: export_op_names() puts the tuples
// ACTIVATIONS, SAVES_INPUT, LOSSES and REDUCTIONS on a module (index == the kernels' code; each
// of _cpu, _simt and _cuda calls it), and enum_from_name() maps a name back to its code, with
// the valid names in its error message.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <string>

#include "common/op_names.h"

namespace dg {
namespace bind {

namespace py = pybind11;

// names[i] for every i, as a tuple of str (only those with keep[i] when keep is given).
template <size_t N>
inline py::tuple names_tuple(const char* const (&names)[N], const bool* keep = nullptr) {
  py::list out;
  for (size_t i = 0; i < N; ++i)
    if (!keep || keep[i]) out.append(py::str(names[i]));
  return py::tuple(out);
}

// The enum E whose name is s; else ValueError "<what>: expected 'a', 'b' or 'c', got 's'"
// ("expected one of ..." when there are more than three names).
template <class E, size_t N>
inline E enum_from_name(const char* const (&names)[N], const std::string& s, const char* what) {
  std::string known;
  for (size_t i = 0; i < N; ++i) {
    if (s == names[i]) return static_cast<E>(i);
    known += std::string(i == 0 ? "'" : i + 1 < N ? ", '" : " or '") + names[i] + "'";
  }
  throw py::value_error(std::string(what) + ": expected " + (N > 3 ? "one of " : "") + known +
                        ", got '" + s + "'");
}

inline Act act_from_name(const std::string& s) { return enum_from_name<Act>(kActNames, s, "act"); }
// The activation named s with its param checked: celu divides by its alpha, which torch refuses
// to be 0 ("alpha cannot be 0 for CELU").
inline Act act_from_name(const std::string& s, double param) {
  const Act act = act_from_name(s);
  if (act == Act::celu && param == 0.0) throw py::value_error("param: celu's alpha cannot be 0");
  return act;
}
inline LossKind loss_from_name(const std::string& s) {
  return enum_from_name<LossKind>(kLossNames, s, "loss");
}
inline Reduction reduction_from_name(const std::string& s) {
  return enum_from_name<Reduction>(kReductionNames, s, "reduction");
}

inline void export_op_names(py::module_& m) {
  m.attr("ACTIVATIONS") = names_tuple(kActNames);
  m.attr("SAVES_INPUT") = names_tuple(kActNames, kActSavesInput);
  m.attr("LOSSES") = names_tuple(kLossNames);
  m.attr("REDUCTIONS") = names_tuple(kReductionNames);
}

}  // namespace bind
}  // namespace dg
