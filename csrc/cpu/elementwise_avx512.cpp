// elementwise kernels, avx512 build (see elementwise_impl.h).
#define DG_ISA_NS avx512
#include "cpu/elementwise_impl.h"
