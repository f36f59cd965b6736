#!/usr/bin/env bash
# Instructions per vector of the forward activations against the port limits (issue 18): each
# kernel's fast path compiled by g++ -O3 per ISA, then llvm-mca per core model (Sapphire Rapids
# for AVX-512; Zen 3 and Golden Cove (alderlake) for AVX2). Columns: instructions (incl. the
# load, store and the fast-path check's compare and branch), of which FMA/MUL, llvm-mca's port
# bound (the busiest port's uops per iteration) and its simulated cycles per vector.
# Usage: bash bench/mca/run.sh [repo-root]   (needs g++ and llvm-mca)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$(cd "$here/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| function | ISA / model | instructions | FMA/MUL | port bound (cycles) | mca cycles |"
echo "|---|---|---|---|---|---|"
for isa in avx512 avx2; do
  if [ "$isa" = avx512 ]; then
    fl="-mavx512f -mavx512dq -mavx512vl -mavx512bw -mavx2 -mfma -mf16c"; cpus="sapphirerapids"
  else
    fl="-mavx2 -mfma -mf16c"; cpus="znver3 alderlake"
  fi
  # shellcheck disable=SC2086
  g++ -std=c++17 -O3 -DDG_ISA_NS=$isa $fl -I"$src/csrc" -S "$here/kernels.cpp" -o "$tmp/k.s"
  for fn in gelu sigmoid silu tanh relu; do
    python3 "$here/fast_path.py" "$tmp/k.s" "$fn" > "$tmp/path.s"
    grep -v '^j' "$tmp/path.s" > "$tmp/body.s" || true
    n=$(wc -l < "$tmp/path.s")
    nfma=$(grep -cE 'vf(n)?m(add|sub)|vmulps' "$tmp/body.s" || true)
    for cpu in $cpus; do
      out=$(llvm-mca -mcpu="$cpu" -iterations=200 "$tmp/body.s" 2>/dev/null)
      cyc=$(echo "$out" | awk '/^Total Cycles:/{printf "%.1f", $3 / 200}')
      bound=$(echo "$out" | awk '/Resource pressure per iteration:/{getline; getline; m = 0;
        for (i = 1; i <= NF; i++) if ($i + 0 > m) m = $i + 0; print m; exit}')
      echo "| $fn | $isa / $cpu | $n | $nfma | $bound | $cyc |"
    done
  done
done
