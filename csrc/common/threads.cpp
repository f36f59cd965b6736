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
#include <cstring>
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

// Thread placement (place_team). 1: pin, 0: not; from the environment at the first region.
int pin_from_env() {
  if (const char* v = std::getenv("DG_PIN_THREADS"); v && *v) return std::strcmp(v, "0") != 0;
  for (const char* var : {"OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY"})
    if (const char* v = std::getenv(var); v && *v) return 0;  // OpenMP places the threads
  return 1;
}
std::atomic<int> g_pin{-1};  // -1: not read yet

// The team of the thread that starts regions: libgomp keeps one pool of workers per such thread.
struct Team {
  bool init = false;
  cpu_set_t allowed;      // the master's mask when first seen: where its workers may be pinned
  std::vector<int> cpus;  // cpus[i]: worker i's CPU (cpus[0] = -1, the master's slot)
  int pinned = 1;         // workers [1, pinned) are pinned to cpus[i]
};
thread_local Team t_team;

void set_self_affinity(const cpu_set_t& set) { sched_setaffinity(0, sizeof(set), &set); }

// The CPUs of the calling thread's mask, ascending (empty when it cannot be read).
std::vector<int> own_cpus(cpu_set_t* set) {
  std::vector<int> cpus;
  CPU_ZERO(set);
  if (sched_getaffinity(0, sizeof(*set), set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, set)) cpus.push_back(c);
  return cpus;
}

// Runs f(i) on worker i of a team of nt (the master does nothing), for i in [from, nt).
template <class F>
void on_workers(int nt, int from, F&& f) {
#pragma omp parallel num_threads(nt)
  {
    const int i = omp_get_thread_num();
    if (i >= from && i > 0) f(i);
  }
}

}  // namespace

bool pin_threads() {
  int on = g_pin.load(std::memory_order_relaxed);
  if (on < 0) {
    int expected = -1;
    g_pin.compare_exchange_strong(expected, pin_from_env());
    on = g_pin.load(std::memory_order_relaxed);
  }
  return on != 0;
}

void set_pin_threads(bool on) { g_pin.store(on ? 1 : 0); }

void place_team(int nt) {
  if (nt <= 1 || omp_in_parallel()) return;
  Team& t = t_team;
  if (nt < t.pinned) t.pinned = nt;  // this region ends workers [nt, pinned)
  if (!t.init && pin_threads()) {
    t.init = true;
    const std::vector<int> mine = own_cpus(&t.allowed);
    if (!mine.empty()) {
      const int here = sched_getcpu();
      t.cpus.push_back(-1);
      for (int c : mine)
        if (c != here) t.cpus.push_back(c);
    }
  }
  // Pinned only where the thread count fills the master's mask: a process given fewer threads
  // than CPUs shares the machine (MPI ranks, a user's own threads), and pinned workers of two
  // such processes would pile onto the same CPUs. More threads than CPUs: the scheduler's.
  const int count = get_num_threads();
  if (!pin_threads() || count != static_cast<int>(t.cpus.size())) {
    if (t.pinned > 1) {  // unpin: the workers get the master's first mask back
      const cpu_set_t all = t.allowed;
      on_workers(t.pinned, 1, [&](int) { set_self_affinity(all); });
      t.pinned = 1;
    }
    return;
  }
  if (nt > count) return;
  if (t.pinned < nt) {
    const int from = t.pinned;
    std::atomic<int> size{nt};
    on_workers(nt, from, [&](int i) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(t.cpus[static_cast<size_t>(i)], &one);
      set_self_affinity(one);
      size.store(omp_get_num_threads(), std::memory_order_relaxed);
    });
    t.pinned = std::min(nt, size.load());
  }
  // The master on a worker's CPU: move it to one of its CPUs that no worker of this team has.
  const int here = sched_getcpu();
  for (int i = 1; i < t.pinned; ++i) {
    if (t.cpus[static_cast<size_t>(i)] != here) continue;
    cpu_set_t mine, away;
    if (sched_getaffinity(0, sizeof(mine), &mine) != 0) return;
    std::memcpy(&away, &mine, sizeof(mine));
    for (int j = 1; j < t.pinned; ++j) CPU_CLR(t.cpus[static_cast<size_t>(j)], &away);
    if (CPU_COUNT(&away) == 0) return;
    set_self_affinity(away);  // migrates now
    set_self_affinity(mine);  // and leaves the master's mask as it was
    return;
  }
}

std::vector<int> team_cpus() {
  const Team& t = t_team;
  if (t.pinned <= 1) return {};
  return std::vector<int>(t.cpus.begin(), t.cpus.begin() + t.pinned);
}

std::vector<std::vector<int>> team_masks(int nt) {
  nt = std::max(1, nt);
  std::vector<std::vector<int>> masks(static_cast<size_t>(nt));
  place_team(nt);
#pragma omp parallel num_threads(nt)
  {
    cpu_set_t set;
    masks[static_cast<size_t>(omp_get_thread_num())] = own_cpus(&set);
  }
  return masks;
}

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
