// optim kernels, avx2 build (see optim_impl.h).
#define DG_ISA_NS avx2
#include "cpu/optim_impl.h"
