// reduce kernels, avx512 build (see reduce.h).
#define DG_ISA_NS avx512
#include "cpu/reduce.h"
