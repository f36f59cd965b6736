// loss kernels, avx512 build (see loss.h).
#define DG_ISA_NS avx512
#include "cpu/loss.h"
