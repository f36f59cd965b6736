// gemm kernels, avx512 build (see gemm.h).
#define DG_ISA_NS avx512
#include "cpu/gemm.h"
