// nvcc translation unit of every non-GEMM kernel: activation, softmax, loss, reduce, optim
// (their launchers are in launch.cuh).
#include "cuda/launch.cuh"

namespace dg {
namespace cuda {
bool sync_mode() { return sync_after_launch(); }
DG_INSTANTIATE_OPS(float)
DG_INSTANTIATE_OPS(double)
}  // namespace cuda
}  // namespace dg
