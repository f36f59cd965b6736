"""The `deltagrad` console script: info, train, curve-fit (see test_curve_fit.py), bench."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.cli import main


def test_info_lists_backend(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "cpu_isa" in out and dg.info()["cpu_isa"] in out
    assert main(["info", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["cpu_isa"] in ("avx512", "avx2", "generic") and "cuda_available" in facts


def _metric(out: str, name: str) -> float:
    m = re.search(rf"{re.escape(name)}\s+(-?[0-9.]+)", out)
    assert m, f"{name!r} not printed in:\n{out}"
    return float(m.group(1))


def test_train_breast_cancer_defaults_reach_auc(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    model_path, plot_path = tmp_path / "model.npz", tmp_path / "curves.png"
    assert (
        main(["train", "--no-progress", "--save", str(model_path), "--plot", str(plot_path)]) == 0
    )
    out = capsys.readouterr().out
    assert "malignant" in out and "341/114/114" in out
    assert _metric(out, "ROC AUC") >= 0.98
    assert _metric(out, "accuracy") >= 0.9
    assert "confusion matrix" in out and "true malignant (1)" in out
    assert re.search(r"[0-9,]+ samples/s on (avx512|avx2|generic)", out)
    # 30 epochs of per-epoch losses: the table shows the first and the last
    assert re.search(r"^\s+1\s+0\.\d+\s+0\.\d+$", out, re.M)
    assert re.search(r"^\s+30\s+0\.\d+\s+0\.\d+$", out, re.M)
    saved = np.load(model_path)
    assert "_meta.x_mean" in saved.files and saved["_meta.sizes"].tolist() == [30, 64, 32, 1]
    assert plot_path.read_bytes()[:4] == b"\x89PNG"
    # the saved parameters reload into the same architecture
    model = dg.nn.MLP([30, 64, 32, 1])
    model.load_state_dict({k: saved[k] for k in saved.files if not k.startswith("_meta.")})


def test_train_other_datasets_and_flags(capsys):
    pytest.importorskip("sklearn")
    assert (
        main(
            [
                "train",
                "--dataset",
                "digits",
                "--epochs",
                "2",
                "--hidden",
                "32",
                "--optimizer",
                "sgd",
                "--lr",
                "0.05",
                "--no-progress",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "MLP 64-32-10" in out and "sgd" in out
    assert _metric(out, "accuracy") > 0.5
    assert (
        main(
            [
                "train",
                "--dataset",
                "diabetes",
                "--epochs",
                "3",
                "--batch-size",
                "64",
                "--weight-decay",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "E_RMS" in out and "R^2" in out and "ROC AUC" not in out


def test_train_rejects_bad_flags(capsys):
    for argv in (
        ["train", "--hidden", "64,x"],
        ["train", "--epochs", "0"],
        ["train", "--dataset", "mnist"],
        ["train", "--optimizer", "rmsprop"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "--hidden" in capsys.readouterr().err


def test_train_cuda_without_a_gpu_says_why(capsys):
    if dg.info()["cuda_available"]:
        pytest.skip("a GPU is present")
    assert main(["train", "--device", "cuda", "--epochs", "1", "--no-progress"]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_bench_tiny_run_writes_json_and_plot(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    import deltagrad.benchmark as bm

    real = bm.run_benchmarks

    def tiny(quick=False, n_threads=None, progress=True):
        assert quick
        return real(
            quick,
            n_threads,
            progress=False,
            sizes=[8, 17],
            peak_n=64,
            n_elems=4096,
            mlp_sizes=(12, 8, 3),
            batch=16,
            rounds=2,
            min_time=1e-4,
        )

    monkeypatch.setattr(bm, "run_benchmarks", tiny)
    out_json, out_png = tmp_path / "b.json", tmp_path / "b.png"
    assert (
        main(["bench", "--quick", "--no-progress", "--json", str(out_json), "--plot", str(out_png)])
        == 0
    )
    out = capsys.readouterr().out
    assert "GFLOP/s" in out and "measured peak" in out and "copy bandwidth" in out
    assert "samples/s" in out
    res = json.loads(out_json.read_text())
    assert [r["n"] for r in res["gemm"]] == [8, 17]
    assert res["peak_gflops_measured"] > 0 and res["activations"]["copy_gbs"] > 0
    assert {r["act"] for r in res["activations"]["rows"]} == {"relu", "sigmoid", "tanh", "gelu"}
    assert res["mlp"]["deltagrad_samples_per_s"] > 0
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_interleaved_alternates_and_reports_best():
    from deltagrad.benchmark import interleaved

    calls: list[str] = []
    res = interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3, min_time=1e-6
    )
    assert set(res) == {"a", "b"} and all(v["best"] <= v["median"] for v in res.values())
    assert calls.count("a") >= 4 and calls.count("b") >= 4


def test_threads_without_threadpoolctl_warns_once(monkeypatch):
    """Without threadpoolctl NumPy's BLAS keeps all its threads: the bench must say so, not
    report a 1-thread ratio against a 2-thread peer in silence."""
    import sys

    from deltagrad import benchmark

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import raises ImportError
    monkeypatch.setattr(benchmark, "_warned_unlimited", False)
    old = dg.get_num_threads()
    with pytest.warns(RuntimeWarning, match="threadpoolctl is not installed"):
        with benchmark.threads(1):
            assert dg.get_num_threads() == 1
    assert dg.get_num_threads() == old
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with benchmark.threads(1):  # once per process
            pass


@pytest.mark.parametrize(
    "name, expect",
    [
        ("curve_fitting.py", "cross-validation chooses M"),
        ("breast_cancer.py", "ROC AUC"),
        ("digits.py", "test accuracy"),
        ("custom_op.py", "the custom loss ignores the outliers"),
    ],
)
def test_examples_run(name, expect, capsys):
    import pathlib
    import runpy

    if name not in ("curve_fitting.py", "custom_op.py"):
        pytest.importorskip("sklearn")
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / name
    runpy.run_path(str(path), run_name="__main__")
    assert expect in capsys.readouterr().out


def test_train_bad_values_give_a_message_not_a_traceback(capsys):
    assert main(["train", "--lr", "-1", "--epochs", "1", "--no-progress"]) == 2
    assert "deltagrad train:" in capsys.readouterr().err


def test_train_pipeline_is_the_estimator(tmp_path, monkeypatch):
    """run_train (what `deltagrad train` calls) trains dg.models' estimators and reports
    their numbers; a missing matplotlib gives a message, not an error."""
    pytest.importorskip("sklearn")
    import deltagrad._report as report
    from deltagrad.experiments.train_mlp import load_split, run_train
    from deltagrad.models import MLPRegressor

    monkeypatch.setattr(report, "pyplot", lambda: None)
    lines: list[str] = []
    res = run_train(
        "diabetes",
        epochs=2,
        hidden=[8],
        seed=4,
        save=str(tmp_path / "m"),
        plot=str(tmp_path / "c.png"),
        progress=False,
        echo=lines.append,
    )
    est = res["estimator"]
    assert isinstance(est, MLPRegressor) and est.get_params()["seed"] == 4
    assert res["train_loss"] == est.history_["loss"] and len(res["val_loss"]) == 2
    X_tr, X_va, X_te, y_tr, y_va, y_te = load_split("diabetes", 4)
    assert res["r2"] == est.score(X_te, y_te) and res["n_test"] == len(y_te)
    saved = np.load(res["saved"])
    # exactly the path given (it used to become m.npz), written atomically
    assert res["saved"] == str(tmp_path / "m") and saved["_meta.sizes"].tolist() == [10, 8, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    np.testing.assert_array_equal(saved["_meta.x_mean"], X_tr.mean(axis=0))
    assert float(saved["_meta.y_std"]) == y_tr.std()
    assert "plot" not in res and "matplotlib is not installed" in lines[-1]


def _one_line(err: str) -> str:
    assert "Traceback" not in err and err.strip() and "\n" not in err.strip(), err
    return err.strip()


@pytest.mark.parametrize("flag", ["--save", "--plot", "--checkpoint"])
def test_train_output_paths_are_checked_before_training(tmp_path, capsys, flag):
    missing = tmp_path / "no_such_dir" / "out.bin"
    assert main(["train", "--epochs", "1", "--no-progress", flag, str(missing)]) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith(f"deltagrad train: {flag} ") and "does not exist" in line
    assert captured.out == ""  # nothing ran: no header, no training
    assert main(["train", "--epochs", "1", "--no-progress", flag, str(tmp_path)]) == 2
    assert "is a directory" in _one_line(capsys.readouterr().err)


def test_train_resume_needs_a_checkpoint(capsys):
    assert main(["train", "--epochs", "1", "--no-progress", "--resume"]) == 2
    assert "--resume needs --checkpoint" in _one_line(capsys.readouterr().err)


def test_train_divergence_is_one_line_and_exit_2(capsys):
    pytest.importorskip("sklearn")
    argv = ["train", "--dataset", "diabetes", "--epochs", "2", "--no-progress"]
    assert main([*argv, "--optimizer", "sgd", "--lr", "1e30"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("deltagrad train: training diverged:") and "epoch 1" in line


def test_train_os_error_is_one_line_and_exit_2(capsys, monkeypatch):
    import deltagrad.cli as cli

    def fail(**kwargs):
        raise PermissionError(13, "Permission denied", "/data/model.npz")

    monkeypatch.setattr(cli, "run_train", fail)
    assert main(["train", "--epochs", "1", "--no-progress"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line == "deltagrad train: Permission denied: /data/model.npz"


def test_train_checkpoint_and_resume_match_an_uninterrupted_run(tmp_path, capsys):
    pytest.importorskip("sklearn")
    base = ["train", "--dataset", "diabetes", "--hidden", "8", "--no-progress", "--seed", "5"]
    assert main([*base, "--epochs", "4"]) == 0
    whole = capsys.readouterr().out
    ckpt = tmp_path / "run.ckpt"
    assert main([*base, "--epochs", "2", "--checkpoint", str(ckpt)]) == 0
    assert ckpt.exists()
    capsys.readouterr()
    assert main([*base, "--epochs", "4", "--checkpoint", str(ckpt), "--resume"]) == 0
    resumed = capsys.readouterr().out
    for name in ("E_RMS", "R^2"):
        assert _metric(resumed, name) == _metric(whole, name)
    table = [ln for ln in whole.splitlines() if re.match(r"^\s+[1-4]\s+\d", ln)]
    assert len(table) == 4 and all(ln in resumed for ln in table)  # the same 4 epochs' losses
