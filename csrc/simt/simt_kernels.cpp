// The emulator build of every csrc/cuda kernel and launcher: the same sources as gemm.cu and
// ops.cu, compiled by the host compiler with DG_SIMT defined (see simt/simt.h).
#ifndef DG_SIMT
#error "simt_kernels.cpp must be compiled with DG_SIMT defined"
#endif

#include "cuda/gemm_launch.cuh"
#include "cuda/launch.cuh"

namespace dg {
namespace cuda {
DG_INSTANTIATE_GEMM(float)
DG_INSTANTIATE_GEMM(double)
DG_INSTANTIATE_OPS(float)
DG_INSTANTIATE_OPS(double)
}  // namespace cuda
}  // namespace dg
