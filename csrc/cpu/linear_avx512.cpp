// linear kernels, avx512 build (see linear_impl.h).
#define DG_ISA_NS avx512
#include "cpu/linear_impl.h"
