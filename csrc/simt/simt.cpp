// The SIMT emulator's runtime: fibers, the block scheduler, barriers, warp exchange, buffers.
#include "simt/simt.h"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <memory>
#include <vector>

// Under AddressSanitizer (the DG_SANITIZE build) the fiber switches are annotated, so ASan knows
// which stack is live: without this, an exception thrown inside a kernel (a Fault) makes ASan
// unpoison the wrong stack ("ASan is ignoring requested __asan_handle_no_return") and report
// false positives later. ASan's own swapcontext interceptor only wipes the shadow of the target
// context's whole stack, before and after each switch, which erases the redzones of every
// suspended kernel frame (so stack overflows in a kernel after its first barrier went unseen);
// the annotated build calls glibc's swapcontext directly and unpoisons a fiber's stack itself
// when it (re)starts a thread on it.
#if defined(__SANITIZE_ADDRESS__)
#define DG_SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DG_SIMT_ASAN 1
#endif
#endif
#ifdef DG_SIMT_ASAN
#include <dlfcn.h>
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace simt {

namespace {

constexpr size_t kStackBytes = 128 * 1024;   // per fiber, plus one guard page below it
constexpr size_t kSharedBytes = 227 * 1024;  // the most shared memory per block (sm_90)
constexpr unsigned kWarp = 32;

enum class Wait { none, block, warp };

// One fiber's stack: mmap'd with a PROT_NONE guard page so an overflow faults instead of
// silently corrupting the neighbouring stack.
struct Stack {
  char* mem = nullptr;  // the guard page, then kStackBytes of stack
  size_t bytes = 0;
  Stack() {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    bytes = kStackBytes + page;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    mem = static_cast<char*>(p);
    mprotect(mem, page, PROT_NONE);
  }
  ~Stack() {
#ifdef DG_SIMT_ASAN
    // A fiber abandoned by a fault may have left redzones here: the next mapping of these
    // pages must not inherit them.
    ASAN_UNPOISON_MEMORY_REGION(mem, bytes);
#endif
    munmap(mem, bytes);
  }
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
};

struct WarpState {
  unsigned arrived = 0;   // lanes waiting at the current warp barrier
  unsigned expected = 0;  // the mask of the current warp barrier
  unsigned long gen = 0;
  unsigned present = 0;  // lanes that exist in this warp
  unsigned char slots[kWarp][16];
  uint32_t frag[kWarp][6];           // mma: each lane's A (4) and B (2) registers
  const unsigned char* rows[kWarp];  // ldmatrix: each lane's row address
};

// One cp.async in flight: it moves its bytes when its group is waited for.
struct AsyncCopy {
  unsigned char* dst;
  const unsigned char* src;
  unsigned bytes, src_bytes;
};

// Everything below is per OS thread, so concurrent launches from different Python threads
// (the binding releases the GIL) do not share state.
thread_local std::vector<std::pair<const char*, const char*>> tl_buffers;
thread_local bool tl_reverse = false;
thread_local bool tl_race_check = true;
thread_local std::vector<std::unique_ptr<Stack>> tl_stacks;

#ifdef DG_SIMT_ASAN
thread_local bool tl_stacks_clean = true;  // no fiber was abandoned on tl_stacks

// glibc's swapcontext, not ASan's interceptor of it (see the top of the file).
int raw_swapcontext(ucontext_t* from, const ucontext_t* to) {
  using Fn = int (*)(ucontext_t*, const ucontext_t*);
  static const Fn fn = [] {
    void* libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void* sym = libc != nullptr ? dlsym(libc, "swapcontext") : nullptr;
    return sym != nullptr ? reinterpret_cast<Fn>(sym) : &::swapcontext;
  }();
  return fn(from, to);
}
#endif

}  // namespace

struct ThreadState {
  ucontext_t ctx;
  dim3 idx;
  unsigned linear = 0;
  bool done = false;
  Wait wait = Wait::none;
  unsigned long wait_gen = 0;
  size_t shared_offset = 0;
  std::exception_ptr error;
  const char* stack_lo = nullptr;  // the fiber's usable stack, for ASan's fiber annotations
  size_t stack_size = 0;
  void* fake_stack = nullptr;          // ASan's fake stack of the fiber while it is suspended
  std::vector<AsyncCopy> open_copies;  // cp.async not yet committed
  std::vector<std::vector<AsyncCopy>> copy_groups;  // committed groups, oldest first
};

// What the race detector knows about one 4-byte word of shared memory in the current block.
struct WordState {
  uint64_t write_epoch = 0;  // 1 + the barrier generation of the last write (0: never written)
  uint64_t read_epoch = 0;   // 1 + the barrier generation of the last read
  unsigned writer = 0, reader = 0;
  bool many_readers = false;  // more than one thread read it in read_epoch
};

struct BlockState {
  std::vector<WordState> words;
  dim3 block_idx, block_dim, grid_dim;
  ucontext_t scheduler;
  std::vector<ThreadState> threads;
  std::vector<WarpState> warps;
  unsigned live = 0;
  unsigned arrived = 0;       // threads waiting at __syncthreads
  const char* bar_file = "";  // the call site they wait at
  int bar_line = 0;
  unsigned long gen = 0;
  size_t shared_used = 0;
  alignas(64) unsigned char shared[kSharedBytes];
  const std::function<void()>* body = nullptr;
  const void* sched_stack_lo = nullptr;  // the OS thread's stack (the scheduler's), for ASan
  size_t sched_stack_size = 0;
};

thread_local ThreadState* tl_thread = nullptr;
thread_local BlockState* tl_block = nullptr;

void fault(const std::string& msg) { throw Fault(msg); }

static ThreadState& cur() {
  if (tl_thread == nullptr) fault("a device function was called outside a kernel launch");
  return *tl_thread;
}

const dim3& thread_idx() { return cur().idx; }
const dim3& block_idx() { return tl_block->block_idx; }
const dim3& block_dim() { return tl_block->block_dim; }
const dim3& grid_dim() { return tl_block->grid_dim; }

std::string where() {
  if (tl_thread == nullptr || tl_block == nullptr) return "host";
  auto s = [](const dim3& d) {
    return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
  };
  return "block " + s(tl_block->block_idx) + " thread " + s(tl_thread->idx);
}

unsigned lane_id() { return cur().linear % kWarp; }

// A fiber gives control back to the scheduler.
static void yield() {
  ThreadState& t = cur();
#ifdef DG_SIMT_ASAN
  BlockState& b = *tl_block;
  __sanitizer_start_switch_fiber(&t.fake_stack, b.sched_stack_lo, b.sched_stack_size);
  raw_swapcontext(&t.ctx, &b.scheduler);
  __sanitizer_finish_switch_fiber(t.fake_stack, &b.sched_stack_lo, &b.sched_stack_size);
#else
  swapcontext(&t.ctx, &tl_block->scheduler);
#endif
}

// The scheduler runs fiber t until it yields or returns.
static void resume(BlockState& b, ThreadState& t) {
#ifdef DG_SIMT_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, t.stack_lo, t.stack_size);
  raw_swapcontext(&b.scheduler, &t.ctx);
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#else
  swapcontext(&b.scheduler, &t.ctx);
#endif
}

void syncthreads(const char* file, int line) {
  ThreadState& t = cur();
  BlockState& b = *tl_block;
  if (b.arrived == 0) {
    b.bar_file = file;
    b.bar_line = line;
  } else if (b.bar_line != line || std::strcmp(b.bar_file, file) != 0) {
    fault("divergent __syncthreads: " + where() + " waits at " + file + ":" + std::to_string(line) +
          " while other threads wait at " + b.bar_file + ":" + std::to_string(b.bar_line));
  }
  if (++b.arrived == b.live) {  // the last one in releases the others
    b.arrived = 0;
    ++b.gen;
    return;
  }
  t.wait = Wait::block;
  t.wait_gen = b.gen;
  yield();
  t.wait = Wait::none;
}

void warp_sync(unsigned mask) {
  ThreadState& t = cur();
  BlockState& b = *tl_block;
  WarpState& w = b.warps[t.linear / kWarp];
  const unsigned lane = t.linear % kWarp;
  if (((mask >> lane) & 1u) == 0)
    fault("warp primitive called by lane " + std::to_string(lane) + " with mask 0x" +
          [&] {
            char buf[16];
            snprintf(buf, sizeof buf, "%08x", mask);
            return std::string(buf);
          }() +
          " that does not name it, at " + where());
  if ((mask & ~w.present) != 0)
    fault(
        "warp primitive mask names lanes that do not exist in this block (blockDim too small "
        "for a full warp?), at " +
        where());
  if (w.arrived == 0) {
    w.expected = mask;
  } else if (w.expected != mask) {
    fault("lanes of one warp reached a warp primitive with different masks, at " + where());
  }
  w.arrived |= 1u << lane;
  if (w.arrived == w.expected) {
    w.arrived = 0;
    ++w.gen;
    return;
  }
  t.wait = Wait::warp;
  t.wait_gen = w.gen;
  yield();
  t.wait = Wait::none;
}

unsigned char* warp_slot(unsigned lane) {
  return tl_block->warps[cur().linear / kWarp].slots[lane % kWarp];
}

uint32_t tf32_round(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return u;  // NaN, infinity
  // Add half a TF32 ulp to the magnitude and truncate: ties go away from zero, and a carry out
  // of the mantissa bumps the exponent (up to infinity), as cvt.rna does.
  return (u + 0x1000u) & ~0x1fffu;
}

void mma_tf32_m16n8k8(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  ThreadState& t = cur();
  WarpState& w = tl_block->warps[t.linear / kWarp];
  const unsigned lane = t.linear % kWarp;
  for (int i = 0; i < 6; ++i) {
    const uint32_t v = i < 4 ? a[i] : b[i - 4];
    if ((v & 0x1fffu) != 0 && (v & 0x7f800000u) != 0x7f800000u)
      fault("mma.sync TF32 operand " + std::string(i < 4 ? "a" : "b") +
            std::to_string(i < 4 ? i : i - 4) +
            " is not rounded to TF32 (low 13 bits set: a missing cvt.rna.tf32.f32), at " + where());
    w.frag[lane][i] = v;
  }
  warp_sync(0xffffffffu);  // mma.sync.aligned: all 32 lanes, converged
  auto f = [](uint32_t u) {
    float x;
    std::memcpy(&x, &u, 4);
    return x;
  };
  const unsigned g = lane / 4, tq = lane % 4;
  float out[4];
  for (int e = 0; e < 4; ++e) {
    const unsigned row = g + (e >= 2 ? 8 : 0), col = 2 * tq + (e & 1);
    float acc = d[e];
    for (unsigned k = 0; k < 8; ++k) {
      const float av = f(w.frag[(row % 8) * 4 + k % 4][(row >= 8 ? 1 : 0) + (k >= 4 ? 2 : 0)]);
      const float bv = f(w.frag[col * 4 + k % 4][4 + (k >= 4 ? 1 : 0)]);
      acc += av * bv;  // the product of two TF32 values is exact in fp32
    }
    out[e] = acc;
  }
  warp_sync(0xffffffffu);  // nobody overwrites its fragments before everyone has read them
  for (int e = 0; e < 4; ++e) d[e] = out[e];
}

void ldmatrix(uint32_t* r, int count, const void* row) {
  ThreadState& t = cur();
  WarpState& w = tl_block->warps[t.linear / kWarp];
  const unsigned lane = t.linear % kWarp;
  if (count != 1 && count != 2 && count != 4) fault("ldmatrix: .x1, .x2 or .x4 only");
  if (lane < 8u * count && row == nullptr) fault("ldmatrix: lane without a row address");
  w.rows[lane] = static_cast<const unsigned char*>(row);
  warp_sync(0xffffffffu);
  for (int j = 0; j < count; ++j) {
    const unsigned char* p = w.rows[8 * j + lane / 4] + 4 * (lane % 4);
    shared_access(p, 4, false);
    std::memcpy(&r[j], p, 4);
  }
  warp_sync(0xffffffffu);
}

void cp_async(void* dst, const void* src, unsigned bytes, unsigned src_bytes) {
  if (bytes != 4 && bytes != 8 && bytes != 16) fault("cp.async: 4, 8 or 16 bytes");
  if (src_bytes > bytes) fault("cp.async: src-size over the copy size");
  ThreadState& t = cur();
  // The copy may land any time from now to its wait: a write now (so a read of the same words
  // by another thread before the next __syncthreads is a race) and again when it lands.
  shared_access(dst, bytes, true);
  t.open_copies.push_back(AsyncCopy{static_cast<unsigned char*>(dst),
                                    static_cast<const unsigned char*>(src), bytes, src_bytes});
}

void cp_async_commit() {
  ThreadState& t = cur();
  t.copy_groups.push_back(std::move(t.open_copies));
  t.open_copies.clear();
}

void cp_async_wait(int keep) {
  ThreadState& t = cur();
  if (keep < 0) fault("cp.async.wait_group with a negative count");
  while (t.copy_groups.size() > static_cast<size_t>(keep)) {
    for (const AsyncCopy& c : t.copy_groups.front()) {
      shared_access(c.dst, c.bytes, true);
      if (c.src_bytes > 0) std::memcpy(c.dst, c.src, c.src_bytes);  // src-size 0: src may be null
      std::memset(c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);
    }
    t.copy_groups.erase(t.copy_groups.begin());
  }
}

void* shared_alloc(size_t bytes, size_t align) {
  ThreadState& t = cur();
  BlockState& b = *tl_block;
  size_t off = (t.shared_offset + align - 1) / align * align;
  if (off + bytes > kSharedBytes)
    fault("kernel declares more than " + std::to_string(kSharedBytes) + " bytes of shared memory");
  t.shared_offset = off + bytes;
  b.shared_used = std::max(b.shared_used, t.shared_offset);
  return b.shared + off;
}

void register_buffer(const void* p, size_t nbytes) {
  const char* lo = static_cast<const char*>(p);
  tl_buffers.emplace_back(lo, lo + nbytes);
}

void clear_buffers() { tl_buffers.clear(); }

std::pair<const char*, const char*> find_buffer(const void* p, const char* what) {
  const char* c = static_cast<const char*>(p);
  for (auto& b : tl_buffers)
    if (c >= b.first && c < b.second) return b;
  // A pointer one past the end of a buffer is legal to pass (e.g. an empty slice) but not to
  // dereference: give it an empty range.
  for (auto& b : tl_buffers)
    if (c == b.second) return {c, c};
  fault(std::string(what) + " passed to a kernel lies in no registered buffer");
}

void set_reverse_schedule(bool reverse) { tl_reverse = reverse; }
void set_race_check(bool on) { tl_race_check = on; }

void shared_access(const void* p, size_t bytes, bool write) {
  if (!tl_race_check) return;
  BlockState& b = *tl_block;
  const unsigned me = cur().linear;
  const uint64_t epoch = b.gen + 1;
  const size_t off = static_cast<size_t>(static_cast<const unsigned char*>(p) - b.shared);
  auto who = [&](unsigned t) {
    const ThreadState& o = b.threads[t];
    return "thread (" + std::to_string(o.idx.x) + "," + std::to_string(o.idx.y) + "," +
           std::to_string(o.idx.z) + ")";
  };
  for (size_t w = off / 4; w < (off + bytes + 3) / 4; ++w) {
    WordState& s = b.words[w];
    const std::string at = "shared byte offset " + std::to_string(w * 4);
    if (write) {
      if (s.write_epoch == epoch && s.writer != me)
        fault("shared-memory race (write after write, no __syncthreads between): " + at +
              " written by " + who(s.writer) + ", then by " + where());
      if (s.read_epoch == epoch && (s.many_readers || s.reader != me))
        fault("shared-memory race (write after read, no __syncthreads between): " + at +
              " read by " + who(s.reader) + (s.many_readers ? " and others" : "") +
              ", then written by " + where());
      s.write_epoch = epoch;
      s.writer = me;
    } else {
      if (s.write_epoch == 0)
        fault("read of uninitialized shared memory (" + at + " was not written in this block) at " +
              where());
      if (s.write_epoch == epoch && s.writer != me)
        fault("shared-memory race (read after write, no __syncthreads between): " + at +
              " written by " + who(s.writer) + ", read by " + where());
      if (s.read_epoch == epoch) {
        s.many_readers = s.many_readers || s.reader != me;
      } else {
        s.read_epoch = epoch;
        s.reader = me;
        s.many_readers = false;
      }
    }
  }
}

static void fiber_main() {
  ThreadState* t = tl_thread;
#ifdef DG_SIMT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &tl_block->sched_stack_lo, &tl_block->sched_stack_size);
#endif
  try {
    (*tl_block->body)();
  } catch (...) {
    t->error = std::current_exception();
  }
  t->done = true;
#ifdef DG_SIMT_ASAN
  // This fiber ends: no fake stack to keep.
  __sanitizer_start_switch_fiber(nullptr, tl_block->sched_stack_lo, tl_block->sched_stack_size);
#endif
  // Returning resumes uc_link, the scheduler.
}

static bool runnable(const ThreadState& t, const BlockState& b) {
  if (t.done) return false;
  switch (t.wait) {
    case Wait::none:
      return true;
    case Wait::block:
      return b.gen != t.wait_gen;
    case Wait::warp:
      return b.warps[t.linear / kWarp].gen != t.wait_gen;
  }
  return false;
}

static void thread_exited(BlockState& b) {
  --b.live;
  // Threads that have exited no longer count at __syncthreads.
  if (b.arrived > 0 && b.arrived == b.live) {
    b.arrived = 0;
    ++b.gen;
  }
}

static void run_block(BlockState& b) {
  const unsigned n = static_cast<unsigned>(b.threads.size());
  std::memset(b.shared, 0xFF, b.shared_used ? b.shared_used : kSharedBytes);  // NaN poison
  std::fill(b.words.begin(),
            b.words.begin() + (b.shared_used ? (b.shared_used + 3) / 4 : b.words.size()),
            WordState{});
  b.gen = 0;
  b.live = n;
  b.arrived = 0;
  for (auto& w : b.warps) {
    w.arrived = 0;
    w.expected = 0;
  }
#ifdef DG_SIMT_ASAN
  // The fibers abandoned by a fault in an earlier block left their frames' redzones poisoned on
  // the stacks (a fiber that returns leaves its stack clean).
  if (!tl_stacks_clean)
    for (auto& st : tl_stacks) ASAN_UNPOISON_MEMORY_REGION(st->mem, st->bytes);
  tl_stacks_clean = false;  // until every fiber of this block has returned
#endif
  for (unsigned i = 0; i < n; ++i) {
    ThreadState& t = b.threads[i];
    t.done = false;
    t.wait = Wait::none;
    t.shared_offset = 0;
    t.error = nullptr;
    t.open_copies.clear();  // copies a thread never waited for die with its block
    t.copy_groups.clear();
    getcontext(&t.ctx);
    const Stack& st = *tl_stacks[i];
    t.ctx.uc_stack.ss_sp = st.mem;
    t.ctx.uc_stack.ss_size = st.bytes;
    t.stack_lo = st.mem + (st.bytes - kStackBytes);
    t.stack_size = kStackBytes;
    t.fake_stack = nullptr;
    t.ctx.uc_link = &b.scheduler;
    makecontext(&t.ctx, fiber_main, 0);
  }
  while (b.live > 0) {
    bool ran = false;
    for (unsigned j = 0; j < n; ++j) {
      ThreadState& t = b.threads[tl_reverse ? n - 1 - j : j];
      if (!runnable(t, b)) continue;
      ran = true;
      tl_thread = &t;
      resume(b, t);
      tl_thread = nullptr;
      if (t.error) std::rethrow_exception(t.error);
      if (t.done) thread_exited(b);
    }
    if (!ran) {
      unsigned at_block = 0, at_warp = 0;
      for (auto& t : b.threads) {
        if (t.done) continue;
        if (t.wait == Wait::block)
          ++at_block;
        else
          ++at_warp;
      }
      const auto& bi = b.block_idx;
      fault("deadlock in block (" + std::to_string(bi.x) + "," + std::to_string(bi.y) + "," +
            std::to_string(bi.z) + "): " + std::to_string(at_block) +
            " threads wait at __syncthreads and " + std::to_string(at_warp) +
            " at a warp primitive, and no thread can reach them");
    }
  }
#ifdef DG_SIMT_ASAN
  tl_stacks_clean = true;
#endif
}

void run_grid(dim3 grid, dim3 block, const std::function<void()>& body) {
  const uint64_t nthreads = uint64_t(block.x) * block.y * block.z;
  if (nthreads == 0 || nthreads > 1024)
    fault("invalid blockDim: " + std::to_string(nthreads) + " threads per block (1..1024)");
  if (uint64_t(grid.x) * grid.y * grid.z == 0) fault("invalid gridDim: zero blocks");
  if (grid.y > 65535 || grid.z > 65535) fault("invalid gridDim: y or z over 65535");
  while (tl_stacks.size() < nthreads) tl_stacks.push_back(std::make_unique<Stack>());

  auto b = std::make_unique<BlockState>();
  b->block_dim = block;
  b->grid_dim = grid;
  b->body = &body;
  b->threads.resize(nthreads);
  b->warps.resize((nthreads + kWarp - 1) / kWarp);
  b->words.resize(kSharedBytes / 4);
  for (unsigned i = 0; i < nthreads; ++i) {
    ThreadState& t = b->threads[i];
    t.linear = i;
    t.idx = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
    b->warps[i / kWarp].present |= 1u << (i % kWarp);
  }
  BlockState* saved_block = tl_block;
  tl_block = b.get();
  struct Restore {
    BlockState* s;
    ~Restore() {
      tl_block = s;
      tl_thread = nullptr;
    }
  } restore{saved_block};
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        b->block_idx = dim3(x, y, z);
        run_block(*b);
      }
}

}  // namespace simt
