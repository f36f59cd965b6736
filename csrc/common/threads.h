// The number of OpenMP threads deltagrad's kernels use (dg.set_num_threads), bounded by the
// machine, and what happens to it in a fork()ed child (docs/RELIABILITY.md, "Threads" / "Fork").
#pragma once

#include <vector>

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

// Where the team of the next parallel region runs (call it on the thread about to start a region
// of nt threads, right before the region). libgomp's workers wait for the next region by spinning
// without yielding; on a virtual machine a worker woken onto its master's CPU then waits behind
// the master (and the master behind it at the join) for a whole time slice: 3.5-8 ms for a
// 2-thread region of 0.2 ms (docs/BENCHMARKS.md, round 19, "The wake stall"). So each worker is
// pinned to one CPU of its master's mask, in order, skipping the CPU the master ran on when it
// first started a region; a master that is later found on a worker's CPU moves itself off it
// (its own mask is left as it was). Only where the thread count (set_num_threads) equals the
// number of CPUs in the master's mask: not in a process that shares the machine by running fewer
// threads than CPUs, nor where OMP_PROC_BIND / OMP_PLACES / GOMP_CPU_AFFINITY place the threads,
// nor with DG_PIN_THREADS=0. A team of fewer threads ends libgomp's surplus workers (their
// successors are created unpinned): that is tracked, and the next larger team pins them.
void place_team(int nt);

// Pinning on or off (from the environment at the first region; set_pin_threads(false) unpins the
// calling thread's workers at its next region).
bool pin_threads();
void set_pin_threads(bool on);

// The CPU each worker of the calling thread's team is pinned to (index 0, the master: -1), as
// place_team left it; empty when none is pinned.
std::vector<int> team_cpus();

// For the tests: place_team(nt), then a region of nt threads; each thread's mask (its CPUs).
std::vector<std::vector<int>> team_masks(int nt);

}  // namespace dg
