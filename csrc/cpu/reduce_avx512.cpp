// reduce kernels, avx512 build (see reduce_impl.h).
#define DG_ISA_NS avx512
#include "cpu/reduce_impl.h"
