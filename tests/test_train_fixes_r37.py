"""Round 37 fixes in the training path: dg.train.fit / evaluate (loss thresholds, metrics and
early stopping without validation data, non-scalar metrics, evaluate's batch_size, the
scheduler class in checkpoints), _files.atomic_write (permission bits, plots), the CLI
(--hidden with --model cnn) and the experiments' report after --resume."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import deltagrad as dg
import deltagrad.nn.functional as F
from deltagrad import _files
from deltagrad.optim.lr_scheduler import ExponentialLR, StepLR
from deltagrad.train import EarlyStopping, _loss_threshold, evaluate, fit

nn = dg.nn


def _problem(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)
    return X, y


def _counting(loss):
    """loss, counting its calls in .calls (to see that nothing trained before an error)."""

    def fn(out, t):
        fn.calls += 1
        return loss(out, t)

    fn.calls = 0
    return fn


def _model(seed=3):
    dg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def _weights(model):
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ---- 1. the loss's threshold: exact names, no substring traps -----------------------------

LOGITS = [
    F.binary_cross_entropy_with_logits,
    F.cross_entropy,
    F.nll_loss,
    F.multilabel_soft_margin_loss,
    nn.BCEWithLogitsLoss(),
    nn.CrossEntropyLoss(),
    nn.NLLLoss(),
    nn.MultiLabelSoftMarginLoss(),
]
PROBAS = [
    F.binary_cross_entropy,
    F.mse_loss,
    F.l1_loss,
    F.huber_loss,
    F.smooth_l1_loss,
    F.gaussian_nll_loss,
    nn.BCELoss(),
    nn.MSELoss(),
    nn.L1Loss(),
    nn.HuberLoss(),
    nn.SmoothL1Loss(),
    nn.GaussianNLLLoss(),
    nn.SumOfSquaresLoss(),
]
UNKNOWN = [
    F.poisson_nll_loss,
    nn.PoissonNLLLoss(),
    nn.KLDivLoss(),
    F.soft_margin_loss,
    F.cosine_embedding_loss,
    lambda out, t: F.binary_cross_entropy(out, t),
]


def _name(loss):
    return getattr(loss, "__name__", type(loss).__name__)


@pytest.mark.parametrize("loss", LOGITS, ids=_name)
def test_logit_losses_threshold_at_0(loss):
    assert _loss_threshold(loss) == 0.0


@pytest.mark.parametrize("loss", PROBAS, ids=_name)
def test_probability_and_regression_losses_threshold_at_half(loss):
    assert _loss_threshold(loss) == 0.5


@pytest.mark.parametrize("loss", UNKNOWN, ids=_name)
def test_other_losses_are_unknown(loss):
    """poisson_nll_loss used to read as nll_loss (logits), soft_margin... are not 0/1."""
    assert _loss_threshold(loss) is None


def test_subclass_of_a_known_loss_module_reads_as_its_base():
    class Weighted(nn.BCEWithLogitsLoss):
        pass

    class MyBCE(nn.BCELoss):
        pass

    assert _loss_threshold(Weighted()) == 0.0 and _loss_threshold(MyBCE()) == 0.5


@pytest.mark.parametrize("loss", [nn.BCELoss(), F.binary_cross_entropy], ids=_name)
def test_binary_cross_entropy_function_logs_accuracy_at_half(loss):
    """F.binary_cross_entropy used to threshold probabilities at 0: every output > 0 read 1."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3)).astype(np.float32)
    y = (X[:, 0] > 0.3).astype(np.float32)[:, None]
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())
    h = fit(
        model,
        loss,
        dg.optim.SGD(model.parameters(), lr=0.5),
        X,
        y,
        epochs=3,
        validation_data=(X, y),
        metrics=["accuracy"],
        progress=False,
        seed=0,
    )
    with dg.no_grad():
        p = model(dg.tensor(X)).numpy()
    assert h["val_accuracy"][-1] == float(np.mean((p > 0.5) == y))
    assert h["val_accuracy"][-1] != float(np.mean(y == 1))  # not "everything is 1"


# ---- 2. metrics / val_ monitors without validation data: refused before training -----------


def test_metrics_without_validation_data_are_refused_before_training():
    X, y = _problem()
    model = _model()
    before = _weights(model)
    loss = _counting(nn.CrossEntropyLoss())
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    for metrics in (["accuracy"], {"acc": lambda p, t: 0.0}, "accuracy"):
        with pytest.raises(ValueError, match=r"fit: metrics \(.*\).*validation_data"):
            fit(model, loss, opt, X, y, epochs=2, metrics=metrics, progress=False)
    assert loss.calls == 0 and _same(before, _weights(model))
    # metrics=None / an empty list: nothing to compute, no error
    h = fit(model, loss, opt, X, y, epochs=1, metrics=[], progress=False)
    assert sorted(h.history) == ["epoch_time", "loss", "samples_per_sec"]


def test_val_monitor_without_validation_data_is_a_value_error_before_training():
    X, y = _problem()
    model = _model()
    loss = _counting(nn.CrossEntropyLoss())
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    stopper = EarlyStopping(monitor="val_accuracy")
    with pytest.raises(ValueError, match="monitor='val_accuracy' needs validation_data"):
        fit(model, loss, opt, X, y, epochs=2, early_stopping=stopper, progress=False)
    assert loss.calls == 0 and stopper.monitor == "val_accuracy"
    # val_loss without validation data still means the training loss (the documented default)
    stopper = EarlyStopping(monitor="val_loss", patience=0)
    h = fit(
        model,
        loss,
        dg.optim.SGD(model.parameters(), lr=0.0),
        X,
        y,
        epochs=5,
        early_stopping=stopper,
        progress=False,
    )
    assert h.stopped_epoch == 2 and stopper.monitor == "val_loss"


def test_monitor_that_is_not_logged_is_a_key_error_before_training():
    X, y = _problem()
    model = _model()
    loss = _counting(nn.CrossEntropyLoss())
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    for monitor, val in (("val_acc", (X, y)), ("accuracy", None), ("val_loss ", (X, y))):
        with pytest.raises(KeyError, match="early stopping monitors"):
            fit(
                model,
                loss,
                opt,
                X,
                y,
                epochs=2,
                validation_data=val,
                early_stopping=EarlyStopping(monitor=monitor),
                progress=False,
            )
    assert loss.calls == 0
    h = fit(
        model,
        loss,
        opt,
        X,
        y,
        epochs=2,
        validation_data=(X, y),
        metrics={"acc": lambda p, t: float((p.argmax(1) == t).mean())},
        early_stopping=EarlyStopping(monitor="val_acc"),
        progress=False,
    )
    assert len(h) == 2 and h.best_epoch is not None


# ---- 3. a per-epoch metric must give a number ------------------------------------------------


def test_confusion_matrix_is_refused_early_by_name_and_as_the_function():
    X, y = _problem()
    model = _model()
    loss = _counting(nn.CrossEntropyLoss())
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    for m in ("confusion_matrix", dg.metrics.confusion_matrix):
        with pytest.raises(ValueError, match="confusion_matrix.*one number"):
            fit(
                model,
                loss,
                opt,
                X,
                y,
                epochs=1,
                validation_data=(X, y),
                metrics=[m],
                progress=False,
            )
    with pytest.raises(ValueError, match="one number"):
        evaluate(model, loss, X, y, metrics={"cm": dg.metrics.confusion_matrix})
    assert loss.calls == 0


def test_a_metric_returning_an_array_is_a_type_error_naming_it():
    X, y = _problem()
    model = _model()

    def per_class(p, t):
        return np.bincount(t, minlength=3).astype(float)

    with pytest.raises(TypeError, match=r"metrics: 'per_class' returned a ndarray of shape \(3,\)"):
        evaluate(model, nn.CrossEntropyLoss(), X, y, metrics=[per_class])
    with pytest.raises(TypeError, match="metrics: 'bad' returned a str"):
        evaluate(model, nn.CrossEntropyLoss(), X, y, metrics={"bad": lambda p, t: "x"})
    # one-element arrays and numpy scalars are numbers
    logs = evaluate(
        model,
        nn.CrossEntropyLoss(),
        X,
        y,
        metrics={"a": lambda p, t: np.array([[0.25]]), "b": lambda p, t: np.float32(0.5)},
    )
    assert logs["a"] == 0.25 and logs["b"] == 0.5 and type(logs["a"]) is float


# ---- 4. evaluate's batch_size is checked as fit's ----------------------------------------


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, False, "4", np.float64(3.0)])
def test_evaluate_batch_size_is_validated_like_fit(bad):
    X, y = _problem(11)
    model = _model()
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError) as fit_err:
        fit(model, nn.CrossEntropyLoss(), opt, X, y, epochs=1, batch_size=bad, progress=False)
    with pytest.raises(ValueError) as eval_err:
        evaluate(model, nn.CrossEntropyLoss(), X, y, batch_size=bad)
    msg = "batch_size must be None or a positive int, got "
    assert str(fit_err.value) == f"fit: {msg}{bad!r}"
    assert str(eval_err.value) == f"evaluate: {msg}{bad!r}"


def test_evaluate_batches_give_the_whole_data_result():
    X, y = _problem(11)
    model = _model()
    whole = evaluate(model, nn.CrossEntropyLoss(), X, y)
    for bs in (1, 3, np.int64(4), 11, 50):
        got = evaluate(model, nn.CrossEntropyLoss(), X, y, batch_size=bs)
        assert got["loss"] == pytest.approx(whole["loss"], rel=1e-6)


# ---- 5. atomic_write keeps the permission bits ---------------------------------------------

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o755])
def test_atomic_write_keeps_the_targets_permission_bits(tmp_path, mode):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    os.chmod(target, mode)
    with _files.atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(target).st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


@posix_only
def test_atomic_write_new_file_gets_the_umask_and_a_symlink_target_keeps_its_mode(tmp_path):
    old = os.umask(0o027)
    try:
        with _files.atomic_write(tmp_path / "new.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == 0o640
    real = tmp_path / "real"
    real.write_bytes(b"a")
    os.chmod(real, 0o600)
    (tmp_path / "link").symlink_to(real)
    with _files.atomic_write(tmp_path / "link") as f:
        f.write(b"b")
    assert (tmp_path / "link").is_symlink() and real.read_bytes() == b"b"
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o600


@posix_only
def test_fit_checkpoint_made_private_stays_private(tmp_path):
    X, y = _problem()
    model = _model()
    path = tmp_path / "run.ckpt"
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    fit(model, nn.CrossEntropyLoss(), opt, X, y, epochs=1, checkpoint=path, progress=False)
    os.chmod(path, 0o600)
    loss = nn.CrossEntropyLoss()
    fit(model, loss, opt, X, y, epochs=3, checkpoint=path, resume=True, progress=False)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


# ---- 6. the scheduler's class is checked on resume -----------------------------------------


def _sched_fit(path, cls, epochs, resume=False, **kw):
    X, y = _problem()
    model = _model()
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    sched = cls(opt, **kw)
    h = fit(
        model,
        nn.CrossEntropyLoss(),
        opt,
        X,
        y,
        epochs=epochs,
        batch_size=16,
        seed=0,
        checkpoint=path,
        resume=resume,
        scheduler=sched,
        progress=False,
    )
    return model, opt, sched, h


def test_resume_with_another_scheduler_class_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "run.ckpt"
    _sched_fit(path, StepLR, 2, step_size=1, gamma=0.5)
    X, y = _problem()
    model = _model(seed=9)
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    sched = ExponentialLR(opt, gamma=0.9)
    before = (_weights(model), sched.state_dict(), [g["lr"] for g in opt.param_groups])
    with pytest.raises(ValueError, match="StepLR scheduler, this call has a ExponentialLR"):
        fit(
            model,
            nn.CrossEntropyLoss(),
            opt,
            X,
            y,
            epochs=4,
            batch_size=16,
            seed=0,
            checkpoint=path,
            resume=True,
            scheduler=sched,
            progress=False,
        )
    assert _same(before[0], _weights(model))
    assert sched.state_dict() == before[1] and sched.gamma == 0.9
    assert not hasattr(sched, "step_size")
    assert [g["lr"] for g in opt.param_groups] == before[2]
    # the same class resumes
    _, _, sched, h = _sched_fit(path, StepLR, 4, resume=True, step_size=1, gamma=0.5)
    assert h.epoch == [1, 2, 3, 4] and sched.last_epoch == 4


def test_checkpoint_without_the_scheduler_class_still_loads(tmp_path):
    from deltagrad.train import _read_checkpoint, _write_checkpoint

    path = tmp_path / "old.ckpt"
    _sched_fit(path, StepLR, 2, step_size=1, gamma=0.5)
    state = _read_checkpoint(str(path))
    assert state.pop("scheduler_class") == "StepLR"
    state = {k: v for k, v in state.items() if k not in ("format", "version")}
    _write_checkpoint(str(path), state)
    assert "scheduler_class" not in _read_checkpoint(str(path))
    _, _, sched, h = _sched_fit(path, StepLR, 3, resume=True, step_size=1, gamma=0.5)
    assert h.epoch == [1, 2, 3] and sched.last_epoch == 3


# ---- 7. the CLI refuses --hidden with --model cnn --------------------------------------------


def test_cli_cnn_refuses_hidden_in_one_line(capsys, monkeypatch):
    from deltagrad import cli

    def boom(**kw):
        raise AssertionError("trained")

    monkeypatch.setattr(cli, "run_train_cnn", boom)
    argv = ["train", "--dataset", "digits", "--model", "cnn", "--hidden", "3", "--no-progress"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("deltagrad train: --hidden") and "--model cnn" in err


def test_cli_hidden_default_and_value_reach_the_mlp(monkeypatch):
    from deltagrad import cli

    got = []
    monkeypatch.setattr(cli, "run_train", lambda **kw: got.append(kw["hidden"]))
    monkeypatch.setattr(cli, "run_train_cnn", lambda **kw: got.append("hidden" in kw))
    assert cli.main(["train", "--no-progress"]) == 0
    assert cli.main(["train", "--hidden", "5,4", "--no-progress"]) == 0
    assert cli.main(["train", "--model", "cnn", "--dataset", "digits", "--no-progress"]) == 0
    assert got == [[64, 32], [5, 4], False]


# ---- 8, 9. --resume: the optimizer's values actually used, throughput of this process ------


def test_mlp_resume_reports_the_checkpoints_lr_and_this_process_throughput(tmp_path):
    pytest.importorskip("sklearn")
    from deltagrad.experiments.train_mlp import load_split, run_train

    ckpt = str(tmp_path / "run.ckpt")
    kw = dict(dataset="diabetes", hidden=[8], seed=5, progress=False, checkpoint=ckpt)
    lines: list[str] = []

    def header():
        return next(ln for ln in lines if ln.startswith("model: "))

    res = run_train(epochs=2, lr=1e-3, weight_decay=1e-3, echo=lines.append, **kw)
    assert "adam lr=0.001 weight_decay=0.001, batch 32, 2 epochs, backend" in header()
    assert res["epochs_run"] == 2 and res["resumed_after"] == 0
    assert "from the checkpoint" not in "\n".join(lines)
    lines.clear()
    res = run_train(epochs=3, lr=0.5, weight_decay=0.0, resume=True, echo=lines.append, **kw)
    assert (
        f"adam lr=0.001 weight_decay=0.001 (from the checkpoint {ckpt}; the given lr=0.5 "
        "weight_decay=0 are not used), batch 32, 3 epochs (resuming after epoch 2)" in header()
    )
    assert res["lr"] == 1e-3 and res["weight_decay"] == 1e-3
    assert res["epochs_run"] == 1 and res["resumed_after"] == 2 and len(res["train_loss"]) == 3
    n_train = len(load_split("diabetes", 5)[3])
    assert res["samples_per_s"] == pytest.approx(n_train / res["seconds"], rel=1e-12)
    assert "1 epoch run here, 2 from the checkpoint" in lines[-1]
    # the same values: no note; a finished run resumed trains nothing and reports 0 samples/s
    lines.clear()
    res = run_train(epochs=3, lr=1e-3, weight_decay=1e-3, resume=True, echo=lines.append, **kw)
    assert "from the checkpoint" not in header() and "resuming after epoch 3" in header()
    assert res["epochs_run"] == 0 and res["samples_per_s"] == 0.0


def test_cnn_resume_reports_the_checkpoints_lr_and_this_process_throughput(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    from deltagrad.experiments import train_cnn

    real = train_cnn.load_images

    def small(dataset, seed):  # a few images: the report, not the accuracy, is tested
        X_tr, X_va, X_te, y_tr, y_va, y_te = real(dataset, seed)
        return X_tr[:40], X_va[:20], X_te[:20], y_tr[:40], y_va[:20], y_te[:20]

    monkeypatch.setattr(train_cnn, "load_images", small)
    ckpt = str(tmp_path / "cnn.ckpt")
    kw = dict(widths=(2, 2, 2), progress=False, checkpoint=ckpt, batch_size=16)
    lines: list[str] = []
    train_cnn.run_train_cnn(epochs=1, lr=1e-3, echo=lines.append, **kw)
    lines.clear()
    res = train_cnn.run_train_cnn(
        epochs=2, lr=0.25, optimizer="adam", resume=True, echo=lines.append, **kw
    )
    header = next(ln for ln in lines if ln.startswith("model: "))
    assert "adam lr=0.001 weight_decay=0.001 (from the checkpoint" in header
    assert "the given lr=0.25 weight_decay=0.001 are not used" in header
    assert "2 epochs (resuming after epoch 1)" in header
    assert res["lr"] == 1e-3 and res["epochs_run"] == 1 and res["resumed_after"] == 1
    assert res["samples_per_s"] == pytest.approx(40 / res["seconds"])
    assert "1 epoch run here, 1 from the checkpoint" in lines[-1]


# ---- 10. plots are written through atomic_write -------------------------------------------


def _fake_results():
    return {
        "train_loss": [1.0, 0.5, 0.25],
        "val_loss": [1.1, 0.6, 0.3],
        "loss": "MSELoss",
        "dataset": "diabetes",
        "sizes": [10, 8, 1],
        "optimizer": "adam",
        "filters": np.random.default_rng(0).standard_normal((4, 1, 3, 3)),
    }


def _bench_results():
    return {
        "gemm": [{"n": 8, "deltagrad_gflops": 1.0}, {"n": 16, "deltagrad_gflops": 2.0}],
        "peak_gflops_measured": 3.0,
        "peak_gflops_nominal": None,
        "activations": {"rows": [{"act": "relu", "deltagrad_gbs": 1.0}], "copy_gbs": 4.0},
        "mlp": {"sizes": [4, 3], "batch": 8, "deltagrad_samples_per_s": 10.0},
    }


def _plotters():
    from deltagrad.benchmark import plot_report
    from deltagrad.experiments.train_cnn import plot_cnn
    from deltagrad.experiments.train_mlp import plot_learning_curves

    return {
        "mlp": lambda p: plot_learning_curves(_fake_results(), p),
        "cnn": lambda p: plot_cnn(_fake_results(), p),
        "bench": lambda p: plot_report(_bench_results(), p),
    }


@pytest.mark.parametrize("which", ["mlp", "cnn", "bench"])
def test_plots_go_through_atomic_write_at_exactly_the_path(tmp_path, monkeypatch, which):
    pytest.importorskip("matplotlib")
    plot = _plotters()[which]
    seen = []
    monkeypatch.setattr(_files, "_before_replace", seen.append)
    for name, magic in (("a.png", b"\x89PNG"), ("b.PDF", b"%PDF"), ("noext", b"\x89PNG")):
        assert plot(str(tmp_path / name)) is True
        assert (tmp_path / name).read_bytes()[:4] == magic
    assert seen == [str(tmp_path / n) for n in ("a.png", "b.PDF", "noext")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.PDF", "noext"]

    def fail(target):
        raise OSError(28, "No space left on device", target)

    monkeypatch.setattr(_files, "_before_replace", fail)
    (tmp_path / "a.png").write_bytes(b"previous")
    with pytest.raises(OSError, match="No space left"):
        plot(str(tmp_path / "a.png"))
    assert (tmp_path / "a.png").read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.PDF", "noext"]


def test_curve_fit_plots_go_through_atomic_write(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from deltagrad.experiments import curve_fit_experiment, plot_curve_fit

    res = curve_fit_experiment(n=10, n_test=20, seed=38)
    seen = []
    monkeypatch.setattr(_files, "_before_replace", seen.append)
    paths = plot_curve_fit(res, str(tmp_path / "plots"))
    assert paths and seen == paths
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(4) == b"\x89PNG"
    assert sorted(os.listdir(tmp_path / "plots")) == sorted(os.path.basename(p) for p in paths)
