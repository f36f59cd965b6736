// The one vocabulary of deltagrad's ops: activations, elementwise losses and reductions. Each is
// an X-macro list; the enums (dg::Act, dg::LossKind, dg::Reduction), their names, the codes the
// CUDA kernels take (the same enums) and the tuples the compiled modules export to Python
// (ACTIVATIONS, SAVES_INPUT, LOSSES, REDUCTIONS: bindings/op_names_py.h) are all built from
// these lists. A code is an index: append new entries at the end.
//
// Plain C++17 with no dependency: included by the CPU kernels, the bindings and the CUDA kernels
// (nvcc and the SIMT emulator alike).
#pragma once

namespace dg {

// X(name, saves_input): saves_input is whether the backward takes the input x (true) or the
// output y (false) as its `saved` argument.
// param: leaky_relu's negative slope, elu's and celu's alpha; unused by the others. The
// formulas, their limits at +-inf and NaN are in python/deltagrad/reference.py (the oracle).
#define DG_ACTIVATIONS(X) \
  X(identity, false)      \
  X(relu, false)          \
  X(leaky_relu, true)     \
  X(sigmoid, false)       \
  X(tanh, false)          \
  X(gelu, true)           \
  X(gelu_tanh, true)      \
  X(softplus, true)       \
  X(silu, true)           \
  X(elu, true)            \
  X(selu, true)           \
  X(celu, true)           \
  X(relu6, false)         \
  X(hardsigmoid, true)    \
  X(hardswish, true)      \
  X(mish, true)           \
  X(logsigmoid, true)     \
  X(softsign, true)

// X(name): elementwise losses with their gradient fused (cpu/loss.h, cuda/loss.cuh).
//   sum_of_squares   1/2 (y - t)^2,                              dy = y - t
//   mse              (y - t)^2,                                  dy = 2 (y - t)
//   bce              -(t log p + (1 - t) log(1 - p)), logs clamped at -100 (as torch)
//   bce_with_logits  max(z, 0) - z t + log1p(exp(-|z|)),         dz = sigmoid(z) - t
#define DG_LOSSES(X) \
  X(sum_of_squares)  \
  X(mse)             \
  X(bce)             \
  X(bce_with_logits)

// X(name): how a loss reduces its elementwise / per-row values.
#define DG_REDUCTIONS(X) \
  X(mean)                \
  X(sum)                 \
  X(none)

// Helpers for the lists above: "1" takes an X(name) entry, "2" an X(name, flag) one.
#define DG_OP_NAMES_ENUM1(name) name,
#define DG_OP_NAMES_ENUM2(name, flag) name,
#define DG_OP_NAMES_STR1(name) #name,
#define DG_OP_NAMES_STR2(name, flag) #name,
#define DG_OP_NAMES_FLAG2(name, flag) flag,
#define DG_OP_NAMES_ONE1(name) +1
#define DG_OP_NAMES_ONE2(name, flag) +1

enum class Act : int { DG_ACTIVATIONS(DG_OP_NAMES_ENUM2) };
enum class LossKind : int { DG_LOSSES(DG_OP_NAMES_ENUM1) };
enum class Reduction : int { DG_REDUCTIONS(DG_OP_NAMES_ENUM1) };

inline constexpr int kNumActs = 0 DG_ACTIVATIONS(DG_OP_NAMES_ONE2);
inline constexpr int kNumLosses = 0 DG_LOSSES(DG_OP_NAMES_ONE1);
inline constexpr int kNumReductions = 0 DG_REDUCTIONS(DG_OP_NAMES_ONE1);

// Indexed by the enum's code.
inline constexpr const char* kActNames[] = {DG_ACTIVATIONS(DG_OP_NAMES_STR2)};
inline constexpr bool kActSavesInput[] = {DG_ACTIVATIONS(DG_OP_NAMES_FLAG2)};
inline constexpr const char* kLossNames[] = {DG_LOSSES(DG_OP_NAMES_STR1)};
inline constexpr const char* kReductionNames[] = {DG_REDUCTIONS(DG_OP_NAMES_STR1)};

static_assert(sizeof(kActNames) / sizeof(kActNames[0]) == kNumActs, "one name per Act");
static_assert(sizeof(kLossNames) / sizeof(kLossNames[0]) == kNumLosses, "one name per LossKind");
static_assert(sizeof(kReductionNames) / sizeof(kReductionNames[0]) == kNumReductions,
              "one name per Reduction");

#undef DG_OP_NAMES_ENUM1
#undef DG_OP_NAMES_ENUM2
#undef DG_OP_NAMES_STR1
#undef DG_OP_NAMES_STR2
#undef DG_OP_NAMES_FLAG2
#undef DG_OP_NAMES_ONE1
#undef DG_OP_NAMES_ONE2

// Whether the backward of `a` takes the input x (true) or the output y (false). Host code.
constexpr bool act_saves_input(Act a) { return kActSavesInput[static_cast<int>(a)]; }

}  // namespace dg
