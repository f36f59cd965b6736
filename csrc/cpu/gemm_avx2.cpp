// The packed GEMM compiled for avx2 (see gemm_impl.h; CMake picks the flags by file name).
#define DG_ISA_NS avx2
#include "cpu/gemm_impl.h"

namespace dg {
namespace avx2 {

void gemm(const GemmArgs<float>& args) { gemm_kernel(args); }
void gemm(const GemmArgs<double>& args) { gemm_kernel(args); }

}  // namespace avx2
}  // namespace dg
