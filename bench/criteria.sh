#!/usr/bin/env bash
# Issues 17 and 18's criteria on this machine, both instruction-set paths (AVX-512 and AVX2
# with the peers capped: bench/conftest.py's DG_BENCH_PATH=avx2): matmul vs NumPy, Conv2d
# forward + backward vs torch, the MLP training step vs torch, the forward activations vs
# torch's out= kernels, pooling and normalization vs a copy of the same bytes. About 45 minutes
# on a 2-core Zen 4; run it on a quiet machine (other processes under `chrt -i 0`).
#   bash bench/criteria.sh > criteria.log 2>&1
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=${PYTHONPATH:-python}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
PT=(python -m pytest --benchmark-enable -o addopts= -s -q -p no:cacheprovider)
date; echo "== matmul"; python bench/bench_matmul.py --path both --rounds 10 --threads 1 2
date; echo "== conv"; python bench/bench_conv.py --rounds 5 --threads 1 2 --isa default avx2
for p in avx512 avx2; do
  if [ "$p" = avx2 ]; then export DG_BENCH_PATH=avx2; else unset DG_BENCH_PATH; fi
  date; echo "== step $p"; "${PT[@]}" bench/bench_train_step.py -k "test_train_step_mlp and not kept"
  date; echo "== act $p"
  "${PT[@]}" bench/bench_ops.py -k "(262k or 16m) and not softplus and not gelu_tanh"
  date; echo "== pool norm $p"; "${PT[@]}" bench/bench_pool.py bench/bench_norm.py
done
date; echo DONE
