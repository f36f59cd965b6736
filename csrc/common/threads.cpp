// A process-wide thread count, read by every parallel region as num_threads(dg::num_threads()):
// omp_set_num_threads would only affect the calling thread, and ops run on any Python thread.
//
// Three things keep libgomp from ending or hanging the process (docs/RELIABILITY.md):
// * a bound from the machine (max_threads), applied to OMP_NUM_THREADS's value at import too;
// * before a count above the largest one checked so far is used, that many threads are created
//   and joined (probe): libgomp calls exit() when pthread_create fails (an address-space or
//   process limit), a plain pthread_create failure here only lowers the count;
// * a pthread_atfork child handler: after fork() the child has libgomp's thread pool without
//   its threads, and a parallel region with more than one thread waits for them forever, so a
//   child forked after a parallel region ran in the parent uses 1 thread (a region of one
//   thread does not touch the pool), as do the children of torch's OpenMP builds.
#include "common/threads.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <new>
#include <thread>
#include <utility>
#include <vector>

namespace dg {
namespace {

std::atomic<int> g_count{0};          // 0 until initial_num_threads() ran
std::atomic<int> g_checked{1};        // the largest count the probe has created
std::atomic<bool> g_parallel{false};  // num_threads() returned > 1: libgomp may have a pool
std::atomic<bool> g_forked{false};    // this process was forked after g_parallel was set
pthread_mutex_t g_probe_lock = PTHREAD_MUTEX_INITIALIZER;

// The stack size libgomp gives its threads (OMP_STACKSIZE / GOMP_STACKSIZE: a size with an
// optional B, K, M or G suffix, K by default); 0: the default, as pthread_create's.
size_t omp_stack_size() {
  for (const char* var : {"OMP_STACKSIZE", "GOMP_STACKSIZE"}) {
    const char* s = std::getenv(var);
    if (!s) continue;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s, &end, 10);
    if (end == s) continue;
    while (std::isspace(static_cast<unsigned char>(*end))) ++end;
    unsigned long long unit = 1024;
    switch (std::toupper(static_cast<unsigned char>(*end))) {
      case 'B':
        unit = 1;
        break;
      case 'M':
        unit = 1024ull * 1024;
        break;
      case 'G':
        unit = 1024ull * 1024 * 1024;
        break;
      default:
        break;
    }
    return static_cast<size_t>(v * unit);
  }
  return 0;
}

struct ProbeGate {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  bool go = false;
};

void* probe_thread(void* arg) {
  auto* g = static_cast<ProbeGate*>(arg);
  pthread_mutex_lock(&g->m);
  while (!g->go) pthread_cond_wait(&g->cv, &g->m);
  pthread_mutex_unlock(&g->m);
  return nullptr;
}

// The stack each libgomp thread gets: OMP_STACKSIZE's, or the default of pthread_create's.
size_t thread_stack_size() {
  size_t size = omp_stack_size();
  pthread_attr_t attr;
  if (!size && pthread_getattr_default_np(&attr) == 0) {
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
  }
  return std::max<size_t>(size ? size : size_t(8) << 20, PTHREAD_STACK_MIN);
}

// How many threads (the caller and n - 1 others) to use: creates up to n - 1 threads, each on a
// stack of libgomp's size that the probe maps itself (and unmaps after: glibc would keep the
// stacks it maps in its cache, taking the room the probe measures), which wait until all are
// created, then joins them. Called with g_probe_lock held.
int probe(int n) {
  if (n <= 1) return 1;
  std::vector<std::pair<pthread_t, void*>> threads;
  try {
    threads.reserve(static_cast<size_t>(n - 1));
  } catch (const std::bad_alloc&) {
    return 1;
  }
  const long page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
  const size_t stack = (thread_stack_size() + page - 1) / page * page + page;  // + a guard page
  ProbeGate gate;
  for (int i = 1; i < n; ++i) {
    void* mem = mmap(nullptr, stack, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED) break;
    pthread_attr_t attr;
    pthread_t t;
    bool ok = pthread_attr_init(&attr) == 0;
    ok = ok && pthread_attr_setstack(&attr, mem, stack) == 0 &&
         pthread_create(&t, &attr, &probe_thread, &gate) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) {
      munmap(mem, stack);
      break;
    }
    threads.emplace_back(t, mem);
  }
  pthread_mutex_lock(&gate.m);
  gate.go = true;
  pthread_cond_broadcast(&gate.cv);
  pthread_mutex_unlock(&gate.m);
  for (auto& [t, mem] : threads) {
    pthread_join(t, nullptr);
    munmap(mem, stack);
  }
  const int created = 1 + static_cast<int>(threads.size());
  // All created: n. Otherwise the process is at its limit: half of what fit, so that the
  // program keeps room for its own allocations (and libgomp for its threads' other needs).
  return created == n ? n : std::max(1, (created + 1) / 2);
}

// Probes counts above the largest one checked; returns min(n, what the probe created).
int checked(int n) {
  pthread_mutex_lock(&g_probe_lock);
  if (n > g_checked.load(std::memory_order_relaxed)) {
    const int k = probe(n);
    if (k > g_checked.load(std::memory_order_relaxed)) g_checked.store(k);
    n = std::min(n, k);
  }
  pthread_mutex_unlock(&g_probe_lock);
  return n;
}

void atfork_prepare() { pthread_mutex_lock(&g_probe_lock); }
void atfork_parent() { pthread_mutex_unlock(&g_probe_lock); }
void atfork_child() {
  pthread_mutex_unlock(&g_probe_lock);
  if (g_parallel.load(std::memory_order_relaxed)) {
    g_forked.store(true, std::memory_order_relaxed);
    g_count.store(1, std::memory_order_relaxed);
  }
}

struct RegisterAtfork {
  RegisterAtfork() { pthread_atfork(&atfork_prepare, &atfork_parent, &atfork_child); }
} register_atfork;

int cpu_count() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(std::min(hw, 1u << 20)) : 1;
}

}  // namespace

int max_threads() {
  static const int bound = 4 * cpu_count();
  return bound;
}

int initial_num_threads(int* requested) {
  const int want = std::max(1, omp_get_max_threads());
  if (requested) *requested = want;
  return std::min(want, max_threads());
}

int get_num_threads() {
  int n = g_count.load(std::memory_order_relaxed);
  if (n == 0) {  // the first call: the count at import
    int expected = 0;
    g_count.compare_exchange_strong(expected, initial_num_threads());
    n = g_count.load(std::memory_order_relaxed);
  }
  return n;
}

int num_threads() {
  int n = get_num_threads();
  if (n > g_checked.load(std::memory_order_relaxed)) {
    const int k = checked(n);
    if (k < n) {  // the machine cannot run n threads now: lower the count (unless it changed)
      int expected = n;
      g_count.compare_exchange_strong(expected, k);
      n = k;
    }
  }
  if (n > 1 && !g_parallel.load(std::memory_order_relaxed))
    g_parallel.store(true, std::memory_order_relaxed);
  return n;
}

int set_num_threads(int n, ThreadLimit* why) {
  ThreadLimit limit = ThreadLimit::none;
  n = std::max(1, n);
  if (g_forked.load(std::memory_order_relaxed)) {
    if (n > 1) limit = ThreadLimit::forked;
    n = 1;
  } else {
    if (n > max_threads()) {
      n = max_threads();
      limit = ThreadLimit::bound;
    }
    const int k = checked(n);
    if (k < n) {
      n = k;
      limit = ThreadLimit::resources;
    }
  }
  g_count.store(n);
  if (why) *why = limit;
  return n;
}

bool in_forked_child() { return g_forked.load(std::memory_order_relaxed); }

}  // namespace dg
