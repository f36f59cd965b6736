// loss kernels, generic build (see loss_impl.h).
#define DG_ISA_NS generic
#include "cpu/loss_impl.h"
