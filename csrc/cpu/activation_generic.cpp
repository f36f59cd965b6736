// activation kernels, generic build (see activation.h).
#define DG_ISA_NS generic
#include "cpu/activation.h"
