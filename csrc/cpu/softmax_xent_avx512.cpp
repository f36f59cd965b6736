// softmax_xent kernels, avx512 build (see softmax_xent_impl.h).
#define DG_ISA_NS avx512
#include "cpu/softmax_xent_impl.h"
