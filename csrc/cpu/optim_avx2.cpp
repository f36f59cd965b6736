// optim kernels, avx2 build (see optim.h).
#define DG_ISA_NS avx2
#include "cpu/optim.h"
