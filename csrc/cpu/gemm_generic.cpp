// gemm kernels, generic build (see gemm.h).
#define DG_ISA_NS generic
#include "cpu/gemm.h"
