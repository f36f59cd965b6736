// GEMM dispatch: the packed kernel compiled for the active ISA (gemm_impl.h).
#include "cpu/gemm.h"

#include "common/cpu_isa.h"

namespace dg {
namespace avx512 {
void gemm(const GemmArgs<float>& args);
void gemm(const GemmArgs<double>& args);
}  // namespace avx512
namespace avx2 {
void gemm(const GemmArgs<float>& args);
void gemm(const GemmArgs<double>& args);
}  // namespace avx2
namespace generic {
void gemm(const GemmArgs<float>& args);
void gemm(const GemmArgs<double>& args);
}  // namespace generic

namespace {
template <class T>
void dispatch(const GemmArgs<T>& args) {
  switch (active_isa()) {
    case Isa::avx512:
      avx512::gemm(args);
      break;
    case Isa::avx2:
      avx2::gemm(args);
      break;
    default:
      generic::gemm(args);
      break;
  }
}
}  // namespace

void gemm(const GemmArgs<float>& args) { dispatch(args); }
void gemm(const GemmArgs<double>& args) { dispatch(args); }

}  // namespace dg
