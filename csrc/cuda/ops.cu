// nvcc translation unit of every non-GEMM kernel (elementwise, softmax / losses, reductions,
// optimizers).
#include "cuda/launch.cuh"

namespace dg {
namespace cuda {
DG_INSTANTIATE_OPS(float)
DG_INSTANTIATE_OPS(double)
}  // namespace cuda
}  // namespace dg
