#!/usr/bin/env bash
# The release A/B of issue 18: the current tree's CPU wheel against the pre-issue build on one
# instruction-set path (AVX-512 by default), every group at 1 and 2 threads, one merged table.
#
#   bash bench/ab_release.sh build-base  [--base-venv DIR] [--commit C]   # once, ahead of time
#   bash bench/ab_release.sh build-head  [--head-venv DIR]                # the tree as it is now
#   bash bench/ab_release.sh measure     [--base-venv DIR] [--head-venv DIR] [--r2-venv DIR]
#   bash bench/ab_release.sh all ...                                      # build-head + measure
#
# Options (any subcommand):
#   --work DIR       wheels, build folders, results (default <repo>/.ab-cache/release)
#   --base-venv DIR  the baseline's venv (default <work>/venv-base)
#   --head-venv DIR  the current tree's venv (default <work>/venv-head)
#   --r2-venv DIR    a second baseline for the groups the pre-issue build lacks (conv, pool,
#                    the fused norm kernels): measure compares conv, pool, norm against it too
#   --commit C       build-base: the commit (default 1cb4cda, main before issues 17-20)
#   --label TEXT     build-head: the venv's name in the tables (default: the short HEAD, with
#                    +changes when the build inputs differ from it)
#   --path P         avx512 (default) or avx2, set in the workers and checked
#   --quick          3 rounds of 2 short timings, no re-checks: a dry run
#   --rounds N       rounds per case (default 8, best of 3 timings of >= 0.03 s each)
#   --groups "..."   pieces to run (default: matmul act16m act262k ops train_step conv pool
#                    norm; act16m / act262k: the activations at 16M / 262K elements; ops: the
#                    other kernels of bench_ops.py)
#   --threads "..."  thread counts, one piece each (default "1 2")
#   --lock FILE      flock FILE around each piece (AB_LOCK in the environment too): the shared
#                    measurement lock of a busy machine; every piece takes about a minute at most
#
# How it measures: bench/ab.py with --baseline-venv/--current-venv, one process pair per piece
# (a group at one thread count), each round of each side after 0.2 s of idle (the same
# settle-before-round method as `deltagrad bench`), best of k timings per round, rounds
# alternating A B / B A, a verdict from both sides' spreads and the paired per-round ratios, a
# "slower beyond spread" re-checked by up to 2 more passes in fresh workers ("faster" is not:
# this is a no-regression check). Every piece writes its JSON under <work>/out-<time>/; the
# merged report (report.md there) is printed at the end.
#
# Builds run at the lowest priority (lowprio below), CPU only (WITH_CUDA=OFF: the A/B compares
# CPU kernels); the head build keeps its build folder (<work>/build-head) and its exported source
# (<work>/src-head, only changed files rewritten), so a second build-head recompiles what
# changed only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
PY="${PYTHON:-python3}"
AB="$repo/bench/ab.py"

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in -h|--help) usage; exit 0 ;; esac
work="$repo/.ab-cache/release"
base_venv="" head_venv="" r2_venv=""
commit="1cb4cda"
path="avx512"
quick=0
rounds=""
groups="matmul act16m act262k ops train_step conv pool norm"
threads="1 2"
lock="${AB_LOCK:-}"
label=""
while [ $# -gt 0 ]; do
    case "$1" in
        --work) work="$2"; shift 2 ;;
        --base-venv) base_venv="$2"; shift 2 ;;
        --head-venv) head_venv="$2"; shift 2 ;;
        --r2-venv) r2_venv="$2"; shift 2 ;;
        --commit) commit="$2"; shift 2 ;;
        --label) label="$2"; shift 2 ;;
        --path) path="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --rounds) rounds="$2"; shift 2 ;;
        --groups) groups="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --lock) lock="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "ab_release.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
    esac
done
mkdir -p "$work"
[ -e "$repo/.ab-cache/.gitignore" ] || { mkdir -p "$repo/.ab-cache"; echo '*' > "$repo/.ab-cache/.gitignore"; }
base_venv="${base_venv:-$work/venv-base}"
head_venv="${head_venv:-$work/venv-head}"

log() { echo "[ab_release $(date -u +%H:%M:%S)] $*" >&2; }

# lowprio CMD...: CMD at the lowest CPU priority. With the kernel's autogroups (Linux's default
# on desktops and here: /proc/sys/kernel/sched_autogroup_enabled) nice only ranks processes of
# one session against each other, and every session gets an equal share: a build niced in one
# shell still takes half the cores from a measurement in another. So CMD runs in a session of
# its own whose autogroup is niced too.
lowprio() {
    if command -v setsid > /dev/null && [ -e /proc/self/autogroup ]; then
        setsid --wait bash -c 'echo 19 > /proc/self/autogroup 2> /dev/null; exec nice -n 19 "$@"' \
            lowprio "$@"
    else
        nice -n 19 "$@"
    fi
}

# build_wheel SRC BUILD_DIR WHEEL_DIR: a CPU-only wheel of SRC, low priority
build_wheel() {
    local src="$1" bdir="$2" wdir="$3" t0=$SECONDS
    rm -rf "$wdir"
    mkdir -p "$wdir"
    log "building a wheel of $src (build folder $bdir, log $wdir.log)"
    if ! lowprio "$PY" -m pip wheel "$src" --no-deps --no-build-isolation -w "$wdir" \
        -Ccmake.define.WITH_CUDA=OFF -Cbuild-dir="$bdir" > "$wdir.log" 2>&1; then
        tail -30 "$wdir.log" >&2
        log "the build failed: $wdir.log"
        exit 1
    fi
    log "built $(ls "$wdir") in $((SECONDS - t0)) s"
}

# install_venv VENV WHEEL_DIR LABEL: the wheel (reinstalled) and numpy at the coordinator's version
install_venv() {
    local venv="$1" wdir="$2" label="$3" np
    np="$("$PY" -c 'import numpy; print(numpy.__version__)')"
    [ -x "$venv/bin/python" ] || nice -n 19 "$PY" -m venv "$venv"
    nice -n 19 "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        "numpy==$np" tqdm
    nice -n 19 "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        --force-reinstall --no-deps "$wdir"/deltagrad-*.whl
    echo "$label" > "$venv/ab-label"
    (cd / && "$venv/bin/python" -I -c "import deltagrad as dg, sys; i = dg.info(); print(
        'deltagrad', dg.__version__, 'from', dg.__file__, 'isa', i['cpu_isa'],
        'cuda_compiled', i['cuda_compiled'], file=sys.stderr)")
    log "$venv ready ($label)"
}

build_base() {
    local full src="$work/src-base-$commit"
    full="$(git -C "$repo" rev-parse --verify "$commit^{commit}")"
    rm -rf "$src"
    mkdir -p "$src"
    git -C "$repo" archive --format=tar "$full" | tar -x -C "$src"
    build_wheel "$src" "$work/build-base-$commit" "$work/wheel-base-$commit"
    install_venv "$base_venv" "$work/wheel-base-$commit" "${full:0:7} (pre-issue)"
}

build_head() {
    local head dirty=""
    head="$(git -C "$repo" rev-parse --short=7 HEAD)"
    git -C "$repo" diff --quiet HEAD -- . ':!bench' ':!tests' ':!docs' || dirty="+changes"
    "$PY" "$AB" --export-tree "$work/src-head"
    build_wheel "$work/src-head" "$work/build-head" "$work/wheel-head"
    install_venv "$head_venv" "$work/wheel-head" "${label:-$head$dirty}"
}

measure() {
    local out n=0 t0=$SECONDS g t args=()
    for v in "$base_venv" "$head_venv"; do
        [ -x "$v/bin/python" ] || { log "no venv at $v: run build-base / build-head first"; exit 1; }
    done
    out="$work/out-$(date -u +%Y%m%d-%H%M%S)"
    mkdir -p "$out"
    if [ "$quick" = 1 ]; then
        args=(--quick)
    else
        args=(--rounds 8 -k 3 --min-time 0.03 --confirm 2 --confirm-slower-only)
    fi
    [ -n "$rounds" ] && args+=(--rounds "$rounds")
    args+=(--path "$path")
    # piece VENV_BASE GROUP THREADS: one ab.py run, under the lock if there is one
    piece() {
        local b="$1" g="$2" t="$3" json sel
        n=$((n + 1))
        json="$out/$(printf %02d $n)-$(basename "$b")-$g-t$t.json"
        log "piece $n: $g at $t thread(s) vs $(basename "$b")"
        case "$g" in  # ab.py's selectors of each group; pieces of about a minute at most
            act16m) sel=(ops --filter _16m) ;;
            act262k) sel=(ops --filter _262k) ;;
            ops) sel=(ops/softmax ops/linear ops/sgd ops/adam) ;;
            *) sel=("$g") ;;
        esac
        local run=("$PY" "$AB" --baseline-venv "$b" --current-venv "$head_venv" "${args[@]}"
            --threads "$t" --json "$json" "${sel[@]}")
        if [ -n "$lock" ]; then
            flock "$lock" "${run[@]}" > /dev/null
        else
            "${run[@]}" > /dev/null
        fi
    }
    for g in $groups; do
        for t in $threads; do
            piece "$base_venv" "$g" "$t"
        done
    done
    if [ -n "$r2_venv" ]; then
        for g in $groups; do
            case "$g" in conv|pool|norm) ;; *) continue ;; esac
            for t in $threads; do
                piece "$r2_venv" "$g" "$t"
            done
        done
    fi
    "$PY" "$AB" --report "$out"/*.json > "$out/report.md"
    cat "$out/report.md"
    log "$n pieces in $((SECONDS - t0)) s; report: $out/report.md"
}

case "$cmd" in
    build-base) build_base ;;
    build-head) build_head ;;
    measure) measure ;;
    all) build_head; measure ;;
    *) echo "usage: bash bench/ab_release.sh build-base|build-head|measure|all [options] (--help)" >&2
       exit 2 ;;
esac
