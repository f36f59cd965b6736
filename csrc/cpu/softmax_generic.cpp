// softmax kernels, generic build (see softmax.h).
#define DG_ISA_NS generic
#include "cpu/softmax.h"
