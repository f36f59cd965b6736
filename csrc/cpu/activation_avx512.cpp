// activation kernels, avx512 build (see activation.h).
#define DG_ISA_NS avx512
#include "cpu/activation.h"
