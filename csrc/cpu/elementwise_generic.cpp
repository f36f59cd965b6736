// elementwise kernels, generic build (see elementwise_impl.h).
#define DG_ISA_NS generic
#include "cpu/elementwise_impl.h"
