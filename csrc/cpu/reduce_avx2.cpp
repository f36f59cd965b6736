// reduce kernels, avx2 build (see reduce.h).
#define DG_ISA_NS avx2
#include "cpu/reduce.h"
