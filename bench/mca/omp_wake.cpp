// The wake stall of 2-thread OpenMP regions after an idle spell (round 19, docs/BENCHMARKS.md).
// Each round sleeps, then runs `calls` regions in which both threads spin for 170 us, and prints
// when each thread started and ended and on which CPU. With PIN=1 the worker is pinned to CPU 1
// and the master, when found on CPU 1 before a region, moves itself to CPU 0 (dg::place_team's
// scheme on 2 CPUs).
//
//   mkdir -p build && g++ -O2 -fopenmp bench/mca/omp_wake.cpp -o build/omp_wake
//   build/omp_wake [rounds=15] [settle_s=0.2] [calls=3]; PIN=1 build/omp_wake ...
#include <omp.h>
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

static double now_us() {
  using namespace std::chrono;
  return duration<double, std::micro>(steady_clock::now().time_since_epoch()).count();
}

static volatile double sink;
static void spin_for(double us) {
  const double t0 = now_us();
  double x = 1.0;
  while (now_us() - t0 < us)
    for (int i = 0; i < 100; ++i) x = x * 1.0000001 + 1e-9;
  sink = x;
}

static void set_cpus(int a, int b) {  // this thread's mask: {a} or {a, b}
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(a, &set);
  if (b >= 0) CPU_SET(b, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 15;
  const double settle = argc > 2 ? std::atof(argv[2]) : 0.2;
  const int calls = argc > 3 ? std::atoi(argv[3]) : 3;
  const bool pin = std::getenv("PIN") && std::atoi(std::getenv("PIN"));
#pragma omp parallel num_threads(2)
  if (pin && omp_get_thread_num() == 1) set_cpus(1, -1);
  for (int r = 0; r < rounds; ++r) {
    std::this_thread::sleep_for(std::chrono::duration<double>(settle));
    for (int c = 0; c < calls; ++c) {
      const double t0 = now_us();
      int master = sched_getcpu();
      if (pin && master == 1) {  // move off the worker's CPU, keep the mask {0, 1}
        set_cpus(0, -1);
        set_cpus(0, 1);
        master = sched_getcpu();
      }
      double start[2] = {0, 0}, end[2] = {0, 0};
      int cpu[2] = {-1, -1};
#pragma omp parallel num_threads(2)
      {
        const int t = omp_get_thread_num();
        start[t] = now_us() - t0;
        cpu[t] = sched_getcpu();
        spin_for(170);
        end[t] = now_us() - t0;
      }
      std::printf(
          "round %2d call %d total %6.0f us | master cpu %d: %4.0f-%4.0f | worker cpu %d: "
          "%4.0f-%4.0f\n",
          r, c, now_us() - t0, cpu[0], start[0], end[0], cpu[1], start[1], end[1]);
    }
  }
}
