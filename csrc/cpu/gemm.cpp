// GEMM dispatch. (Placeholder until the packed BLIS-style kernel lands: calls the reference.)
#include "cpu/gemm.h"

namespace dg {

void gemm(const GemmArgs<float>& args) { gemm_reference(args); }
void gemm(const GemmArgs<double>& args) { gemm_reference(args); }

}  // namespace dg
