// activation kernels, avx2 build (see activation.h).
#define DG_ISA_NS avx2
#include "cpu/activation.h"
