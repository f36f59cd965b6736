// reduce kernels, generic build (see reduce.h).
#define DG_ISA_NS generic
#include "cpu/reduce.h"
