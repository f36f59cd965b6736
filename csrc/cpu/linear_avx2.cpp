// linear kernels, avx2 build (see linear.h).
#define DG_ISA_NS avx2
#include "cpu/linear.h"
