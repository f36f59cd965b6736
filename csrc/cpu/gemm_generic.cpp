// The packed GEMM compiled for generic (see gemm_impl.h; CMake picks the flags by file name).
#define DG_ISA_NS generic
#include "cpu/gemm_impl.h"

namespace dg {
namespace generic {

void gemm(const GemmArgs<float>& args) { gemm_kernel(args); }
void gemm(const GemmArgs<double>& args) { gemm_kernel(args); }

}  // namespace generic
}  // namespace dg
