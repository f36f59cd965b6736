// elementwise kernels, avx2 build (see elementwise_impl.h).
#define DG_ISA_NS avx2
#include "cpu/elementwise_impl.h"
