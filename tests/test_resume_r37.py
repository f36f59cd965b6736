"""Round 37: a checkpoint records its optimizer's class, and dg.train.fit refuses to resume it
with another one before anything is loaded. Adam and AdamW (and Adam / RAdam) share their
state keys, so Optimizer.load_state_dict alone would continue another algorithm silently.
Checkpoints written before this round (no "optimizer_class") still load, unchecked."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

import deltagrad as dg
from deltagrad import _random
from deltagrad.train import _read_checkpoint, _write_checkpoint, fit

nn = dg.nn
optim = dg.optim


def _problem(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)
    return X, y


def _model(seed=3):
    dg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def _weights(model):
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _counting(loss):
    """loss, counting its calls in .calls (to see that nothing trained before an error)."""

    def fn(out, t):
        fn.calls += 1
        return loss(out, t)

    fn.calls = 0
    return fn


def _fit(path, cls, epochs, resume=False, model=None, opt=None, loss=None):
    X, y = _problem()
    model = _model() if model is None else model
    opt = cls(model.parameters(), lr=0.01) if opt is None else opt
    h = fit(
        model,
        nn.CrossEntropyLoss() if loss is None else loss,
        opt,
        X,
        y,
        epochs=epochs,
        batch_size=16,
        seed=0,
        checkpoint=path,
        resume=resume,
        progress=False,
    )
    return model, opt, h


def _drop_class(path):
    """Rewrite the checkpoint at path as one written before this round (no optimizer_class)."""
    state = _read_checkpoint(str(path))
    del state["optimizer_class"]
    _write_checkpoint(str(path), {k: v for k, v in state.items() if k not in ("format", "version")})
    assert "optimizer_class" not in _read_checkpoint(str(path))


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RAdam])
def test_checkpoint_records_the_optimizer_class(tmp_path, cls):
    path = tmp_path / "run.ckpt"
    _fit(path, cls, 1)
    assert _read_checkpoint(str(path))["optimizer_class"] == cls.__name__


def test_the_hole_adam_state_loads_into_adamw():
    """Why fit checks the class: the optimizers accept each other's state_dict."""
    model = _model()
    adam, adamw = optim.Adam(model.parameters()), optim.AdamW(model.parameters())
    adamw.load_state_dict(adam.state_dict())  # no error
    optim.RAdam(model.parameters()).load_state_dict(adam.state_dict())  # no error either


@pytest.mark.parametrize(
    "saved, given",
    [
        (optim.Adam, optim.AdamW),
        (optim.AdamW, optim.Adam),
        (optim.Adam, optim.RAdam),
        (optim.RAdam, optim.Adam),
        (optim.NAdam, optim.RAdam),
        (optim.Adam, optim.SGD),
    ],
    ids=lambda c: c.__name__,
)
def test_resume_with_another_optimizer_class_is_refused_and_changes_nothing(tmp_path, saved, given):
    path = tmp_path / "run.ckpt"
    _fit(path, saved, 2)
    raw = path.read_bytes()
    model = _model(seed=9)
    opt = given(model.parameters(), lr=0.05)
    _fit(tmp_path / "warm.ckpt", given, 1, model=model, opt=opt)  # non-empty optimizer state
    before = (_weights(model), copy.deepcopy(opt.state_dict()), _random.get_rng_state())
    loss = _counting(nn.CrossEntropyLoss())
    msg = (
        rf"checkpoint .* was written with a {saved.__name__} optimizer, this call has a "
        rf"{given.__name__}: .*\(nothing was changed\)"
    )
    with pytest.raises(ValueError, match=msg):
        _fit(path, given, 4, resume=True, model=model, opt=opt, loss=loss)
    assert loss.calls == 0
    assert _same(before[0], _weights(model))
    after = opt.state_dict()
    assert after["param_groups"] == before[1]["param_groups"]
    assert after["state"].keys() == before[1]["state"].keys()
    for i, s in before[1]["state"].items():
        assert s.keys() == after["state"][i].keys()
        assert all(np.array_equal(np.asarray(s[k]), np.asarray(after["state"][i][k])) for k in s)
    assert np.array_equal(_random.get_rng_state(), before[2])
    assert path.read_bytes() == raw  # the checkpoint is untouched as well


@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW], ids=lambda c: c.__name__)
def test_resume_with_the_same_class_matches_an_uninterrupted_run(tmp_path, cls):
    whole, _, hw = _fit(tmp_path / "whole.ckpt", cls, 4)
    path = tmp_path / "run.ckpt"
    _fit(path, cls, 2)
    resumed, _, hr = _fit(path, cls, 4, resume=True)
    assert hr.epoch == [1, 2, 3, 4]
    assert hr["loss"] == hw["loss"]
    assert _same(_weights(whole), _weights(resumed))


def test_checkpoint_without_the_optimizer_class_still_loads(tmp_path):
    path = tmp_path / "old.ckpt"
    _fit(path, optim.Adam, 2)
    _drop_class(path)
    _, _, h = _fit(path, optim.Adam, 3, resume=True)
    assert h.epoch == [1, 2, 3]
    assert _read_checkpoint(str(path))["optimizer_class"] == "Adam"  # the next one records it


def test_checkpoint_without_the_optimizer_class_is_unchecked(tmp_path):
    """An old checkpoint cannot say which class wrote it: a state-compatible one loads."""
    path = tmp_path / "old.ckpt"
    _fit(path, optim.Adam, 2)
    _drop_class(path)
    _, opt, h = _fit(path, optim.AdamW, 3, resume=True)
    assert h.epoch == [1, 2, 3] and isinstance(opt, optim.AdamW)


def test_optimizer_class_is_checked_before_the_scheduler(tmp_path):
    """Both mismatch: the optimizer's message comes first, and nothing is loaded."""
    from deltagrad.optim.lr_scheduler import StepLR

    path = tmp_path / "run.ckpt"
    X, y = _problem()
    model = _model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = StepLR(opt, step_size=1)
    kw = dict(epochs=1, batch_size=16, seed=0, checkpoint=path, progress=False)
    fit(model, nn.CrossEntropyLoss(), opt, X, y, scheduler=sched, **kw)
    model = _model(seed=4)
    opt = optim.AdamW(model.parameters(), lr=0.01)
    before = _weights(model)
    from deltagrad.optim.lr_scheduler import ExponentialLR

    sched = ExponentialLR(opt, gamma=0.5)
    with pytest.raises(ValueError, match="Adam optimizer, this call has a AdamW"):
        fit(model, nn.CrossEntropyLoss(), opt, X, y, scheduler=sched, resume=True, **kw)
    assert _same(before, _weights(model)) and sched.last_epoch == 0


# ---- the CLI's --resume goes through fit: the same refusal, one line, exit status 2 ----------


def test_cli_resume_with_another_optimizer_is_refused(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from deltagrad.cli import main

    ckpt = tmp_path / "run.ckpt"
    base = ["train", "--dataset", "diabetes", "--hidden", "8", "--no-progress", "--seed", "5"]
    base += ["--checkpoint", str(ckpt)]
    assert main([*base, "--epochs", "1", "--optimizer", "adam"]) == 0
    raw = ckpt.read_bytes()
    capsys.readouterr()
    assert main([*base, "--epochs", "2", "--optimizer", "sgd", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert re.search(r"written with a Adam optimizer, this call has a SGD", err)
    assert ckpt.read_bytes() == raw
    assert main([*base, "--epochs", "2", "--optimizer", "adam", "--resume"]) == 0
