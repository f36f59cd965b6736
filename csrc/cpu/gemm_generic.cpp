// gemm kernels, generic build (see gemm_impl.h).
#define DG_ISA_NS generic
#include "cpu/gemm_impl.h"
