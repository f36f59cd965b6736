"""deltagrad.train.fit: learning, History, validation metrics, early stopping, divergence."""

from __future__ import annotations

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.train import EarlyStopping, History, TrainingDivergedError, evaluate, fit


def _problem(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)
    return X, y


def accuracy(pred, t):
    return float((pred.argmax(axis=1) == t).mean())


def test_fit_learns_and_records_history():
    X, y = _problem()
    dg.manual_seed(0)
    model = dg.nn.MLP([4, 32, 3])
    opt = dg.optim.Adam(model.parameters(), lr=1e-2)
    h = fit(
        model,
        dg.nn.CrossEntropyLoss(),
        opt,
        X[:150],
        y[:150],
        epochs=25,
        batch_size=16,
        validation_data=(X[150:], y[150:]),
        metrics={"acc": accuracy},
        progress=False,
        seed=0,
    )
    assert isinstance(h, History) and h.epoch == list(range(1, 26)) and len(h) == 25
    for key in ("loss", "val_loss", "val_acc", "samples_per_sec", "epoch_time"):
        assert len(h.history[key]) == 25, key
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["val_acc"][-1] > 0.85
    assert all(s > 0 for s in h["samples_per_sec"])
    # the recorded validation numbers are what evaluate() says
    logs = evaluate(model, dg.nn.CrossEntropyLoss(), X[150:], y[150:], metrics=[accuracy])
    assert logs["accuracy"] == pytest.approx(h["val_acc"][-1])
    assert logs["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-5)
    assert model.training  # back in training mode after validation
    assert "History(epochs=25" in repr(h)


@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_batch_online_and_minibatch_gd_all_run(batch_size):
    X, y = _problem(30)
    dg.manual_seed(1)
    model = dg.nn.MLP([4, 8, 3])
    h = fit(
        model,
        dg.nn.CrossEntropyLoss(),
        dg.optim.SGD(model.parameters(), lr=0.05),
        X,
        y,
        epochs=3,
        batch_size=batch_size,
        progress=False,
    )
    assert len(h["loss"]) == 3 and h["loss"][-1] < h["loss"][0]


def test_regression_with_mse():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, (128, 1)).astype(np.float32)
    t = np.sin(3 * X).astype(np.float32)
    dg.manual_seed(2)
    model = dg.nn.MLP([1, 32, 1], activation="tanh")
    h = fit(
        model,
        dg.nn.MSELoss(),
        dg.optim.Adam(model.parameters(), lr=1e-2),
        X,
        t,
        epochs=150,
        batch_size=32,
        progress=False,
        seed=0,
    )
    assert h["loss"][-1] < 0.02


def test_early_stopping_restores_the_best_weights():
    X, y = _problem(120, seed=3)
    yv = np.random.default_rng(4).integers(0, 3, 40)  # noise labels: val loss gets worse
    dg.manual_seed(3)
    model = dg.nn.MLP([4, 64, 3])
    opt = dg.optim.Adam(model.parameters(), lr=3e-2)
    best = {}

    def track(pred, t):
        best.setdefault("states", []).append(model.state_dict())
        return 0.0

    h = fit(
        model,
        dg.nn.CrossEntropyLoss(),
        opt,
        X[:80],
        y[:80],
        epochs=200,
        batch_size=16,
        validation_data=(X[80:], yv),
        metrics={"snap": track},
        progress=False,
        early_stopping=EarlyStopping(patience=3),
        seed=0,
    )
    assert h.stopped_epoch is not None and h.stopped_epoch < 200
    assert h.stopped_epoch - h.best_epoch == 4  # patience 3: stops on the 4th bad epoch
    assert h.best_epoch == int(np.argmin(h["val_loss"])) + 1
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, best["states"][h.best_epoch - 1][name])


def test_early_stopping_int_without_validation_monitors_train_loss():
    X, y = _problem(40)
    dg.manual_seed(4)
    model = dg.nn.MLP([4, 8, 3])
    h = fit(
        model,
        dg.nn.CrossEntropyLoss(),
        dg.optim.SGD(model.parameters(), lr=0.0),
        X,
        y,
        epochs=50,
        early_stopping=2,
        progress=False,
    )
    assert h.stopped_epoch == 4 and h.best_epoch == 1  # lr 0: never improves


def test_divergence_raises_naming_epoch_and_step():
    X, y = _problem(64)
    X[40] = np.nan  # a bad row: the 3rd batch of 16 without shuffling
    dg.manual_seed(5)
    model = dg.nn.MLP([4, 8, 3])
    with pytest.raises(TrainingDivergedError, match="epoch 1, step 3") as err:
        fit(
            model,
            dg.nn.CrossEntropyLoss(),
            dg.optim.SGD(model.parameters(), lr=0.1),
            X,
            y,
            epochs=2,
            batch_size=16,
            shuffle=False,
            progress=False,
        )
    assert isinstance(err.value, FloatingPointError)
    assert (err.value.epoch, err.value.step) == (1, 3)


def test_progress_bar_off_when_not_a_tty(capsys):
    X, y = _problem(20)
    dg.manual_seed(6)
    model = dg.nn.MLP([4, 3])
    fit(
        model,
        dg.nn.CrossEntropyLoss(),
        dg.optim.SGD(model.parameters(), lr=0.1),
        X,
        y,
        epochs=2,
        progress=True,
    )
    assert capsys.readouterr().err == ""


def test_bad_arguments():
    X, y = _problem(20)
    model = dg.nn.MLP([4, 3])
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    loss = dg.nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, loss, opt, X, y, epochs=-1, progress=False)
    with pytest.raises(ValueError, match="validation_data"):
        fit(model, loss, opt, X, y, epochs=1, validation_data=X, progress=False)
    with pytest.raises(ValueError, match="metrics"):
        fit(
            model,
            loss,
            opt,
            X,
            y,
            epochs=1,
            validation_data=(X, y),
            metrics=["nope"],
            progress=False,
        )
    with pytest.raises(KeyError, match="val_acc"):
        fit(
            model,
            loss,
            opt,
            X,
            y,
            epochs=1,
            validation_data=(X, y),
            progress=False,
            early_stopping=EarlyStopping(monitor="val_acc"),
        )


def test_progress_bar_on_a_terminal_shows_the_loss(capsys, monkeypatch):
    import sys

    X, y = _problem(20)
    dg.manual_seed(7)
    model = dg.nn.MLP([4, 3])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    fit(
        model,
        dg.nn.CrossEntropyLoss(),
        dg.optim.SGD(model.parameters(), lr=0.1),
        X,
        y,
        epochs=2,
        validation_data=(X, y),
        metrics={"acc": accuracy},
        progress=True,
    )
    err = capsys.readouterr().err
    assert "loss=" in err and "val_acc=" in err and "2/2" in err
    fit(
        model,
        dg.nn.CrossEntropyLoss(),
        dg.optim.SGD(model.parameters(), lr=0.1),
        X,
        y,
        epochs=2,
        progress=False,
    )
    assert capsys.readouterr().err == ""


def _regression(n=32, seed=0):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, 3)).astype(np.float32)
    return X, (X @ np.array([[1.0], [-2.0], [3.0]], np.float32)).astype(np.float32)


def test_too_large_learning_rate_stops_with_a_clear_message_and_finite_weights():
    X, y = _regression()
    dg.manual_seed(7)
    model = dg.nn.MLP([3, 16, 1])
    with pytest.raises(
        TrainingDivergedError, match="training diverged: .*smaller learning rate"
    ) as err:
        fit(
            model,
            dg.nn.MSELoss(),
            dg.optim.SGD(model.parameters(), lr=50.0),
            X,
            y,
            epochs=200,
            batch_size=8,
            progress=False,
        )
    msg = str(err.value)
    if "optimizer step made" not in msg:  # stopped before the step: the weights stayed finite
        for name, p in model.named_parameters():
            assert np.isfinite(p.numpy()).all(), name


def test_non_finite_gradient_is_caught_before_the_weights_change():
    """A loss whose value is finite but whose gradient is not (sqrt at 0)."""
    X, y = _regression(8)
    dg.manual_seed(8)
    model = dg.nn.Linear(3, 1)
    before = {n: p.numpy().copy() for n, p in model.named_parameters()}

    def loss_fn(out, target):
        diff = out - dg.tensor(np.asarray(target))
        return (diff * 0.0).sum() ** 0.5  # sqrt(0): finite value, infinite gradient

    with (
        pytest.raises(
            TrainingDivergedError,
            match="the gradient of (weight|bias) holds NaN or inf .*not updated",
        ),
        np.errstate(divide="ignore", invalid="ignore"),
    ):
        fit(
            model, loss_fn, dg.optim.SGD(model.parameters(), lr=0.1), X, y, epochs=1, progress=False
        )
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(p.numpy(), before[n])


def test_step_that_overflows_the_weights_is_reported():
    X, y = _regression(8)
    dg.manual_seed(9)
    model = dg.nn.Linear(3, 1)
    with pytest.raises(TrainingDivergedError, match="optimizer step made (weight|bias) NaN or inf"):
        fit(
            model,
            dg.nn.MSELoss(),
            dg.optim.SGD(model.parameters(), lr=1e38),
            X,
            y,
            epochs=1,
            progress=False,
        )


def _binary(n=300, seed=8):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.float32)[:, None]
    return X, y


@pytest.mark.parametrize(
    "loss, head",
    [
        (dg.nn.BCEWithLogitsLoss(), None),
        (dg.nn.BCELoss(), "sigmoid"),
        (lambda out, t: dg.functional.binary_cross_entropy_with_logits(out, t), None),
    ],
)
def test_named_metrics_read_single_outputs_as_the_loss_implies(loss, head):
    """(N, 1) logits with BCEWithLogits used to report accuracy 0.0 and stop at roc_auc."""
    X, y = _binary()
    dg.manual_seed(8)
    layers = [dg.nn.Linear(3, 16), dg.nn.ReLU(), dg.nn.Linear(16, 1)]
    if head:
        layers.append(dg.nn.Sigmoid())
    model = dg.nn.Sequential(*layers)
    h = fit(
        model,
        loss,
        dg.optim.Adam(model.parameters(), lr=2e-2),
        X[:200],
        y[:200],
        epochs=30,
        batch_size=32,
        validation_data=(X[200:], y[200:]),
        metrics={"accuracy": "accuracy", "roc_auc": "roc_auc", "acc_fn": dg.metrics.accuracy},
        progress=False,
        seed=0,
    )
    assert h["val_acc_fn"] == h["val_accuracy"]  # the function object reads outputs alike
    with dg.no_grad():
        out = model(dg.tensor(X[200:])).numpy()
    expect = float(np.mean((out > (0.5 if head else 0.0)) == y[200:]))
    assert h["val_accuracy"][-1] == expect and expect >= 0.95
    assert h["val_roc_auc"][-1] == pytest.approx(roc_ref(out[:, 0], y[200:, 0]), abs=1e-12)
    assert h["val_roc_auc"][-1] > 0.98


def roc_ref(scores, t):
    """AUC by counting pairs: P(score_pos > score_neg) + 1/2 P(tie), float64."""
    pos, neg = scores[t == 1].astype(np.float64), scores[t == 0].astype(np.float64)
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def test_named_accuracy_on_class_scores_and_one_hot():
    X, y = _problem(90)
    dg.manual_seed(9)
    model = dg.nn.MLP([4, 16, 3])
    h = fit(
        model,
        dg.nn.CrossEntropyLoss(),
        dg.optim.Adam(model.parameters(), lr=1e-2),
        X,
        y,
        epochs=5,
        batch_size=16,
        validation_data=(X, y),
        metrics="accuracy",
        progress=False,
        seed=0,
    )
    with dg.no_grad():
        pred = model(dg.tensor(X)).numpy().argmax(axis=1)
    assert h["val_accuracy"][-1] == float(np.mean(pred == y))


def test_unknown_or_non_scalar_metric_names_are_refused():
    X, y = _problem(20)
    model = dg.nn.MLP([4, 3])
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    for name in ("confusion_matrix", "precision", "_pair"):
        with pytest.raises(ValueError, match=f"metrics: .*{name}"):
            fit(model, dg.nn.CrossEntropyLoss(), opt, X, y, epochs=1, metrics=[name])


def test_empty_data_is_an_error_not_a_loss_of_zero():
    X, y = _problem(20)
    model = dg.nn.MLP([4, 3])
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    loss = dg.nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="fit: X and y are empty"):
        fit(model, loss, opt, X[:0], y[:0], epochs=1, progress=False)
    with pytest.raises(ValueError, match="fit: validation_data: X and y are empty"):
        fit(model, loss, opt, X, y, epochs=1, validation_data=(X[:0], y[:0]), progress=False)
    with pytest.raises(ValueError, match="fit: validation_data: X has 20 rows"):
        fit(model, loss, opt, X, y, epochs=1, validation_data=(X, y[:3]), progress=False)
    with pytest.raises(ValueError, match="evaluate: X and y are empty"):
        evaluate(model, loss, X[:0], y[:0])
    with pytest.raises(ValueError, match="fit: batch_size"):
        fit(model, loss, opt, X, y, epochs=1, batch_size=True, progress=False)
    with pytest.raises(ValueError, match="fit: seed"):
        fit(model, loss, opt, X, y, epochs=1, seed=-1, progress=False)


@pytest.mark.parametrize("bad", [True, False, 2.5, "3"])
def test_early_stopping_refuses_bools_and_non_ints(bad):
    """True used to be read as patience 1 (a bool taken as an int)."""
    X = np.random.default_rng(0).standard_normal((8, 2))
    y = X.sum(1, keepdims=True)
    model = dg.nn.Linear(2, 1)
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="early_stopping"):
        dg.train.fit(
            model,
            dg.nn.MSELoss(),
            opt,
            X,
            y,
            epochs=2,
            early_stopping=bad,
            validation_data=(X, y),
            progress=False,
        )
    with pytest.raises(TypeError, match="EarlyStopping: patience"):
        dg.train.EarlyStopping(patience=bad)
