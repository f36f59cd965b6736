// linear kernels, generic build (see linear_impl.h).
#define DG_ISA_NS generic
#include "cpu/linear_impl.h"
