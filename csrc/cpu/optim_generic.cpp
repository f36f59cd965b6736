// optim kernels, generic build (see optim.h).
#define DG_ISA_NS generic
#include "cpu/optim.h"
