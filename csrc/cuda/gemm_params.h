// GemmParams: the host-side description of one GEMM (raw pointers, element strides).
#pragma once

#include <cstdint>

#include "common/op_names.h"

namespace dg {
namespace cuda {

// Host-side description of one GEMM (raw pointers, element strides).
template <class T>
struct GemmParams {
  int64_t m = 0, n = 0, k = 0;
  const T* a = nullptr;
  int64_t rsa = 0, csa = 0;  // A[i, l] = a[i * rsa + l * csa], i < m, l < k
  const T* b = nullptr;
  int64_t rsb = 0, csb = 0;  // B[l, j] = b[l * rsb + j * csb], l < k, j < n
  T* c = nullptr;
  int64_t rsc = 0, csc = 0;
  T alpha = 1, beta = 0;
  const T* bias = nullptr;                    // bias[j], added before the activation (may be null)
  int act = static_cast<int>(Act::identity);  // a dg::Act code (common/op_names.h)
  T param = 0;
  T* z = nullptr;  // the pre-activation, same strides as c (may be null)
};

}  // namespace cuda
}  // namespace dg
