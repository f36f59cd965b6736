// The forward activations' loop bodies for llvm-mca (bench/mca/run.sh): one vector loaded,
// the activation, one vector stored, between LLVM-MCA markers (the loop counter and branch
// are outside). Compiled with each ISA's flags from cmake/cpu_isa.cmake.
#include "cpu/activation_math.h"
using namespace dg::DG_ISA_NS;
using V = Vec<float>;
#define K(name, expr)                                          \
  extern "C" void k_##name(const float* x, float* y, long n) { \
    for (long i = 0; i + V::width <= n; i += V::width) {       \
      __asm volatile("# LLVM-MCA-BEGIN " #name);               \
      V v = V::load(x + i);                                    \
      (expr).store(y + i);                                     \
      __asm volatile("# LLVM-MCA-END " #name);                 \
    }                                                          \
  }
K(gelu, ActOp<dg::Act::gelu>::fwd(v, v))
K(sigmoid, ActOp<dg::Act::sigmoid>::fwd(v, v))
K(silu, ActOp<dg::Act::silu>::fwd(v, v))
K(tanh, ActOp<dg::Act::tanh>::fwd(v, v))
K(relu, ActOp<dg::Act::relu>::fwd(v, v))
