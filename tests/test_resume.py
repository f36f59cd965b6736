"""dg.train.fit(checkpoint=..., resume=...): a run killed with SIGKILL at a seeded list of
moments (mid-epoch, right after an epoch, inside the write-fsync-rename window of the
checkpoint) and resumed ends with weights bit-identical to an uninterrupted run; bad
checkpoints are refused with nothing changed; the scheduler's state travels with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _random
from deltagrad.train import EarlyStopping, _read_checkpoint, fit

PYTHON_DIR = str(Path(dg.__file__).resolve().parent.parent)

# The training run every subprocess makes: dropout (the global generator), shuffling (the
# loader's generator, seeded from the global one: seed=None), Adam, a scheduler, validation and
# early stopping (its best weights are restored at the end).
CHILD = textwrap.dedent(
    """
    import json, os, sys, time
    import numpy as np
    import deltagrad as dg
    from deltagrad import _files
    from deltagrad.train import EarlyStopping, fit

    ckpt, out, marker = sys.argv[1], sys.argv[2], sys.argv[3]
    resume, spec = sys.argv[4] == "1", json.loads(sys.argv[5])
    dg.set_num_threads(2)

    def pause(what):
        with open(marker, "w") as f:
            f.write(what)
        time.sleep(120)  # the parent kills the process here
        os._exit(3)

    writes = {"n": 0}
    def before_replace(*args, **kwargs):  # between fsync and rename of the checkpoint
        writes["n"] += 1
        if spec.get("write") == writes["n"]:
            pause("write")
    _files._before_replace = before_replace

    calls = {"n": 0}
    ce = dg.nn.CrossEntropyLoss()
    def loss_fn(out, t):
        calls["n"] += 1
        if spec.get("call") == calls["n"]:
            pause("call")
        return ce(out, t)

    class Halve:  # torch's scheduler API, used when dg.optim.lr_scheduler is not there
        def __init__(self, opt):
            self.opt, self.last_epoch = opt, 0
        def _set(self, lr):
            if getattr(self.opt, "param_groups", None):
                for g in self.opt.param_groups:
                    g["lr"] = lr
            else:
                self.opt.lr = lr
        def step(self):
            self.last_epoch += 1
            if self.last_epoch % 2 == 0:
                groups = getattr(self.opt, "param_groups", None)
                self._set((groups[0]["lr"] if groups else self.opt.lr) * 0.5)
        def state_dict(self):
            return {"last_epoch": self.last_epoch}
        def load_state_dict(self, state):
            self.last_epoch = int(state["last_epoch"])

    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 5)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.6)
    dg.manual_seed(7)
    model = dg.nn.Sequential(
        dg.nn.Linear(5, 16), dg.nn.ReLU(), dg.nn.Dropout(0.3), dg.nn.Linear(16, 3)
    )
    opt = dg.optim.Adam(model.parameters(), lr=0.02)
    sched = (
        dg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        if hasattr(getattr(dg.optim, "lr_scheduler", None), "StepLR")
        else Halve(opt)
    )
    h = fit(
        model, loss_fn, opt, X[:72], y[:72], epochs=8, batch_size=10,
        validation_data=(X[72:], y[72:]), progress=False,
        early_stopping=EarlyStopping(patience=100),
        checkpoint=ckpt or None, resume=resume, scheduler=sched,
    )
    np.savez(out, **model.state_dict())
    with open(out + ".json", "w") as f:
        json.dump({"loss": h["loss"], "val_loss": h["val_loss"], "epoch": h.epoch}, f)
    """
)
CALLS_PER_EPOCH = 8 + 1  # ceil(72 / 10) training batches + one validation pass
TIMEOUT = 120


def _start(tmp: Path, ckpt: str, tag: str, resume: bool, spec: dict) -> tuple:
    script = tmp / "child.py"
    if not script.exists():
        script.write_text(CHILD)
    out, marker = tmp / f"{tag}.npz", tmp / f"{tag}.paused"
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    args = [str(script), ckpt, str(out), str(marker), "1" if resume else "0", json.dumps(spec)]
    proc = subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    return proc, out, marker


def _run_to_end(tmp: Path, ckpt: str, tag: str, resume: bool) -> tuple[dict, dict]:
    proc, out, _ = _start(tmp, ckpt, tag, resume, {})
    try:
        _, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{tag}: the training subprocess did not finish in {TIMEOUT} s")
    assert proc.returncode == 0, f"{tag}: exit {proc.returncode}\n{err.decode()[-3000:]}"
    with np.load(out) as f:
        weights = {k: f[k] for k in f.files}
    return weights, json.loads(Path(str(out) + ".json").read_text())


def _run_and_kill(tmp: Path, ckpt: str, tag: str, spec: dict) -> None:
    """Start a resuming run, wait until it pauses at `spec`, SIGKILL it."""
    proc, _, marker = _start(tmp, ckpt, tag, True, spec)
    deadline = time.monotonic() + TIMEOUT
    try:
        while not marker.exists():
            if proc.poll() is not None:
                err = proc.stderr.read().decode()[-3000:]
                pytest.fail(f"{tag}: exited ({proc.returncode}) before pausing at {spec}\n{err}")
            if time.monotonic() > deadline:
                pytest.fail(f"{tag}: did not reach {spec} in {TIMEOUT} s")
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL


def _kill_moments(seed: int) -> list[dict]:
    """A seeded list: in the very first write window (no checkpoint yet), mid-epoch, at the
    start of an epoch (right after the previous epoch's checkpoint), in a later write window."""
    rng = np.random.default_rng(seed)
    return [
        {"write": 1},
        {"call": int(rng.integers(2, 2 * CALLS_PER_EPOCH))},
        {"call": CALLS_PER_EPOCH * int(rng.integers(1, 3)) + 1},
        {"write": int(rng.integers(2, 3))},
    ]


def _epochs_done(spec: dict) -> int:
    """Epochs a run killed at `spec` completed (and checkpointed)."""
    if "write" in spec:
        return spec["write"] - 1  # the write in progress never landed
    return (spec["call"] - 1) // CALLS_PER_EPOCH


@pytest.mark.parametrize("seed", [2026])
def test_sigkill_at_seeded_moments_then_resume_is_bit_identical(tmp_path, seed):
    reference, ref_hist = _run_to_end(tmp_path, "", "plain", resume=False)
    ckpt = str(tmp_path / "run.ckpt")
    done = 0
    for i, spec in enumerate(_kill_moments(seed)):
        _run_and_kill(tmp_path, ckpt, f"kill{i}", spec)
        done += _epochs_done(spec)
        if done == 0:
            assert not os.path.exists(ckpt), "a checkpoint landed before its rename"
        else:  # the previous good checkpoint is intact and complete
            assert _read_checkpoint(ckpt)["epoch"] == done, spec
    assert 0 < done < 8  # the kills left work for the final run
    weights, hist = _run_to_end(tmp_path, ckpt, "resumed", resume=True)
    assert weights.keys() == reference.keys()
    for k in reference:
        assert weights[k].dtype == reference[k].dtype
        np.testing.assert_array_equal(weights[k], reference[k], err_msg=k)
    assert hist == ref_hist  # every epoch's losses, the checkpointed ones included
    # the killed runs' temporary files are gone: the next write removed them
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run.ckpt")] == []
    # the run with checkpoints written but never killed is the same run too
    same, same_hist = _run_to_end(tmp_path, str(tmp_path / "other.ckpt"), "ckpt", resume=False)
    for k in reference:
        np.testing.assert_array_equal(same[k], reference[k], err_msg=k)
    assert same_hist == ref_hist


# ---- in-process -----------------------------------------------------------------------------


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)
    return X, y


def _setup(seed=5, hidden=8, dropout=True):
    dg.manual_seed(seed)
    layers = [dg.nn.Linear(4, hidden), dg.nn.ReLU()]
    if dropout:
        layers.append(dg.nn.Dropout(0.2))
    model = dg.nn.Sequential(*layers, dg.nn.Linear(hidden, 3))
    return model, dg.optim.Adam(model.parameters(), lr=0.01)


def _fit(model, opt, epochs, **kw):
    X, y = _data()
    kw.setdefault("batch_size", 7)
    return fit(model, dg.nn.CrossEntropyLoss(), opt, X, y, epochs=epochs, progress=False, **kw)


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)


def test_resume_in_process_continues_where_it_stopped(tmp_path):
    ckpt = tmp_path / "c.dg"
    ref, ref_opt = _setup()
    h_ref = _fit(ref, ref_opt, 5)
    model, opt = _setup()
    _fit(model, opt, 2, checkpoint=ckpt)
    assert _read_checkpoint(str(ckpt))["epoch"] == 2
    model, opt = _setup()  # a fresh process would build these again
    _random.manual_seed(123)  # whatever happened since: the checkpoint's RNG state wins
    h = _fit(model, opt, 5, checkpoint=ckpt, resume=True)
    assert _same(model, ref)
    assert h.epoch == [1, 2, 3, 4, 5] and h["loss"] == h_ref["loss"]
    # a finished run resumed again trains no further
    again, again_opt = _setup()
    h2 = _fit(again, again_opt, 5, checkpoint=ckpt, resume=True)
    assert _same(again, ref) and h2["loss"] == h_ref["loss"]


def test_resume_with_a_seed_and_without_a_file_starts_fresh(tmp_path):
    ref, ref_opt = _setup()
    _fit(ref, ref_opt, 3, seed=11)
    model, opt = _setup()
    ckpt = tmp_path / "new.ckpt"
    _fit(model, opt, 3, seed=11, checkpoint=ckpt, resume=True)
    assert _same(model, ref) and ckpt.exists()
    assert sorted(os.listdir(tmp_path)) == ["new.ckpt"]  # exactly the path, no temp left


def test_checkpoint_path_is_checked_before_training(tmp_path):
    model, opt = _setup()
    before = model.state_dict()
    with pytest.raises(FileNotFoundError, match="fit: checkpoint: the directory"):
        _fit(model, opt, 2, checkpoint=tmp_path / "missing" / "c.ckpt")
    with pytest.raises(IsADirectoryError, match="fit: checkpoint"):
        _fit(model, opt, 2, checkpoint=tmp_path)
    with pytest.raises(TypeError, match="fit: checkpoint must be a path"):
        _fit(model, opt, 2, checkpoint=3)
    with pytest.raises(ValueError, match="fit: resume=True needs checkpoint=PATH"):
        _fit(model, opt, 2, resume=True)
    with pytest.raises(TypeError, match="fit: checkpoint needs a model with state_dict"):
        fit(lambda x: x, dg.nn.MSELoss(), opt, *_data(), epochs=1, checkpoint=tmp_path / "c")
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_checkpoint_of_another_model_is_refused_and_nothing_changes(tmp_path):
    ckpt = tmp_path / "c.ckpt"
    other, other_opt = _setup(hidden=6)
    _fit(other, other_opt, 1, checkpoint=ckpt)
    model, opt = _setup()
    _fit(model, opt, 1)  # some optimizer state to keep
    before, opt_before = model.state_dict(), opt.state_dict()
    rng_before = _random.get_rng_state()
    with pytest.raises(ValueError, match="another model.*nothing was changed"):
        _fit(model, opt, 3, checkpoint=ckpt, resume=True)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert _random.get_rng_state() == rng_before
    st = opt.state_dict()["state"] if "state" in opt.state_dict() else None
    assert st is not None and len(st) == len(opt_before["state"])


def test_checkpoint_of_another_run_shape_is_refused(tmp_path):
    ckpt = tmp_path / "c.ckpt"
    model, opt = _setup()
    _fit(model, opt, 1, checkpoint=ckpt)
    with pytest.raises(ValueError, match="batch_size=7.*batch_size=5"):
        _fit(model, opt, 2, checkpoint=ckpt, resume=True, batch_size=5)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "weights.dg"
    model, opt = _setup()
    from deltagrad.serialization import save

    save(dict(model.state_dict()), str(path))
    with pytest.raises(ValueError, match="not a checkpoint written by dg.train.fit"):
        _fit(model, opt, 2, checkpoint=path, resume=True)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be read|not a checkpoint"):
        _fit(model, opt, 2, checkpoint=path, resume=True)


def test_resume_false_overwrites_an_existing_checkpoint(tmp_path):
    ckpt = tmp_path / "c.ckpt"
    model, opt = _setup()
    _fit(model, opt, 3, checkpoint=ckpt)
    model, opt = _setup()
    _fit(model, opt, 1, checkpoint=ckpt)
    assert _read_checkpoint(str(ckpt))["epoch"] == 1


class _Sched:
    """torch's scheduler API: records its calls, state in state_dict()."""

    def __init__(self, opt):
        self.opt, self.last_epoch, self.args = opt, 0, []

    def step(self, *args):
        self.last_epoch += 1
        self.args.append(args)

    def state_dict(self):
        return {"last_epoch": self.last_epoch}

    def load_state_dict(self, state):
        self.last_epoch = int(state["last_epoch"])


class ReduceLROnPlateau(_Sched):
    pass


def test_scheduler_is_stepped_per_epoch_or_batch_and_checkpointed(tmp_path):
    model, opt = _setup()
    s = _Sched(opt)
    _fit(model, opt, 3, scheduler=s)
    assert s.last_epoch == 3 and s.args == [()] * 3
    model, opt = _setup()
    s = _Sched(opt)
    _fit(model, opt, 2, scheduler=s, scheduler_step="batch")
    assert s.last_epoch == 2 * 9  # ceil(60 / 7) batches per epoch
    ckpt = tmp_path / "c.ckpt"
    model, opt = _setup()
    s = _Sched(opt)
    _fit(model, opt, 2, scheduler=s, checkpoint=ckpt)
    model, opt = _setup()
    s2 = _Sched(opt)
    _fit(model, opt, 4, scheduler=s2, checkpoint=ckpt, resume=True)
    assert s2.last_epoch == 4 and len(s2.args) == 2
    with pytest.raises(ValueError, match="with a scheduler.*none"):
        _fit(model, opt, 6, checkpoint=ckpt, resume=True)


def test_plateau_scheduler_gets_the_validation_or_training_loss():
    X, y = _data(30, seed=1)
    model, opt = _setup()
    s = ReduceLROnPlateau(opt)
    h = _fit(model, opt, 2, scheduler=s, validation_data=(X, y))
    assert [a[0] for a in s.args] == h["val_loss"]
    model, opt = _setup()
    s = ReduceLROnPlateau(opt)
    h = _fit(model, opt, 2, scheduler=s)
    assert [a[0] for a in s.args] == h["loss"]
    with pytest.raises(ValueError, match="ReduceLROnPlateau.*epoch"):
        _fit(model, opt, 2, scheduler=s, scheduler_step="batch")
    with pytest.raises(ValueError, match="scheduler_step"):
        _fit(model, opt, 2, scheduler=s, scheduler_step="step")
    with pytest.raises(TypeError, match="scheduler has no step"):
        _fit(model, opt, 2, scheduler=object())


def test_real_scheduler_state_round_trips(tmp_path):
    lr_scheduler = getattr(dg.optim, "lr_scheduler", None)
    if not hasattr(lr_scheduler, "StepLR"):
        pytest.skip("dg.optim.lr_scheduler.StepLR is not in this build (branch optim)")
    ckpt = tmp_path / "c.ckpt"
    ref, ref_opt = _setup()
    _fit(ref, ref_opt, 4, scheduler=lr_scheduler.StepLR(ref_opt, step_size=1, gamma=0.5))
    model, opt = _setup()
    _fit(model, opt, 2, scheduler=lr_scheduler.StepLR(opt, 1, 0.5), checkpoint=ckpt)
    model, opt = _setup()
    sched = lr_scheduler.StepLR(opt, 1, 0.5)
    _fit(model, opt, 4, scheduler=sched, checkpoint=ckpt, resume=True)
    assert _same(model, ref) and sched.last_epoch == 4


def test_early_stopped_run_resumes_as_stopped(tmp_path):
    X, y = _data()
    yv = np.random.default_rng(4).integers(0, 3, 60)
    ckpt = tmp_path / "c.ckpt"
    model, opt = _setup()
    kw = dict(validation_data=(X, yv), early_stopping=EarlyStopping(patience=1))
    h = _fit(model, opt, 40, checkpoint=ckpt, **kw)
    assert h.stopped_epoch is not None
    weights = model.state_dict()
    model, opt = _setup()
    h2 = _fit(model, opt, 40, checkpoint=ckpt, resume=True, **kw)
    assert h2.stopped_epoch == h.stopped_epoch and h2.best_epoch == h.best_epoch
    assert all(np.array_equal(weights[k], v) for k, v in model.state_dict().items())
