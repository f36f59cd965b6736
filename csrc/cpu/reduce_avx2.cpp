// reduce kernels, avx2 build (see reduce_impl.h).
#define DG_ISA_NS avx2
#include "cpu/reduce_impl.h"
