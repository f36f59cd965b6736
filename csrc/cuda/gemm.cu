// nvcc translation unit of the GEMM kernels (FP32 / FP64 SIMT, TF32 tensor cores).
#include "cuda/gemm_launch.cuh"

namespace dg {
namespace cuda {
DG_INSTANTIATE_GEMM(float)
DG_INSTANTIATE_GEMM(double)
}  // namespace cuda
}  // namespace dg
