// gemm kernels, avx2 build (see gemm_impl.h).
#define DG_ISA_NS avx2
#include "cpu/gemm_impl.h"
