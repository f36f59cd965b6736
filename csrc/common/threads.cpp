// A process-wide thread count, read by every parallel region as num_threads(dg::num_threads()):
// omp_set_num_threads would only affect the calling thread, and ops run on any Python thread.
#include "common/threads.h"

#include <omp.h>

#include <atomic>

namespace dg {
namespace {
std::atomic<int>& count() {
  static std::atomic<int> n{omp_get_max_threads() > 0 ? omp_get_max_threads() : 1};
  return n;
}
}  // namespace

int num_threads() { return count().load(std::memory_order_relaxed); }
void set_num_threads(int n) { count().store(n < 1 ? 1 : n); }

}  // namespace dg
