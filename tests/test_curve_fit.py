"""The curve-fitting experiment (Bishop §1.2) as the CLI runs it: the shape of its results."""

from __future__ import annotations

import os

import numpy as np
import pytest

from deltagrad.cli import main
from deltagrad.experiments.curve_fit import run_curve_fit


def test_curve_fit_reproduces_bishops_findings(tmp_path):
    pytest.importorskip("matplotlib")
    lines: list[str] = []
    res = run_curve_fit(out=str(tmp_path), echo=lambda *a: lines.append(" ".join(map(str, a))))
    train, test = np.array(res["erms_train"]), np.array(res["erms_test"])
    assert train[9] < 1e-6  # M = 9 interpolates the 10 points
    assert np.all(np.diff(train) <= 1e-9)  # training error never rises with M
    assert test[9] > 2 * test[3]  # ... while test error does
    assert max(abs(w) for w in res["coef"][9]) > 1e4  # Bishop's table 1.1: order 1e5
    assert len(res["coef"][3]) == 4
    m9 = res["coef_m9_lambda"]
    assert max(map(abs, m9["-18"])) < max(map(abs, m9["-inf"])) / 100
    assert max(map(abs, m9["0"])) < 1.0
    ds = {r["n"]: r for r in res["data_size"]}
    assert ds[100]["erms_test"] < ds[15]["erms_test"] < ds[10]["erms_test"]
    assert 1 <= res["cv_best_m"] <= 8
    for name in (
        "fits.png",
        "erms_vs_M.png",
        "erms_vs_lnlambda.png",
        "regularized_fits.png",
        "data_size.png",
        "cv_choice.png",
    ):
        path = tmp_path / name
        assert path.exists() and path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = "\n".join(lines)
    assert "w_9*" in text and "ln lambda = -18" in text and "chosen: M =" in text


def test_curve_fit_cli_prints_tables(tmp_path, capsys):
    assert main(["curve-fit", "--n", "12", "--seed", "1", "--folds", "3"]) == 0
    out = capsys.readouterr().out
    assert "E_RMS train" in out and "E_RMS test" in out and "N = 12" in out
    assert "--out" in out  # tells how to get the plots
    assert not any(os.scandir(tmp_path))


def test_curve_fit_without_matplotlib_prints_tables_only(tmp_path, monkeypatch, capsys):
    import deltagrad._report as report

    monkeypatch.setattr(report, "pyplot", lambda: None)
    assert main(["curve-fit", "--out", str(tmp_path / "plots")]) == 0
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not (tmp_path / "plots").exists()


def test_curve_fit_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["curve-fit", "--folds", "1"])
    assert main(["curve-fit", "--noise", "-1"]) == 2
    assert "noise" in capsys.readouterr().err
    assert main(["curve-fit", "--n", "1"]) == 2


def test_curve_fit_library_pieces(tmp_path, monkeypatch):
    """curve_fit_experiment returns JSON-ready numbers; format_curve_fit prints what
    run_curve_fit echoes; plot_curve_fit writes nothing without matplotlib."""
    import json

    from numpy.polynomial import polynomial as P

    import deltagrad._report as report
    from deltagrad.datasets import make_sinusoidal
    from deltagrad.experiments import curve_fit_experiment, format_curve_fit, plot_curve_fit
    from deltagrad.testing import assert_close

    res = curve_fit_experiment(n=15, seed=3, folds=4, penalize_bias=False)
    json.dumps(res)
    echoed: list[str] = []
    again = run_curve_fit(n=15, seed=3, folds=4, penalize_bias=False, echo=echoed.append)
    assert echoed == [format_curve_fit(res)] and again == res
    assert "(w_0 not in the penalty)" in echoed[0] and "4-fold" in echoed[0]
    # E_RMS of M = 3 against a float64 NumPy least-squares fit
    x, t = make_sinusoidal(15, noise=0.3, seed=3)
    xt, tt = make_sinusoidal(100, noise=0.3, seed=1003)
    w = P.polyfit(x, t, 3)
    assert_close(res["erms_train"][3], np.sqrt(np.mean((P.polyval(x, w) - t) ** 2)), rtol=1e-6)
    assert_close(res["erms_test"][3], np.sqrt(np.mean((P.polyval(xt, w) - tt) ** 2)), rtol=1e-6)
    assert res["erms_m9_lambda"]["-inf"]["train"] == res["erms_train"][9]
    assert [r["n"] for r in res["data_size"]] == [15, 100]  # n = 15 counted once
    assert len(res["cv_best"]["coef"]) == res["cv_best"]["degree"] + 1
    assert sum(r["chosen"] for r in res["cv_joint"]) == 1
    monkeypatch.setattr(report, "pyplot", lambda: None)
    assert plot_curve_fit(res, str(tmp_path / "plots")) is None
    assert not (tmp_path / "plots").exists()
