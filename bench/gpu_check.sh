#!/usr/bin/env bash
# The GPU check, for a lent machine with no package registry: uses only what is installed (each
# tool detected and reported; a missing optional one skips its step with a line saying so),
# builds deltagrad for one architecture (sm_90 by default) with pip --no-build-isolation
# --no-deps into a venv that sees the system's packages, runs the CUDA tests from outside the
# source tree, compute-sanitizer on a subset, the SASS check and the GPU benchmarks. Results go
# to $OUT step by step (gpu_check.json rewritten after every step, summary.txt, one log per
# step), so a run cut short still returns what it measured. One run fits in BUDGET_S seconds.
#
#   bench/gpu_check.sh                 # on the GPU machine: OUT=./gpu_check_out
#   OFFLINE=1 NO_GPU_OK=1 bench/gpu_check.sh   # the rehearsal (dev/gpu_check_rehearsal.sh)
#
# Environment: OUT (results, default ./gpu_check_out), WORK (venv, build, test copy; default a
# temporary directory), PYTHON (default python3), CUDA_ARCH (default 90-real), BUDGET_S (default
# 540: steps get what is left), QUICK=1 (fewer benchmark sizes), OFFLINE=1 (pip --no-index),
# NO_GPU_OK=1 (no GPU is not a failure: the GPU steps skip), STRICT=1 (exit 1 on any failed step,
# the default). Exit status: 0 when no step failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
src=$(pwd)
t_start=$SECONDS
OUT=${OUT:-$src/gpu_check_out}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
BUDGET_S=${BUDGET_S:-540}
CUDA_ARCH=${CUDA_ARCH:-90-real}
sys_py=${PYTHON:-python3}
json="$OUT/gpu_check.json"
summary="$OUT/summary.txt"
failed=0
: >"$summary"

# ---- results: the JSON is rewritten after every step -------------------------------------------
"$sys_py" - "$json" "$CUDA_ARCH" <<'EOF'
import datetime, json, platform, sys
json.dump({"started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "host": platform.node(), "cuda_arch": sys.argv[2], "tools": {}, "steps": [],
           "finished": False}, open(sys.argv[1], "w"), indent=1)
EOF

# jset KEY VALUE: tools[KEY] = VALUE (a string); jstep NAME STATUS SECONDS NOTE: append a step.
jset() {
  "$sys_py" - "$json" "$@" <<'EOF'
import json, sys
p, k, v = sys.argv[1:4]
d = json.load(open(p)); d["tools"][k] = v; json.dump(d, open(p, "w"), indent=1)
EOF
}
jstep() {
  "$sys_py" - "$json" "$@" <<'EOF'
import json, sys
p, name, status, secs, note = sys.argv[1:6]
d = json.load(open(p))
d["steps"].append({"name": name, "status": status, "seconds": int(secs), "note": note})
json.dump(d, open(p, "w"), indent=1)
EOF
}
say() { echo "gpu_check: $*" | tee -a "$summary"; }
left() { echo $((BUDGET_S - (SECONDS - t_start))); }

# step NAME CMD...: runs CMD with what is left of the budget, logs to $OUT/NAME.log, records it.
step() {
  local name=$1 t0=$SECONDS rc lim
  shift
  lim=$(left)
  if [ "$lim" -lt 10 ]; then
    skip "$name" "the time budget (BUDGET_S=$BUDGET_S) is spent"
    return 1
  fi
  local logf="$OUT/$(echo "$name" | tr ' /()' '_').log"
  echo "=== $name: $* (limit ${lim}s)" >"$logf"
  timeout -k 10 "$lim" "$@" >>"$logf" 2>&1
  rc=$?
  tail -n 5 "$logf" | sed 's/^/    /'
  if [ "$rc" -eq 0 ]; then
    say "PASS  $name ($((SECONDS - t0)) s)"
    jstep "$name" pass $((SECONDS - t0)) ""
  else
    local why="exit $rc"
    [ "$rc" -eq 124 ] && why="timed out after ${lim}s"
    say "FAIL  $name ($((SECONDS - t0)) s, $why; log: $(basename "$logf"))"
    jstep "$name" fail $((SECONDS - t0)) "$why"
    failed=1
  fi
  return "$rc"
}
skip() {
  say "SKIP  $1: $2"
  jstep "$1" skip 0 "$2"
}

# ---- tools ----------------------------------------------------------------------------------------
have_py() { "$1" -c "import $2" >/dev/null 2>&1; }
pyver() { "$1" -c "import $2 as m; print(getattr(m, '__version__', 'present'))" 2>/dev/null; }

say "python: $("$sys_py" --version 2>&1) ($(command -v "$sys_py"))"
jset python "$("$sys_py" --version 2>&1)"

gpu=""
if command -v nvidia-smi >/dev/null 2>&1 &&
  gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null) &&
  [ -n "$gpu" ]; then
  say "GPU: $gpu"
else
  gpu=""
  say "no GPU: nvidia-smi is missing or reports no device; the GPU steps skip"
fi
jset gpu "${gpu:-none}"

# nvcc: CUDACXX, then PATH, CUDA_HOME, /usr/local/cuda.
nvcc=${CUDACXX:-}
if [ -z "$nvcc" ]; then
  for c in nvcc "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
    if command -v "$c" >/dev/null 2>&1; then
      nvcc=$(command -v "$c")
      break
    fi
  done
fi
if [ -n "$nvcc" ]; then
  export CUDACXX=$nvcc
  export PATH="$(dirname "$nvcc"):$PATH"
  say "nvcc: $nvcc ($("$nvcc" --version | tail -1))"
else
  say "no nvcc (set CUDACXX): the build goes on without the CUDA module"
fi
jset nvcc "${nvcc:-none}"
cuda_bin=$(dirname "${nvcc:-/usr/local/cuda/bin/nvcc}")

# ---- the venv: system packages visible; without ensurepip, the system pip drives it --------------
venv="$WORK/venv"
pip_flags=(--no-deps --no-build-isolation --disable-pip-version-check -v)
[ -n "${OFFLINE:-}" ] && pip_flags+=(--no-index)
py=""
if "$sys_py" -m venv --system-site-packages "$venv" >"$OUT/venv.log" 2>&1; then
  py="$venv/bin/python"
  say "venv: $venv (--system-site-packages)"
elif "$sys_py" -m venv --without-pip --system-site-packages "$venv" >>"$OUT/venv.log" 2>&1 &&
  "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  py="$venv/bin/python"
  say "venv: $venv (--without-pip --system-site-packages; the system's pip installs into it)"
else
  py=$sys_py
  if [ -n "$("$sys_py" -c 'import sysconfig, os; p = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"); print(p if os.path.exists(p) else "")')" ]; then
    pip_flags+=(--break-system-packages)
  fi
  say "no venv ($(tail -1 "$OUT/venv.log")): installing into $sys_py ${pip_flags[*]}"
fi
# Run from inside a venv (CI's): a venv made from it sees the base interpreter's packages, not
# the venv's; a .pth file adds them (after the new venv's own, so the build installed here wins).
if [ "$py" != "$sys_py" ]; then
  parent=$("$sys_py" -c 'import sys, sysconfig; print(sysconfig.get_path("purelib") if sys.prefix != sys.base_prefix else "")')
  if [ -n "$parent" ]; then
    echo "$parent" >"$("$py" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/_gpu_check_parent.pth"
    say "venv: also sees the packages of the venv it was made from ($parent)"
  fi
fi
jset venv "$py"

declare -A ver=()
for mod in pip numpy pybind11 scikit_build_core cmake ninja pytest hypothesis pytest_benchmark \
  cupy torch; do
  v=$(pyver "$py" "$mod")
  ver[$mod]=${v:-}
  jset "py:$mod" "${v:-missing}"
done
cmake_bin=$(command -v cmake || true)
[ -z "$cmake_bin" ] && [ -x "$venv/bin/cmake" ] && cmake_bin=$venv/bin/cmake
ninja_bin=$(command -v ninja || true)
sanitizer=${COMPUTE_SANITIZER:-}
[ -z "$sanitizer" ] && sanitizer=$(command -v compute-sanitizer || true)
[ -z "$sanitizer" ] && [ -x "$cuda_bin/compute-sanitizer" ] && sanitizer=$cuda_bin/compute-sanitizer
cuobjdump=$(command -v cuobjdump || true)
[ -z "$cuobjdump" ] && [ -x "$cuda_bin/cuobjdump" ] && cuobjdump=$cuda_bin/cuobjdump
if [ -z "$cuobjdump" ]; then  # the nvidia-cuda-cuobjdump wheel
  cuobjdump=$("$py" -c 'import nvidia, os, glob; print(next(iter(sorted(glob.glob(os.path.join(list(nvidia.__path__)[0], "*", "bin", "cuobjdump")))), ""))' 2>/dev/null)
fi
for t in cmake_bin ninja_bin sanitizer cuobjdump; do jset "$t" "${!t:-none}"; done
say "tools: cmake=${cmake_bin:-none} ninja=${ninja_bin:-none (make is used)}" \
  "compute-sanitizer=${sanitizer:-none} cuobjdump=${cuobjdump:-none}"
say "python packages: $(for k in "${!ver[@]}"; do printf '%s=%s ' "$k" "${ver[$k]:-missing}"; done)"

# ---- build ------------------------------------------------------------------------------------------
built=""
if [ -z "${ver[scikit_build_core]}" ] || [ -z "${ver[pybind11]}" ]; then
  skip build "scikit-build-core or pybind11 is not installed (pip --no-build-isolation needs both)"
elif [ -z "$cmake_bin" ]; then
  skip build "no cmake (neither on PATH nor the cmake pip module): scikit-build-core needs cmake" \
    ">= 3.18; the build and every step that needs it are skipped"
else
  cuda_def=-Ccmake.define.WITH_CUDA=OFF
  [ -n "$nvcc" ] && cuda_def=-Ccmake.define.WITH_CUDA=ON
  export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
  # A fixed build dir: a second run on the same machine rebuilds incrementally.
  export PATH="$(dirname "$cmake_bin"):$PATH"
  if step build "$py" -m pip install "${pip_flags[@]}" \
    "$src" "$cuda_def" "-Ccmake.define.CMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH" \
    "-Cbuild-dir=$WORK/build" -Ccmake.build-type=Release; then
    built=1
  fi
fi

# ---- the test tree, outside the source tree (so the installed package is imported) --------------
run="$WORK/run"
mkdir -p "$run"
for p in tests examples pyproject.toml README.md; do
  [ -e "$src/$p" ] && cp -r "$src/$p" "$run/"
done

if [ -n "$built" ]; then
  step info bash -c "cd '$run' && '$py' -c 'import deltagrad as dg, json; i = dg.info(); \
print(json.dumps(i, indent=1, default=str)); assert i[\"cuda_compiled\"] or not \"$nvcc\", i'"
  cp "$OUT/info.log" "$OUT/info.json.txt" 2>/dev/null
fi

# pytest without its optional plugins: addopts from the command line (pyproject's has
# --benchmark-disable, an error without pytest-benchmark); test_properties skips without hypothesis.
pytest_args=(-p no:cacheprovider -o "addopts=-ra --strict-markers" -q)
if [ -z "${ver[pytest_benchmark]}" ]; then
  pytest_args+=(-p no:benchmark)
  say "pytest-benchmark missing: pyproject's addopts overridden on the command line"
fi
if [ -z "${ver[hypothesis]}" ]; then
  pytest_args+=(-p no:hypothesispytest)  # its plugin, where the package is only half there
  say "hypothesis missing: tests/test_properties.py is skipped"
fi
# pytest_cmd ARGS...: the command line (for bash -c: `timeout` runs programs, not functions).
pytest_cmd() { echo "cd ${run@Q} && ${py@Q} -m pytest ${pytest_args[*]@Q} $*"; }

if [ -z "$built" ]; then
  skip "tests (collect)" "the build did not succeed"
elif [ -z "${ver[pytest]}" ]; then
  skip "tests (collect)" "pytest is not installed: no test step runs"
else
  step "tests (collect)" bash -c "$(pytest_cmd --collect-only tests)"
  if [ -z "$gpu" ]; then
    skip "tests (cuda)" "no GPU"
  elif [ -z "${ver[cupy]}" ]; then
    skip "tests (cuda)" "cupy is not installed"
  else
    step "tests (cuda)" bash -c "$(pytest_cmd tests -m cuda -rs)"
  fi
fi

if [ -n "$built" ] && [ -n "$cuobjdump" ] && [ -n "$nvcc" ]; then
  step "sass" env CUOBJDUMP="$cuobjdump" bash -c "$(pytest_cmd tests/test_sass.py -rs -v)"
else
  skip sass "no cuobjdump, no CUDA build or no build"
fi

if [ -z "$gpu" ] || [ -z "$built" ]; then
  skip compute-sanitizer "no GPU"
elif [ -z "$sanitizer" ]; then
  skip compute-sanitizer "compute-sanitizer not found (set COMPUTE_SANITIZER=/path/to/it)"
elif [ -z "${ver[pytest]}" ] || [ -z "${ver[cupy]}" ]; then
  skip compute-sanitizer "pytest or cupy is not installed"
else
  # A subset, small shapes (the tools slow kernels 10-100x): the ops-vs-emulator test.
  for tool in memcheck racecheck synccheck; do
    step "compute-sanitizer $tool" env DG_SANITIZER=1 DG_CUDA_SYNC=1 "$sanitizer" --tool "$tool" \
      --error-exitcode 1 --print-limit 20 \
      bash -c "$(pytest_cmd tests/test_cuda.py -m cuda -x -k "'match_emulator and float32'")"
  done
fi

if [ -z "$gpu" ] || [ -z "$built" ]; then
  skip benchmarks "no GPU"
elif [ -z "${ver[cupy]}" ]; then
  skip benchmarks "cupy is not installed (the peers are cuBLAS through cupy and torch)"
else
  [ -z "${ver[torch]}" ] && say "torch missing: the torch-peer benchmarks are skipped"
  bench_args=(--out "$OUT/bench_gpu.json" --budget-s "$(($(left) - 20))")
  [ -n "${QUICK:-}" ] && bench_args+=(--quick)
  step benchmarks bash -c "cd '$run' && '$py' '$src/bench/bench_gpu.py' ${bench_args[*]@Q}"
fi

"$sys_py" - "$json" "$((SECONDS - t_start))" "$failed" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d.update(finished=True, seconds=int(sys.argv[2]), failed=bool(int(sys.argv[3])))
json.dump(d, open(sys.argv[1], "w"), indent=1)
EOF
say "done in $((SECONDS - t_start)) s; results: $OUT (gpu_check.json, summary.txt, *.log)"
if [ -z "$gpu" ] && [ -z "${NO_GPU_OK:-}" ]; then
  say "no GPU (set NO_GPU_OK=1 for a rehearsal): exit 2"
  exit 2
fi
exit "$failed"
