// optim kernels, generic build (see optim_impl.h).
#define DG_ISA_NS generic
#include "cpu/optim_impl.h"
