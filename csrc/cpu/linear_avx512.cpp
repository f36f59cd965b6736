// linear kernels, avx512 build (see linear.h).
#define DG_ISA_NS avx512
#include "cpu/linear.h"
