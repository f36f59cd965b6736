// softmax_xent kernels, avx2 build (see softmax_xent_impl.h).
#define DG_ISA_NS avx2
#include "cpu/softmax_xent_impl.h"
