// The geometry of a 2-D pooling pass (max / average), shared by the kernels (csrc/cpu/pool.h),
// their declarations (ops.h) and the binding (csrc/bindings/cpu_pool.cpp).
#pragma once

#include <atomic>
#include <cstdint>

namespace dg {

// planes = N * C planes of h x w in, oh x ow out; kernel kh x kw, stride sh x sw, padding
// ph x pw, dilation dh x dw (average pooling: dilation 1). The binding computed oh, ow with
// torch's formula (ceil_mode included) and checked every value.
struct Pool2dGeom {
  int64_t planes = 0, h = 0, w = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// Tests only (the binding's _pool_generic_only): true sends every pass down the generic kernels,
// the oracle of the fast paths (the 2x2 stride-2 windows, global average pooling).
inline std::atomic<bool> pool_generic_only{false};
// Outputs of a pass at least this large (bytes) bypass the cache: non-temporal stores, as the
// copy they are measured against (activation.h). Settable for tests (_pool_stream_bytes).
inline std::atomic<int64_t> pool_stream_bytes{int64_t(16) << 20};

}  // namespace dg
