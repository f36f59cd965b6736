// loss kernels, avx512 build (see loss_impl.h).
#define DG_ISA_NS avx512
#include "cpu/loss_impl.h"
