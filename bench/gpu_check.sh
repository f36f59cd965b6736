#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU: build deltagrad with CUDA, run the CUDA and
# emulator tests, run them again under compute-sanitizer (memcheck, racecheck, synccheck), and
# benchmark against cuBLAS / PyTorch. Writes bench/results/gpu-<date>.json (+ .log) and prints a
# summary table. Exit status: 0 when every step passed.
#
#   bench/gpu_check.sh            # everything
#   QUICK=1 bench/gpu_check.sh    # fewer benchmark sizes
#   SKIP_INSTALL=1 ...            # reuse the installed build
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

stamp=$(date -u +%Y%m%d-%H%M%S)
results=bench/results
mkdir -p "$results"
log="$results/gpu-$stamp.log"
json="$results/gpu-$stamp.json"
py=${PYTHON:-python3}
declare -a summary=()
failed=0

# Runs one named step, logging its output; a failure is recorded and the next step still runs.
step() {
  local name=$1
  shift
  echo "=== $name: $*" | tee -a "$log"
  local t0=$SECONDS
  if "$@" 2>&1 | tee -a "$log"; then
    summary+=("PASS  $name ($((SECONDS - t0)) s)")
  else
    summary+=("FAIL  $name ($((SECONDS - t0)) s)")
    failed=1
  fi
}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi >/dev/null 2>&1; then
  echo "gpu_check: no working nvidia-smi; this script needs a machine with an NVIDIA GPU" >&2
  exit 2
fi
step "gpu" nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
# _cuda links the CUDA 13 runtime statically: the driver must support CUDA 13 (R580 or newer),
# otherwise dg.info() reports "CUDA driver version is insufficient for CUDA runtime version".

sanitizer=${COMPUTE_SANITIZER:-}
if [ -z "$sanitizer" ]; then
  for c in compute-sanitizer "${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer"; do
    if command -v "$c" >/dev/null 2>&1; then sanitizer=$(command -v "$c"); break; fi
  done
fi

if [ -z "${SKIP_INSTALL:-}" ]; then
  # Build requirements first, so --no-build-isolation finds them; cupy matching CUDA 13.
  step "deps" "$py" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" "cmake>=3.18" \
    ninja numpy pytest hypothesis pytest-benchmark "cupy-cuda13x"
  # torch is the peer of the fused-op and MLP benchmarks (skipped when it cannot be installed).
  "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null ||
    "$py" -m pip install -q torch 2>&1 | tail -2 | tee -a "$log" || true
  step "build" "$py" -m pip install --no-build-isolation . -Ccmake.define.WITH_CUDA=ON
fi

# Run from outside the source tree so the installed package (with _cuda) is imported.
here=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r tests "$tmp/tests"
cp pyproject.toml "$tmp/"

step "info" "$py" -c "import deltagrad as dg, json; i = dg.info(); print(json.dumps(i, indent=1)); \
assert i['cuda_compiled'] and i['cuda_available'], i['cuda_status']"

# shellcheck disable=SC2329  # called through step
run_tests() { (cd "$tmp" && "$py" -m pytest -q -p no:cacheprovider "$@"); }
step "tests (cuda)" run_tests tests -m cuda -rs
step "tests (emulator)" run_tests tests -m simt
step "tests (all)" run_tests tests

if [ -n "$sanitizer" ]; then
  # Small shapes under the sanitizer (it slows kernels down 10-100x); the CUDA tests only.
  for tool in memcheck racecheck synccheck; do
    step "compute-sanitizer $tool" env DG_SANITIZER=1 "$sanitizer" --tool "$tool" \
      --error-exitcode 1 --print-limit 20 \
      "$py" -m pytest -q -p no:cacheprovider "$tmp/tests" -m cuda -x
  done
else
  summary+=("SKIP  compute-sanitizer (not found; set COMPUTE_SANITIZER=/path/to/it)")
fi

bench_args=(--out "$here/$json")
[ -n "${QUICK:-}" ] && bench_args+=(--quick)
step "benchmarks" "$py" bench/bench_gpu.py "${bench_args[@]}"

echo
echo "gpu_check summary ($(date -u +%FT%TZ)):"
printf '  %s\n' "${summary[@]}"
echo "log: $log"
[ -f "$json" ] && echo "results: $json (commit it together with the log's summary)"
exit "$failed"
