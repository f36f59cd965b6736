#!/usr/bin/env bash
# The sanitizer run (CI's last step): deltagrad's C++ built with AddressSanitizer +
# UndefinedBehaviorSanitizer, the kernel tests run against it, then a leak check over repeated
# calls. Exits non-zero on any test failure, any sanitizer report, or any leak. About 6-8 min
# on 2 cores from scratch (build ~3 min, tests 2-3 min, the 30 s stress test and the fork
# tests about 1 min, leak checks under 1 min).
#
# Usage: dev/sanitize.sh [build-dir]   (default build/asan; reconfigure: delete it)
#   env: PYTHON (default python3), DG_SANITIZE_TESTS (the pytest arguments to run instead of
#        the kernel tests), DG_SANITIZE_JOBS (pytest processes sharing the tests, default the
#        CPU count, at most 4), DG_STRESS_SECONDS (the concurrency stress test's duration, default
#        30; 0: skip it), DG_LEAK_ITERS (leak-check calls per case, default 400),
#        DG_LEAK_ARGS (more arguments for dev/leak_check.py, e.g. "-k softmax")
#
# What it does, and why:
# * Build: cmake -DDG_SANITIZE=ON (CMakeLists.txt) puts -fsanitize=address,undefined
#   -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g on the _cpu and _simt modules and
#   their static libraries, at -O1 (RelWithDebInfo flags overridden), -DWITH_CUDA=OFF: nvcc's
#   host code is not instrumented, and _simt compiles the csrc/cuda kernels for the CPU anyway.
#   On a CPU without AVX-512 the AVX-512 kernels are left out (-DDG_CPU_AVX512=OFF): no test
#   could run them, and they were a third of the kernels' compile time (round 10).
# * The sanitized modules never replace the normal ones in python/deltagrad/: the .py files and
#   the sanitized .so files are copied into a temporary package that PYTHONPATH puts first.
# * Python is not instrumented, so the ASan runtime must be loaded first: LD_PRELOAD names the
#   libasan the module links (read from ldd), and libstdc++ too: libasan resolves the real
#   __cxa_throw when it starts, and python3 does not link libstdc++; without it the first C++
#   exception aborts in ASan's __cxa_throw interceptor (CHECK failed: real___cxa_throw != 0).
#   The interpreter is run by its real path (sys.executable), not through a shell shim (pyenv),
#   whose bash would be checked too.
# * ASan reports go to files (log_path) in a temporary directory; any file there (a report or a
#   warning) fails the run and is printed. UBSan (GCC's) writes to stderr whatever its log_path,
#   so pytest captures at the Python level only (--capture=sys), leaving fd 2 to the reports.
#   ASan stops at the first error (halt_on_error, exit status 86) and UBSan too (the build is
#   non-recovering; exit status 87).
# * The SIMT emulator runs a block's threads as ucontext fibers. csrc/simt/simt.cpp annotates
#   every switch (__sanitizer_start/finish_switch_fiber) and bypasses ASan's swapcontext
#   interceptor, which wipes the shadow of the fiber's whole stack around each switch (so a
#   stack overflow in a kernel after its first __syncthreads went unseen) and, for a Fault
#   thrown in a fiber, warns "ASan is ignoring requested __asan_handle_no_return" and can report
#   false positives afterwards. With the annotations no ASan option needs to be relaxed: the
#   tests even run with detect_stack_use_after_return=1 (fake stacks are per fiber).
# * The vector kernels: plain loadu/storeu intrinsics are instrumented, masked and non-temporal
#   ones (tails, streamed outputs) are builtins ASan does not see; in this build csrc/cpu/simd.h
#   checks their first and last lane (asan_check_lanes). Every ISA runs (the tests' isa
#   fixture caps the dispatch at avx512, avx2 and generic in turn).
# * OpenMP (libgomp) needs nothing: its threads are created through ASan's pthread_create.
# * torch loads and runs under ASan (LD_PRELOAD as above), so the torch-peer tests run too.
# * Leaks, two ways (dev/leak_check.py): (1) every op, its error paths (exceptions thrown in
#   C++ through pybind11), the SIMT ops and faults, Tensor backward and optimizer steps, each
#   called 400 times after a warm-up; a case fails when the number of live Python objects
#   (sys.getallocatedblocks) or the RSS grows. ASan's quarantine is off there, so freed memory
#   is reused and the RSS is flat. (2) LeakSanitizer at exit, each case called 3 times, with
#   PYTHONMALLOC=malloc (with pymalloc, LSan cannot see the pointers held in Python objects and
#   reports nonsense); CPython and numpy keep some allocations until exit by design, so only
#   the leaks whose allocation stack reaches deltagrad's code (csrc/, _cpu, _simt) fail, and
#   dev/lsan.supp lists the ones of ours that are deliberate.
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
bdir=${1:-build/asan}
py=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')

# ---- build -----------------------------------------------------------------------------------
if [ ! -f "$bdir/build.ninja" ] && [ ! -f "$bdir/Makefile" ]; then
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  avx512=OFF; grep -qw avx512f /proc/cpuinfo 2>/dev/null && avx512=ON
  cmake -S . -B "$bdir" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DDG_SANITIZE=ON -DWITH_CUDA=OFF \
    -DDG_CPU_AVX512=$avx512 \
    -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)"
fi
grep -q '^DG_SANITIZE:BOOL=ON' "$bdir/CMakeCache.txt" || {
  echo "sanitize.sh: $bdir is not a DG_SANITIZE=ON build directory" >&2; exit 2; }
cmake --build "$bdir" -j 2
echo "sanitize.sh: built in $((SECONDS - t_start)) s"

# ---- a private package with the sanitized modules ------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/pkg" "$tmp/pkg/deltagrad" "$tmp/logs" "$tmp/lsan"
# the package's Python files, subpackages (backends/, experiments/) included
(cd python && find deltagrad -name '*.py' -exec cp --parents {} "$tmp/pkg/" \;)
cp "$bdir"/_cpu*.so "$bdir"/_simt*.so "$tmp/pkg/deltagrad/"
mod=$(ls "$tmp"/pkg/deltagrad/_cpu*.so)
asan_rt=$(ldd "$mod" | awk '/libasan|libclang_rt.asan/ {print $3; exit}')
cxx_rt=$(ldd "$mod" | awk '/libstdc\+\+/ {print $3; exit}')
[ -n "$asan_rt" ] || { echo "sanitize.sh: $mod does not link an ASan runtime" >&2; exit 2; }

export LD_PRELOAD="$asan_rt${cxx_rt:+ $cxx_rt}"
export PYTHONPATH="$tmp/pkg"
export PYTHONDONTWRITEBYTECODE=1
asan_common="allocator_may_return_null=1:halt_on_error=1:abort_on_error=0:exitcode=86:log_path=$tmp/logs/asan:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:report_error_type=1:exitcode=87:log_path=$tmp/logs/ubsan"
export ASAN_OPTIONS="$asan_common:detect_leaks=0"  # each step below sets its own
export LSAN_OPTIONS="suppressions=$PWD/dev/lsan.supp:print_suppressions=0"

# Any file in the log directory is a sanitizer report (or warning): print it and fail.
check_logs() {
  local f found=0
  for f in "$tmp"/logs/*; do
    [ -e "$f" ] || continue
    # allocator_may_return_null=1: a huge allocation the tests expect to fail (numpy then raises
    # MemoryError, tests/test_bad_input.py "sizes") only logs this warning; anything else fails
    if ! grep -qv -e 'WARNING: AddressSanitizer failed to allocate 0x' -e '^$' "$f"; then
      echo "sanitize.sh: expected: $(grep -c 'failed to allocate' "$f") huge allocation(s) refused ($1)"
      rm -f "$f"
      continue
    fi
    found=1
    echo "==== sanitizer report: $(basename "$f") ($1)" >&2
    cat "$f" >&2
  done
  if [ "$found" = 1 ]; then
    echo "sanitize.sh: FAILED: sanitizer report(s) during $1" >&2
    exit 1
  fi
}

status=0
run() {  # run STEP-NAME CMD...: runs, then fails the script on a non-zero exit or a report
  local rc=0
  echo "---- $1"
  "${@:2}" || rc=$?
  check_logs "$1"
  if [ "$rc" != 0 ]; then
    echo "sanitize.sh: FAILED: $1 exited with $rc (86: ASan, 87: UBSan, see above)" >&2
    status=1
  fi
}

ASAN_OPTIONS="$asan_common:detect_leaks=0" "$py" -c '
import sys, deltagrad, deltagrad._cpu as c, deltagrad._simt as s
assert c.__file__.startswith(sys.argv[1]) and s.__file__.startswith(sys.argv[1]), c.__file__
print("sanitize.sh: sanitized modules:", c.__file__, s.__file__, "ISA", c.detected_isa())
' "$tmp/pkg"

# ---- the kernel tests ------------------------------------------------------------------------
# Every CPU case of the kernel tests; on the emulator ("simt" marker), the tests of the emulator
# itself and the property and bad-input tests, which draw every op with odd shapes, strided and
# misaligned layouts and extreme values. The emulator's op-by-op cases of the op test files
# (about 1,500, 25 s in the normal build) run in the normal test run only: under ASan they
# would cost about 7 minutes, more than the rest of this script.
if [ -n "${DG_SANITIZE_TESTS:-}" ]; then
  read -r -a tests <<<"$DG_SANITIZE_TESTS"
  read -r -a simt_tests <<<"${DG_SANITIZE_SIMT_TESTS:-}"
else
  # Left out: test_sizes_past_int32_via_zero_stride_views, a product with k = 2^31 + 3 of two
  # views with row stride 0 (every read is in the same row, so ASan has nothing to see there
  # that the normal run's exact result does not check): 333 s at -O1 under ASan on a Zen 1 in
  # its first form (one column), 6 s in the normal build now, where it runs.
  tests=(tests/test_matmul.py tests/test_ops_*.py tests/test_simt.py tests/test_tensor.py
         tests/test_functional.py tests/test_bad_input.py tests/test_properties.py
         tests/test_isa_symbols.py tests/test_lstm_kernel_r43.py tests/test_optim_kernels_r43.py
         tests/test_ctc_kernel_r43.py tests/test_gather_kernel_r43.py tests/test_pool_r44.py
         tests/test_cdist_kernel_r44.py tests/test_grid_sample_kernel_r44.py
         tests/test_f64_vecmath_r44.py tests/test_pool3d_r45.py tests/test_f64_vecmath_r45.py
         tests/test_linalg_solve_r45.py
         --deselect tests/test_bad_input.py::test_sizes_past_int32_via_zero_stride_views)
  simt_tests=(tests/test_simt.py tests/test_simt_tc.py tests/test_bad_input.py
              tests/test_properties.py)
fi
# The tests run as DG_SANITIZE_JOBS pytest processes at once (default: the CPU count, at most
# 4): most of the time under ASan is one Python thread, which leaves the second core of a 2-core
# machine mostly idle. They share one collection through a counter file (tests/conftest.py
# --share): each runs the next test no other has taken, so they finish together (a fixed split
# by a hash of the ids, --shard, had one process 680 s and the other 520 s on a Zen 1).
# OpenMP waits passively there: two processes' spinning workers on 2 cores would take turns.
shards=${DG_SANITIZE_JOBS:-$(nproc)}
[ "$shards" -le 4 ] || shards=4
n_shared=0
sharded() {  # sharded PYTEST-ARGS...: $shards pytest processes sharing the tests; outputs in order
  local i rc=0 pids=() tickets="$tmp/tickets$((n_shared += 1))"
  for ((i = 0; i < shards; ++i)); do
    OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$py" -m pytest -q -p no:cacheprovider \
      --capture=sys --share "$tickets" "$@" >"$tmp/shard$i.log" 2>&1 &
    pids+=($!)
  done
  for ((i = 0; i < shards; ++i)); do
    wait "${pids[$i]}" || rc=$?
    echo "-- process $i/$shards"
    cat "$tmp/shard$i.log"
  done
  return "$rc"
}
t0=$SECONDS
ASAN_OPTIONS="$asan_common:detect_leaks=0" \
  run "pytest ${tests[*]} (cpu)" sharded -m "not simt" "${tests[@]}"
if [ "${#simt_tests[@]}" -gt 0 ]; then
  ASAN_OPTIONS="$asan_common:detect_leaks=0" \
    run "pytest ${simt_tests[*]} (simt)" sharded -m simt "${simt_tests[@]}"
fi
echo "sanitize.sh: tests in $((SECONDS - t0)) s"

# ---- threads and fork (issue 16) -------------------------------------------------------------
# The concurrency stress test (8 threads: 4 training MLPs, 2 evaluating under no_grad, one
# rewriting a label array while another runs losses on it) for DG_STRESS_SECONDS (default 30;
# 0 skips this step), the deterministic label-race test and the fork tests. Each runs its risky
# part in a subprocess, which inherits LD_PRELOAD and ASAN_OPTIONS (reports go to the log
# directory, checked as above) and writes UBSan's reports to the stderr the test prints.
stress_s=${DG_STRESS_SECONDS:-30}
if [ "$stress_s" != 0 ]; then
  t0=$SECONDS
  DG_STRESS_SECONDS=$stress_s ASAN_OPTIONS="$asan_common:detect_leaks=0" \
    run "stress ${stress_s} s, label race, fork" "$py" -m pytest -q -p no:cacheprovider \
    --capture=sys tests/test_concurrency.py::test_stress_training_eval_and_label_writers \
    tests/test_label_race.py tests/test_fork.py
  echo "sanitize.sh: threads and fork in $((SECONDS - t0)) s"
fi

# ---- leaks: object count and RSS over repeated calls ----------------------------------------
t0=$SECONDS
ASAN_OPTIONS="$asan_common:detect_leaks=0:quarantine_size_mb=0:detect_stack_use_after_return=0" \
  run "leak_check.py (objects, RSS)" "$py" dev/leak_check.py --iters "${DG_LEAK_ITERS:-400}" ${DG_LEAK_ARGS:-}
echo "sanitize.sh: leak check in $((SECONDS - t0)) s"

# ---- leaks: LeakSanitizer at exit ------------------------------------------------------------
# Its log goes to its own directory: leaks are expected there (the interpreter's), and they are
# sorted by dev/leak_check.py --lsan-report. Exit status 86 is ASan's (exitcode=86), for leaks
# or any other error: the log says which.
t0=$SECONDS
lsan_rc=0
echo "---- leak_check.py under LeakSanitizer"
PYTHONMALLOC=malloc ASAN_OPTIONS="$asan_common:detect_leaks=1:log_path=$tmp/lsan/leaks" \
  "$py" dev/leak_check.py --calls 3 ${DG_LEAK_ARGS:-} || lsan_rc=$?
check_logs "the LeakSanitizer run"  # UBSan
if compgen -G "$tmp/lsan/leaks*" >/dev/null; then
  if grep -q "ERROR: AddressSanitizer" "$tmp"/lsan/leaks*; then
    cat "$tmp"/lsan/leaks* >&2
    echo "sanitize.sh: FAILED: AddressSanitizer report during the LeakSanitizer run" >&2
    status=1
  elif [ "$lsan_rc" = 86 ]; then
    lsan_rc=0  # the leaks were reported: sort them
  fi
  "$py" dev/leak_check.py --lsan-report "$tmp"/lsan/leaks* || status=1
else
  echo "leak_check: LeakSanitizer: no leaks at all"
fi
if [ "$lsan_rc" != 0 ]; then
  echo "sanitize.sh: FAILED: leak_check.py under LeakSanitizer exited with $lsan_rc" >&2
  status=1
fi
echo "sanitize.sh: LeakSanitizer run in $((SECONDS - t0)) s"

if [ "$status" != 0 ]; then
  echo "sanitize.sh: FAILED ($((SECONDS - t_start)) s)" >&2
  exit 1
fi
echo "sanitize.sh: clean: no sanitizer report, no leak ($((SECONDS - t_start)) s)"
