// softmax_xent kernels, generic build (see softmax_xent_impl.h).
#define DG_ISA_NS generic
#include "cpu/softmax_xent_impl.h"
