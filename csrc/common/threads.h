// The number of OpenMP threads deltagrad's kernels use (dg.set_num_threads), bounded by the
// machine, and what happens to it in a fork()ed child (docs/RELIABILITY.md, "Threads" / "Fork").
#pragma once

namespace dg {

// The upper bound of the thread count: 4 x the CPUs this process may run on (its affinity mask;
// std::thread::hardware_concurrency when the mask cannot be read), at least 4. Oversubscribing
// beyond that only slows the kernels down, and an absurd count (OMP_NUM_THREADS=200000) would
// make libgomp try to create every thread and end the process when it cannot.
int max_threads();

// The count every parallel region uses. In a child forked after a parallel region ran, 1.
int num_threads();

// The count, for dg.get_num_threads: the same value, but not counted as a parallel region.
int get_num_threads();

// Why set_num_threads set less than asked.
enum class ThreadLimit { none, bound, resources, forked };

// Sets the count to n (1 <= n <= max_threads(), checked by the binding), or to less: when the
// process cannot create n threads now, to half of what it could (each count above the largest
// one checked so far is tried first by creating and joining that many threads: libgomp calls
// exit() when it cannot create a thread), and to 1 in a forked child (see num_threads). The
// count at import is checked the same way by the first parallel region. Returns the count
// set; *why says why it is less than n.
int set_num_threads(int n, ThreadLimit* why = nullptr);

// The count at import: OMP_NUM_THREADS's value (or the CPU count), clamped to max_threads();
// *requested is the count OpenMP asked for (it was clamped when it differs from the result).
int initial_num_threads(int* requested = nullptr);

// True in a process forked (without exec) after a parallel region ran in its parent: libgomp's
// thread pool did not survive the fork and a parallel region with more than one thread would
// wait forever for it, so the count is 1 there and stays 1.
bool in_forked_child();

}  // namespace dg
