#!/usr/bin/env bash
# The offline rehearsal of bench/gpu_check.sh (a CI step): the same script, pip with --no-index
# (no registry: only what is installed here), a venv with --system-site-packages, and the
# optional test tools the lent GPU machine may lack hidden (hypothesis, pytest-benchmark), so a
# step that would break there breaks here, on every commit. It runs up to the point where a GPU
# is needed (the build for sm_90 with nvcc when there is one, the test collection, the SASS
# check); the GPU steps skip with "no GPU". Fails on any failed step.
#
#   bash dev/gpu_check_rehearsal.sh        # results in build/gpu_check_rehearsal/out
set -euo pipefail
cd "$(dirname "$0")/.."
root=build/gpu_check_rehearsal
# A fresh venv, test copy and results each time; the CMake build dir (state/build) is kept, so a
# second run rebuilds incrementally (delete it for a from-scratch build time).
rm -rf "$root/out" "$root/state/venv" "$root/state/run" "$root/hide"
mkdir -p "$root/hide/hypothesis" "$root/hide/pytest_benchmark" "$root/state"
for m in hypothesis pytest_benchmark; do
  echo "raise ImportError('$m is hidden by dev/gpu_check_rehearsal.sh')" >"$root/hide/$m/__init__.py"
done
hide=$(cd "$root/hide" && pwd)
status=0
# No time budget to speak of here (gpu_check's default, 540 s, is for the lent GPU machine):
# a loaded CI machine builds the CUDA module slowly.
BUDGET_S=${BUDGET_S:-3600} OUT="$root/out" WORK="$(cd "$root/state" && pwd)" OFFLINE=1 NO_GPU_OK=1 \
  PYTHONPATH="$hide${PYTHONPATH:+:$PYTHONPATH}" PIP_NO_INDEX=1 bash bench/gpu_check.sh || status=$?
# Every step that can run without a GPU must have run and passed.
python3 - "$root/out/gpu_check.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
bad = [s for s in d["steps"] if s["status"] == "fail"]
ran = {s["name"] for s in d["steps"] if s["status"] == "pass"}
need = {"build", "info", "tests (collect)"}
missing = need - ran
if not d.get("finished") or bad or missing:
    sys.exit(f"gpu_check rehearsal: failed steps {bad}, not passed {sorted(missing)}")
print(f"gpu_check rehearsal: passed in {d['seconds']} s ({len(ran)} steps passed)")
PY
exit "$status"
