// linear kernels, generic build (see linear.h).
#define DG_ISA_NS generic
#include "cpu/linear.h"
