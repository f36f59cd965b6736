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
