// optim kernels, avx512 build (see optim.h).
#define DG_ISA_NS avx512
#include "cpu/optim.h"
