#!/usr/bin/env bash
# Fast dev loop without pip: configure once, rebuild incrementally, drop the modules into
# python/deltagrad/ (git-ignored), then run e.g.  PYTHONPATH=python pytest -x -q
# Usage: dev/build.sh [build-dir] [extra cmake args...]   (default build dir: build/dev)
set -euo pipefail
cd "$(dirname "$0")/.."
bdir=${1:-build/dev}; shift || true
if [ ! -f "$bdir/build.ninja" ] && [ ! -f "$bdir/Makefile" ]; then
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S . -B "$bdir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DPython_EXECUTABLE="$(command -v python3)" \
    -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" "$@"
fi
cmake --build "$bdir" -j 2
for mod in "$bdir"/_cpu*.so "$bdir"/_cuda*.so "$bdir"/_simt*.so; do
  # a copy then a rename: a process that has the module loaded keeps its old file (copying over
  # it in place crashed running tests)
  [ -e "$mod" ] && cp -f "$mod" "python/deltagrad/.tmp-$(basename "$mod")" &&
    mv -f "python/deltagrad/.tmp-$(basename "$mod")" "python/deltagrad/$(basename "$mod")"
done
echo "built into $bdir; modules copied to python/deltagrad/"
