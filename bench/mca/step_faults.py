"""A training step's time and minor page faults in a fresh process (round 21, docs/BENCHMARKS.md:
page faults of every step): resnet_cifar(20) on 3x32x32, batch 32, SGD momentum, or the same
model in torch (the peer, its state_dict keys equal to ours).

  PYTHONPATH=python python bench/mca/step_faults.py [threads=1] [steps=15] [deltagrad|torch]

DG_MALLOC_TUNE=0 leaves glibc's malloc thresholds at their defaults (csrc/common/host_memory.h).
The torch run imports deltagrad too (bench_cnn's torch models), so it runs under the same policy:
DG_MALLOC_TUNE=0 gives torch glibc's defaults as well."""

import pathlib
import resource
import sys
import time

import numpy as np

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 15
lib = sys.argv[3] if len(sys.argv) > 3 else "deltagrad"
rng = np.random.default_rng(0)
X = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
Y = rng.integers(0, 10, 32)

if lib == "torch":
    import torch

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from bench_cnn import _torch_models

    torch.set_num_threads(threads)
    model = _torch_models(torch)[0]([3, 3, 3], [16, 32, 64])
    x, y = torch.from_numpy(X), torch.from_numpy(Y)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.functional.cross_entropy
else:
    import deltagrad as dg
    import deltagrad.nn.functional as F
    from deltagrad.nn_models import resnet_cifar

    dg.set_num_threads(threads)
    dg.manual_seed(0)
    model = resnet_cifar(20)
    x, y = dg.tensor(X), dg.tensor(Y)
    opt = dg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = F.cross_entropy
    print("host_malloc:", dg.info()["host_malloc"])


def step():
    opt.zero_grad()
    loss_fn(model(x), y).backward()
    opt.step()


for _ in range(3):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
t0 = time.perf_counter()
for _ in range(steps):
    step()
dt = (time.perf_counter() - t0) / steps
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / steps
print(f"{lib}, {threads} thread(s): {dt * 1e3:.1f} ms a step, {faults:.0f} minor faults a step")
