// loss kernels, generic build (see loss.h).
#define DG_ISA_NS generic
#include "cpu/loss.h"
