// linear kernels, avx2 build (see linear_impl.h).
#define DG_ISA_NS avx2
#include "cpu/linear_impl.h"
