// gemm kernels, avx512 build (see gemm_impl.h).
#define DG_ISA_NS avx512
#include "cpu/gemm_impl.h"
