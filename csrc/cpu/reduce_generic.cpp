// reduce kernels, generic build (see reduce_impl.h).
#define DG_ISA_NS generic
#include "cpu/reduce_impl.h"
