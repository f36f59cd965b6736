// gemm kernels, avx2 build (see gemm.h).
#define DG_ISA_NS avx2
#include "cpu/gemm.h"
