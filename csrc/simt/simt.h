// The SIMT emulator's device header: compiles csrc/cuda kernels with the host compiler.
//
// Kernels include this (through cuda/common.cuh when DG_SIMT is defined) instead of the CUDA
// headers. A launch runs the blocks one after another; the threads of a block are cooperative
// fibers (ucontext) that switch only at __syncthreads and warp primitives, so a kernel that
// forgets a barrier reads another thread's data before it was written. Shared memory is poisoned
// with 0xFF bytes (NaN for float/double) at every block start, and every global and shared
// access goes through simt::Ptr, which checks bounds (and the alignment of vector loads) and
// throws simt::Fault naming the block and thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;
using cudaStream_t = void*;

namespace simt {

// A kernel fault: out-of-bounds access, misaligned vector access, deadlock, bad warp mask.
struct Fault : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct BlockState;
struct ThreadState;
extern thread_local ThreadState* tl_thread;
extern thread_local BlockState* tl_block;

const dim3& thread_idx();
const dim3& block_idx();
const dim3& block_dim();
const dim3& grid_dim();
std::string where();  // "block (x,y,z) thread (x,y,z)" of the running fiber

// __syncthreads at a call site: all threads of a block must wait at the same one.
void syncthreads(const char* file, int line);
void warp_sync(unsigned mask);
unsigned lane_id();
// The running warp's exchange slot of `lane` (16 bytes each) used by the shuffles.
unsigned char* warp_slot(unsigned lane);
// Block-shared allocation: every thread declares the same arrays in the same order and so gets
// the same offsets into the block's (poisoned) arena.
void* shared_alloc(size_t bytes, size_t align);

// The global buffers a launch may touch (registered by the caller around each op).
void register_buffer(const void* p, size_t nbytes);
void clear_buffers();
// The registered buffer holding p: [lo, hi); throws Fault when p is in none.
std::pair<const char*, const char*> find_buffer(const void* p, const char* what);

// Thread order within a block: false runs thread 0 first, true the last thread first.
void set_reverse_schedule(bool reverse);
// The shared-memory race detector (on by default): between two __syncthreads, a word written
// by one thread and read or written by another is a race, and a read of a word no thread of
// the block has written yet is a read of uninitialized (poisoned) memory; both raise Fault.
void set_race_check(bool on);
// Records one read or write of [p, p + bytes) in the block's shared memory.
void shared_access(const void* p, size_t bytes, bool write);

[[noreturn]] void fault(const std::string& msg);

// A checked pointer into one buffer (global) or one shared array. Pointer arithmetic is free;
// every dereference checks that the element lies inside the buffer.
template <class T>
class Ptr {
 public:
  Ptr() = default;
  Ptr(std::nullptr_t) {}
  Ptr(T* p) {  // NOLINT: implicit on purpose (raw launch arguments convert at the launch)
    if (p == nullptr) return;
    auto b = find_buffer(p, "global pointer");
    base_ = reinterpret_cast<const char*>(p);
    lo_ = b.first;
    hi_ = b.second;
    shared_ = false;
  }
  Ptr(T* p, size_t count, bool shared)
      : base_(reinterpret_cast<const char*>(p)),
        lo_(base_),
        hi_(base_ + count * sizeof(T)),
        shared_(shared) {}
  template <class U, class = std::enable_if_t<std::is_convertible<U*, T*>::value>>
  Ptr(const Ptr<U>& o) : base_(o.base_), lo_(o.lo_), hi_(o.hi_), off_(o.off_), shared_(o.shared_) {}

  T& operator[](int64_t i) const { return *at(i, 1, alignof(T)); }
  T& operator*() const { return (*this)[0]; }
  Ptr operator+(int64_t i) const {
    Ptr r(*this);
    r.off_ += i;
    return r;
  }
  Ptr operator-(int64_t i) const { return *this + (-i); }
  Ptr& operator+=(int64_t i) {
    off_ += i;
    return *this;
  }
  explicit operator bool() const { return base_ != nullptr; }

  T* read_at(int64_t i, int64_t n, size_t align) const { return at(i, n, align); }
  T* write_at(int64_t i, int64_t n, size_t align) const { return at(i, n, align); }

  // Element i..i+n-1, checked in bounds and aligned to `align` bytes.
  T* at(int64_t i, int64_t n, size_t align) const {
    if (base_ == nullptr) fault("null pointer dereference at " + where());
    const int64_t e = off_ + i;
    const char* p = base_ + e * static_cast<int64_t>(sizeof(T));
    const char* q = p + n * static_cast<int64_t>(sizeof(T));
    if (p < lo_ || q > hi_) {
      fault(std::string("out-of-bounds ") + (shared_ ? "shared" : "global") + " access: element " +
            std::to_string((p - lo_) / static_cast<int64_t>(sizeof(T))) +
            (n > 1 ? ".." + std::to_string((q - lo_) / static_cast<int64_t>(sizeof(T)) - 1) : "") +
            " of a buffer of " + std::to_string((hi_ - lo_) / static_cast<int64_t>(sizeof(T))) +
            " elements, at " + where());
    }
    if (reinterpret_cast<uintptr_t>(p) % align != 0)
      fault("misaligned " + std::to_string(n * sizeof(T)) + "-byte " +
            (shared_ ? "shared" : "global") + " vector access at " + where());
    return reinterpret_cast<T*>(const_cast<char*>(p));
  }

 private:
  template <class U>
  friend class Ptr;
  const char* base_ = nullptr;
  const char* lo_ = nullptr;
  const char* hi_ = nullptr;
  int64_t off_ = 0;
  bool shared_ = false;
};

// A reference to one shared-memory element: reads and writes are reported to the race
// detector (which is why shared arrays are not plain T*: a T& cannot tell a read from a write).
template <class T>
class SharedRef {
 public:
  explicit SharedRef(T* p) : p_(p) {}
  operator T() const {  // NOLINT: a read
    shared_access(p_, sizeof(T), false);
    return *p_;
  }
  SharedRef& operator=(T v) {
    shared_access(p_, sizeof(T), true);
    *p_ = v;
    return *this;
  }
  SharedRef& operator=(const SharedRef& o) { return *this = static_cast<T>(o); }
  SharedRef(const SharedRef&) = default;
  SharedRef& operator+=(T v) { return *this = static_cast<T>(*this) + v; }
  SharedRef& operator-=(T v) { return *this = static_cast<T>(*this) - v; }
  SharedRef& operator*=(T v) { return *this = static_cast<T>(*this) * v; }

 private:
  T* p_;
};

// A block's shared array: bounds-checked, and every access is seen by the race detector.
template <class T>
class SharedPtr {
 public:
  SharedPtr(T* p, size_t count) : ptr_(p, count, true) {}
  SharedRef<T> operator[](int64_t i) const { return SharedRef<T>(ptr_.at(i, 1, alignof(T))); }
  T* read_at(int64_t i, int64_t n, size_t align) const {
    T* p = ptr_.at(i, n, align);
    shared_access(p, n * sizeof(T), false);
    return p;
  }
  T* write_at(int64_t i, int64_t n, size_t align) const {
    T* p = ptr_.at(i, n, align);
    shared_access(p, n * sizeof(T), true);
    return p;
  }
  // Checked like read_at but not reported to the race detector: for ldmatrix and cp.async,
  // which report their accesses themselves (when the data moves).
  T* raw_at(int64_t i, int64_t n, size_t align) const { return ptr_.at(i, n, align); }

 private:
  Ptr<T> ptr_;
};

template <class T>
SharedPtr<T> shared_array(size_t count) {
  void* p = shared_alloc(count * sizeof(T), alignof(T) < 16 ? 16 : alignof(T));
  return SharedPtr<T>(static_cast<T*>(p), count);
}

// Runs body() as every thread of every block of the grid; rethrows the first fault.
void run_grid(dim3 grid, dim3 block, const std::function<void()>& body);

template <class... P, class... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong argument count");
  // Convert every argument to its parameter type once (raw pointers become checked pointers).
  std::tuple<std::decay_t<P>...> params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
  run_grid(grid, block, [&] { std::apply(kernel, params); });
}

}  // namespace simt

#define threadIdx (::simt::thread_idx())
#define blockIdx (::simt::block_idx())
#define blockDim (::simt::block_dim())
#define gridDim (::simt::grid_dim())

// A macro, so the barrier knows its call site and can flag divergent __syncthreads.
#define __syncthreads() ::simt::syncthreads(__FILE__, __LINE__)
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::simt::warp_sync(mask); }

namespace simt {
// One exchange round: every lane of `mask` publishes v, then reads lane src's value.
template <class T>
T exchange(unsigned mask, T v, int src_lane) {
  static_assert(sizeof(T) <= 16, "shuffle of a type over 16 bytes");
  const unsigned lane = lane_id();
  std::memcpy(warp_slot(lane), &v, sizeof(T));
  warp_sync(mask);
  T r = v;
  if (src_lane >= 0) {
    if (((mask >> src_lane) & 1u) == 0)
      fault("shuffle reads lane " + std::to_string(src_lane) + ", which is not in the mask, at " +
            where());
    std::memcpy(&r, warp_slot(static_cast<unsigned>(src_lane)), sizeof(T));
  }
  warp_sync(mask);  // nobody overwrites a slot before everyone has read it
  return r;
}
}  // namespace simt

template <class T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const int lane = static_cast<int>(::simt::lane_id());
  const int base = lane & ~(width - 1);
  return ::simt::exchange(mask, v, base + (src & (width - 1)));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  const int lane = static_cast<int>(::simt::lane_id());
  const int base = lane & ~(width - 1);
  const int s = lane ^ lane_mask;
  return ::simt::exchange(mask, v, (s >= base + width) ? -1 : s);
}
template <class T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = static_cast<int>(::simt::lane_id());
  const int s = (lane & (width - 1)) + static_cast<int>(delta);
  return ::simt::exchange(mask, v, s >= width ? -1 : lane + static_cast<int>(delta));
}
template <class T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  const int lane = static_cast<int>(::simt::lane_id());
  const int s = (lane & (width - 1)) - static_cast<int>(delta);
  return ::simt::exchange(mask, v, s < 0 ? -1 : lane - static_cast<int>(delta));
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
  const unsigned lane = ::simt::lane_id();
  const unsigned char p = pred ? 1 : 0;
  std::memcpy(::simt::warp_slot(lane), &p, 1);
  ::simt::warp_sync(mask);
  unsigned r = 0;
  for (unsigned l = 0; l < 32; ++l)
    if (((mask >> l) & 1u) && ::simt::warp_slot(l)[0]) r |= 1u << l;
  ::simt::warp_sync(mask);
  return r;
}

// ---- Tensor cores and asynchronous copies (sm_80+), called by csrc/cuda/tc_ops.cuh ----------
namespace simt {
// cvt.rna.tf32.f32: round to nearest, ties away from zero, to 10 mantissa bits (the low 13 bits
// of the result are zero); NaN and infinity pass through.
uint32_t tf32_round(float x);
// mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, d = a * b + d, for the whole warp: every
// lane deposits its A (4) and B (2) fragment registers at a warp barrier, then computes its own
// four outputs from the gathered fragments (the PTX ISA fragment layout, g = lane / 4,
// t = lane % 4: a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4); b0 (k = t, n = g),
// b1 (k = t + 4, n = g); d0 (g, 2t), d1 (g, 2t + 1), d2 (g + 8, 2t), d3 (g + 8, 2t + 1)). The
// TF32 products are exact in fp32 and added to d in fp32, k = 0..7 in order. An operand with
// any of its low 13 bits set (not rounded to TF32: a missing cvt.rna) is a fault.
void mma_tf32_m16n8k8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]);
// ldmatrix.sync.aligned.m8n8.x{count}.shared.b16 for the whole warp: lane 8j + i gives the
// (16-byte aligned, checked by the caller) address of row i of matrix j (lanes past 8 * count
// pass nullptr); register j of lane l gets the 32-bit word l % 4 of row l / 4 of matrix j.
void ldmatrix(uint32_t* r, int count, const void* row);
// cp.async of `bytes` (4, 8 or 16) from global src to shared dst, of which the first src_bytes
// are copied and the rest zero-filled (cp.async's src-size). Bounds and alignment are checked
// now; the copy itself happens at the cp_async_wait that retires its group, so a missing wait
// reads poisoned (NaN) or stale shared memory, and the race detector sees the write there.
void cp_async(void* dst, const void* src, unsigned bytes, unsigned src_bytes);
void cp_async_commit();        // cp.async.commit_group
void cp_async_wait(int keep);  // cp.async.wait_group keep: all but the newest `keep` groups done
}  // namespace simt

// Fibers never run at the same time, so a plain read-modify-write is atomic here.
template <class T>
T atomicAdd(T* addr, T v) {
  T old = *addr;
  *addr = old + v;
  return old;
}
