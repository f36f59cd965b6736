"""The CNN application of issue 17: deltagrad.nn.functional (the alias of deltagrad.functional),
the networks of deltagrad.models (nn_models: BasicBlock, ResNet, SmallCNN), `deltagrad train
--dataset digits --model cnn` (report, --save, --plot with the first layer's filters, errors)
and examples/cnn_digits.py (>= 0.985 test accuracy with the public API)."""

from __future__ import annotations

import pathlib
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest

import deltagrad as dg
from deltagrad.cli import main

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _one_line(err: str) -> str:
    assert "Traceback" not in err and err.strip() and "\n" not in err.strip(), err
    return err.strip()


# ---- deltagrad.nn.functional ----------------------------------------------------------------


def test_nn_functional_is_deltagrad_functional():
    import deltagrad.functional
    import deltagrad.nn.functional as F
    from deltagrad.nn import functional as F2
    from deltagrad.nn.functional import cross_entropy, relu

    assert F is deltagrad.functional and F2 is F and dg.nn.functional is F
    assert relu is deltagrad.functional.relu and cross_entropy is deltagrad.functional.cross_entropy
    assert sys.modules["deltagrad.nn.functional"] is deltagrad.functional
    assert "functional" in dg.nn.__all__
    x = dg.tensor(np.array([-1.5, 0.25, 2.0]))
    np.testing.assert_array_equal(F.relu(x).numpy(), [0.0, 0.25, 2.0])


def test_nn_functional_imports_first_in_a_fresh_interpreter():
    """`import deltagrad.nn.functional as F` before anything else (as a torch script starts)."""
    code = (
        "import deltagrad.nn.functional as F, deltagrad, sys; "
        "assert F is deltagrad.functional is sys.modules['deltagrad.nn.functional']; "
        "assert deltagrad.nn.functional is F; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


# ---- the networks ---------------------------------------------------------------------------


def test_models_reexports_the_networks_lazily():
    import deltagrad.models as models
    import deltagrad.nn_models as nn_models

    for name in ("BasicBlock", "ResNet", "resnet_cifar", "SmallCNN", "conv3x3", "conv1x1"):
        assert getattr(models, name) is getattr(nn_models, name) and name in models.__all__
    assert models.MLPClassifier  # the estimators are still there
    with pytest.raises(AttributeError, match="deltagrad.models.*NoSuchNet"):
        models.NoSuchNet  # noqa: B018


def test_resnet_shapes_and_keys():
    dg.manual_seed(0)
    net = dg.models.resnet_cifar(8, num_classes=4)  # 3 stages of 1 block, for 32x32
    keys = list(net.state_dict())
    assert keys[:2] == ["conv1.weight", "bn1.weight"] and keys[-2:] == ["fc.weight", "fc.bias"]
    assert "layer2.0.downsample.0.weight" in keys and "layer2.0.downsample.1.running_var" in keys
    assert not any(k.startswith("layer1.0.downsample") for k in keys)  # same shape: identity
    x = dg.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    out = net(x)
    assert out.shape == (2, 4)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    digits_net = dg.models.ResNet((1, 1), (8, 16), num_classes=10, in_channels=1)
    assert digits_net(dg.tensor(np.ones((3, 1, 8, 8), np.float32))).shape == (3, 10)
    zero = dg.models.ResNet((1,), (4,), zero_init_residual=True)
    assert not zero.layer1[0].bn2.weight.numpy().any()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: dg.models.ResNet(layers=(2, 2), widths=(16,)), "ResNet: widths"),
        (lambda: dg.models.ResNet(layers=(), widths=()), "ResNet: layers"),
        (lambda: dg.models.ResNet(layers=(2, 0)), "ResNet: layers"),
        (lambda: dg.models.ResNet(num_classes=0), "ResNet: num_classes"),
        (lambda: dg.models.resnet_cifar(10), "resnet_cifar: depth"),
        (lambda: dg.models.BasicBlock(4, 0), "BasicBlock: planes"),
        (lambda: dg.models.BasicBlock(4, 4, stride=0), "BasicBlock: stride"),
        (lambda: dg.models.SmallCNN(widths=(8, 8)), "SmallCNN: widths"),
        (lambda: dg.models.SmallCNN(image_size=3), "SmallCNN: image_size"),
    ],
)
def test_network_arguments_are_checked(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_basic_block_rejects_a_non_module_downsample():
    with pytest.raises(TypeError, match="BasicBlock: downsample"):
        dg.models.BasicBlock(4, 8, downsample="conv")


def test_filter_mosaic_places_every_filter():
    from deltagrad.experiments.train_cnn import _filter_mosaic

    w = np.arange(5 * 2 * 3 * 3, dtype=np.float64).reshape(5, 2, 3, 3)
    m = _filter_mosaic(w)
    assert m.shape == (2 * 4 - 1, 3 * 4 - 1)  # 3 columns, 2 rows, 1-pixel gaps
    np.testing.assert_array_equal(m[4:7, 4:7], w[4].mean(axis=0))
    assert np.isnan(m[3]).all() and np.isnan(m[4:7, 8:]).all()  # gap row, empty 6th cell


# ---- deltagrad train --model cnn ------------------------------------------------------------


def test_train_cnn_short_run_report_save_and_plot(tmp_path, capsys):
    pytest.importorskip("sklearn")
    model_path, plot_path = tmp_path / "cnn.npz", tmp_path / "cnn.png"
    argv = ["train", "--dataset", "digits", "--model", "cnn", "--epochs", "2", "--no-progress"]
    assert main([*argv, "--save", str(model_path), "--plot", str(plot_path)]) == 0
    out = capsys.readouterr().out
    assert "1077/360/360 (seed 1, stratified)" in out and "images 1x8x8" in out
    assert "model: CNN 1x8x8 -> conv3x3 16-bn-relu" in out and "CrossEntropyLoss" in out
    assert re.search(r"^\s+1\s+\d\.\d+\s+\d\.\d+$", out, re.M)
    assert re.search(r"^\s+2\s+\d\.\d+\s+\d\.\d+$", out, re.M)
    accuracy = float(re.search(r"accuracy\s+([0-9.]+)", out).group(1))
    assert accuracy >= 0.9  # 2 epochs; the 30 of the default reach >= 0.985
    assert "confusion matrix" in out and re.search(r"samples/s on (avx512|avx2|generic)", out)
    saved = np.load(model_path)
    assert str(saved["_meta.model"]) == "cnn" and saved["_meta.widths"].tolist() == [16, 32, 64]
    net = dg.models.SmallCNN(in_channels=1, num_classes=10, widths=(16, 32, 64), image_size=8)
    net.load_state_dict({k: saved[k] for k in saved.files if not k.startswith("_meta.")})
    if plot_path.exists():  # matplotlib present
        assert plot_path.read_bytes()[:4] == b"\x89PNG" and "first-layer filters" in out
    else:
        assert "matplotlib is not installed" in out


def test_train_cnn_numbers_and_resume(tmp_path):
    """run_train_cnn returns what it prints; a checkpointed run resumed is bit-identical."""
    pytest.importorskip("sklearn")
    from deltagrad.experiments.train_cnn import load_images, predict, run_train_cnn

    kw = {"widths": (4, 8, 8), "seed": 3, "progress": False, "batch_size": 64}
    lines: list[str] = []
    whole = run_train_cnn(epochs=2, echo=lines.append, **kw)
    X_tr, X_va, X_te, y_tr, y_va, y_te = load_images("digits", 3)
    assert X_tr.shape == (len(y_tr), 1, 8, 8) and X_tr.dtype == np.float32 and X_tr.max() <= 1
    pred = predict(whole["model"], X_te).argmax(axis=1)
    assert whole["accuracy"] == np.mean(pred == y_te) and whole["n_test"] == len(y_te)
    assert len(whole["train_loss"]) == len(whole["val_loss"]) == 2
    assert "(seed 3, stratified)" in lines[0] and whole["filters"].shape == (4, 1, 3, 3)
    ckpt = str(tmp_path / "run.ckpt")
    run_train_cnn(epochs=1, echo=lambda *a: None, checkpoint=ckpt, **kw)
    resumed = run_train_cnn(epochs=2, echo=lambda *a: None, checkpoint=ckpt, resume=True, **kw)
    assert resumed["train_loss"] == whole["train_loss"]
    for (name, a), (_, b) in zip(
        whole["model"].state_dict().items(), resumed["model"].state_dict().items()
    ):
        np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.parametrize("dataset", ["breast_cancer", "diabetes"])
def test_train_cnn_on_tabular_data_is_a_clear_error(dataset, capsys):
    argv = ["train", "--model", "cnn", "--dataset", dataset, "--epochs", "1", "--no-progress"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith(f"deltagrad train: --model cnn: {dataset} is a tabular data set")
    assert "digits" in line and "--model mlp" in line
    assert captured.out == ""  # nothing loaded, nothing trained


def test_train_cnn_errors_are_one_line(tmp_path, capsys):
    base = ["train", "--model", "cnn", "--dataset", "digits", "--epochs", "1", "--no-progress"]
    assert main([*base, "--device", "cuda"]) == 2
    assert "CPU kernels only" in _one_line(capsys.readouterr().err)
    assert main([*base, "--lr", "-1"]) == 2
    assert _one_line(capsys.readouterr().err).startswith("deltagrad train: lr: ")
    assert main([*base, "--resume"]) == 2
    assert "--resume needs --checkpoint" in _one_line(capsys.readouterr().err)
    assert main([*base, "--plot", str(tmp_path / "no_dir" / "p.png")]) == 2
    assert "does not exist" in _one_line(capsys.readouterr().err)
    args = dg.cli.build_parser().parse_args(["train"])
    assert args.model == "mlp"  # the default stays the MLP


# ---- examples/cnn_digits.py -----------------------------------------------------------------


def test_cnn_digits_example_reaches_0985(capsys):
    pytest.importorskip("sklearn")
    module = runpy.run_path(str(EXAMPLES / "cnn_digits.py"), run_name="example")
    accuracy = module["main"]()
    out = capsys.readouterr().out
    printed = float(re.search(r"^test accuracy ([0-9.]+)$", out, re.M).group(1))
    assert printed == pytest.approx(accuracy, abs=5e-5)
    assert accuracy >= 0.985
