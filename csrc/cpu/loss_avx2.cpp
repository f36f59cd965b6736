// loss kernels, avx2 build (see loss.h).
#define DG_ISA_NS avx2
#include "cpu/loss.h"
