// optim kernels, avx512 build (see optim_impl.h).
#define DG_ISA_NS avx512
#include "cpu/optim_impl.h"
