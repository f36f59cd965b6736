// The number of OpenMP threads deltagrad's kernels use (dg.set_num_threads).
#pragma once

namespace dg {

int num_threads();
void set_num_threads(int n);  // n >= 1; the binding raises ValueError otherwise

}  // namespace dg
