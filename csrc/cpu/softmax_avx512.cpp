// softmax kernels, avx512 build (see softmax.h).
#define DG_ISA_NS avx512
#include "cpu/softmax.h"
