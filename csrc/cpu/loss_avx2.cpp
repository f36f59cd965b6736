// loss kernels, avx2 build (see loss_impl.h).
#define DG_ISA_NS avx2
#include "cpu/loss_impl.h"
