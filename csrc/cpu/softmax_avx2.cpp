// softmax kernels, avx2 build (see softmax.h).
#define DG_ISA_NS avx2
#include "cpu/softmax.h"
