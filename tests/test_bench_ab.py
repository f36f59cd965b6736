"""bench/ab.py, the A/B tool: its selectors, its argument parsing, its verdicts and report, and
every case built and run once on small data (no timing, no build, no worker process)."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
AB_PATH = os.path.join(os.path.dirname(HERE), "bench", "ab.py")


@pytest.fixture(scope="module")
def ab():
    spec = importlib.util.spec_from_file_location("deltagrad_bench_ab", AB_PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- selectors ------------------------------------------------------------------------------


def test_select_whole_case_name(ab):
    # a case name with its group: the selector bug was taking the basename ("mlp_784_...")
    name = "train_step/mlp_784_512_512_10_b256"
    assert ab._select([name], None) == [name]
    assert ab._select(["matmul/square256"], None) == ["matmul/square256"]


def test_select_group_and_file_forms(ab):
    ops = [n for n in ab.CASES if n.startswith("ops/")]
    assert len(ops) > 10
    for sel in ("ops", "bench_ops", "bench_ops.py", "bench/bench_ops.py", "ops/"):
        assert ab._select([sel], None) == ops, sel
    for group in ("matmul", "ops", "train_step", "conv", "pool", "norm"):
        hits = ab._select([group], None)
        assert hits and all(n.startswith(group + "/") for n in hits), group
        assert ab._select([f"bench/bench_{group}.py"], None) == hits


def test_select_prefix_order_dedup_and_filter(ab):
    got = ab._select(["ops/activation_gelu", "ops/activation_gelu_16m", "matmul/square64"], None)
    assert got == [
        "ops/activation_gelu_16m",
        "ops/activation_gelu_tanh_16m",
        "ops/activation_gelu_262k",
        "ops/activation_gelu_tanh_262k",
        "matmul/square64",
    ]
    assert ab._select(["ops"], "262k") == [f"ops/activation_{a}_262k" for a in ab.ACTIVATIONS]
    assert ab._select([], "square") == [n for n in ab.CASES if "square" in n]
    assert ab._select([], None) == list(ab.CASES)


def test_select_unknown_names_the_selector(ab):
    with pytest.raises(SystemExit, match="'nosuch'.*groups: matmul, ops"):
        ab._select(["matmul", "nosuch"], None)
    with pytest.raises(SystemExit, match="'train_step/mlp_999'"):
        ab._select(["train_step/mlp_999"], None)


def test_cases_cover_the_issue_groups(ab):
    groups = ab._groups()
    assert groups == ["matmul", "ops", "train_step", "conv", "pool", "norm"]
    for act in ab.ACTIVATIONS:
        assert f"ops/activation_{act}_262k" in ab.CASES
        assert f"ops/activation_{act}_16m" in ab.CASES
    assert len(ab._select(["conv"], None)) == len(ab.CONV) + len(ab.CONV_S2)
    assert all(f"conv/conv2d_fwd_bwd_{name}" in ab.CASES for name in ab.CONV_S2)
    assert len(ab._select(["pool"], None)) == 6
    assert len(ab._select(["norm"], None)) == 6


# ---- --threads and the command line ---------------------------------------------------------


def test_split_threads(ab):
    assert ab._split_threads(None) == ([1, 2], [])
    assert ab._split_threads(["1", "2"]) == ([1, 2], [])
    assert ab._split_threads(["1,2"]) == ([1, 2], [])
    assert ab._split_threads(["2", "1", "2"]) == ([2, 1], [])
    # nargs='+' takes the selectors after the counts along: they come back as selectors
    assert ab._split_threads(["1", "matmul", "ops/adam"]) == ([1], ["matmul", "ops/adam"])


@pytest.mark.parametrize("bad", [["0"], ["1,0"], ["matmul"]])
def test_split_threads_bad(ab, bad):
    with pytest.raises(SystemExit, match="--threads"):
        ab._split_threads(bad)


def _listed(ab, capsys, argv):
    assert ab.main(["--list", *argv]) == 0
    return capsys.readouterr().out.split()


def test_main_threads_then_selectors(ab, capsys):
    name = "train_step/mlp_784_512_512_10_b256"
    assert _listed(ab, capsys, ["--threads", "1", name]) == [name]
    assert _listed(ab, capsys, ["--threads", "1", "2", name, "matmul/square64"]) == [
        name,
        "matmul/square64",
    ]
    assert _listed(ab, capsys, ["--threads", "1", "--", name]) == [name]


def test_main_selectors_around_options(ab, capsys):
    # positionals before and after options (argparse's intermixed parsing)
    got = _listed(ab, capsys, ["matmul/square64", "--quick", "conv", "--filter", "o16"])
    assert got == ["conv/conv2d_fwd_bwd_n64c1_8x8_o16"]
    got = _listed(ab, capsys, ["matmul/square64", "--threads", "2", "--quick", "pool/max"])
    assert got == ["matmul/square64", "pool/max_pool2d_forward_16m", "pool/max_pool2d_backward_16m"]


def test_main_needs_a_baseline(ab, capsys):
    with pytest.raises(SystemExit):
        ab.main(["matmul"])
    assert "--baseline or --baseline-venv is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ab.main(["--baseline", "HEAD", "--baseline-venv", "/nonexistent", "matmul"])
    assert "give one" in capsys.readouterr().err


def test_main_venv_must_exist(ab, tmp_path):
    with pytest.raises(SystemExit, match="--baseline-venv: .* is not a venv"):
        ab.main(["--baseline-venv", str(tmp_path), "--current-venv", str(tmp_path), "matmul"])


def test_venv_label(ab, tmp_path):
    assert ab._venv_label(str(tmp_path / "venv-ab-base")) == "venv-ab-base"
    (tmp_path / "ab-label").write_text("1cb4cda (pre-issue main)\nmore\n")
    assert ab._venv_label(str(tmp_path)) == "1cb4cda (pre-issue main)"


def test_worker_env_paths(ab):
    base = {
        "PATH": "/bin",
        "PYTHONPATH": "python",
        "DG_CPU_ISA": "avx2",
        "OPENBLAS_CORETYPE": "Haswell",
        "OPENBLAS_L2_SIZE": "1",
    }
    assert ab.worker_env(None, base) == {
        "PATH": "/bin",
        "DG_CPU_ISA": "avx2",
        "OPENBLAS_CORETYPE": "Haswell",
        "OPENBLAS_L2_SIZE": "1",
    }
    assert ab.worker_env("avx512", base) == {"PATH": "/bin"}
    env = ab.worker_env("avx2", {"PATH": "/bin", "OPENBLAS_L2_SIZE": "1"})
    assert env == {"PATH": "/bin", **ab.PATH_ENV["avx2"]}
    from deltagrad.benchmark import PATH_ENV

    assert ab.PATH_ENV == PATH_ENV  # the written-out copy agrees with the package's


# ---- verdicts and the report ----------------------------------------------------------------


def test_verdicts(ab):
    base = [1.00, 1.01, 1.02, 1.00, 1.03, 1.01]
    same = ab._paired(base, base)
    assert same == (1.0, 1.0, 1.0)
    assert ab._verdict(1.0, 0.02, same) == "within spread"
    slow = ab._paired(base, [b * 1.10 for b in base])
    assert slow[1] > 1 and ab._verdict(1.10, 0.02, slow) == "slower beyond spread"
    assert ab._verdict(1.10, 0.15, slow) == "within spread"  # inside a wide spread
    fast = ab._paired(base, [b * 0.9 for b in base])
    assert ab._verdict(0.9, 0.02, fast) == "faster"
    assert ab._spread([2.0, 1.0, 1.5]) == 0.5


def _run_json(path, label, rows, seconds=10.0):
    res = {
        "baseline_label": label,
        "current_label": "head",
        "path": "avx512",
        "rounds": 8,
        "k": 3,
        "min_time": 0.03,
        "floor": 0.02,
        "confirm": 2,
        "threads": [1],
        "seconds": seconds,
        "hello": {f"baseline {label}": {"version": "0.3.0", "isa": "avx512", "file": "/x"}},
        "rows": rows,
    }
    path.write_text(json.dumps(res))
    return str(path)


def _row(case, ratio, verdict):
    return {
        "case": case,
        "threads": 1,
        "baseline_s": 1e-3,
        "current_s": ratio * 1e-3,
        "ratio": ratio,
        "spread_baseline": 0.01,
        "spread_current": 0.01,
        "tolerance": 0.02,
        "paired_ratio": ratio,
        "paired_interval": [ratio - 0.01, ratio + 0.01],
        "verdict": verdict,
        "passes": 1,
    }


def test_report_merges_runs_by_baseline(ab, tmp_path, capsys):
    a = _run_json(tmp_path / "a.json", "1cb4cda", [_row("matmul/square64", 1.0, "within spread")])
    b = _run_json(
        tmp_path / "b.json",
        "1cb4cda",
        [
            _row("ops/activation_gelu_262k", 1.2, "slower beyond spread"),
            {"case": "conv/conv2d_fwd_bwd_n64c1_8x8_o16", "threads": 1, "error": "no conv2d"},
        ],
    )
    c = _run_json(
        tmp_path / "c.json", "9486d11", [_row("pool/max_pool2d_forward_16m", 0.8, "faster")]
    )
    assert ab.main(["--report", a, b, c]) == 0
    out = capsys.readouterr().out
    assert out.count("## baseline") == 2
    assert "## baseline 1cb4cda vs current head, path avx512" in out
    assert "2 run(s), 20 s of timing" in out
    assert "3 rows: 1 within spread, 1 slower beyond spread, 1 n/a" in out
    assert "SLOWER: ops/activation_gelu_262k t1: 1.200x" in out
    assert "| conv/conv2d_fwd_bwd_n64c1_8x8_o16 | 1 | n/a | n/a |" in out
    assert "1 rows: 1 faster" in out
    assert "| matmul/square64 | 1 | 1 ms | 1 ms | 1.000 |" in out


# ---- every case runs against this deltagrad (small sizes) -----------------------------------


def test_every_case_runs_once(ab, monkeypatch):
    """Each case's builder and callable, as a worker runs them, on the deltagrad under test: an
    API the tool calls that changed shows up here, not at the end of a release A/B."""
    import deltagrad as dg

    monkeypatch.setattr(ab, "N_ACT", 1000)
    monkeypatch.setattr(ab, "N_ACT_SMALL", 257)
    monkeypatch.setattr(ab, "POOL_SHAPE", (2, 3, 6, 6))
    monkeypatch.setattr(ab, "BN_SHAPE", (2, 3, 4, 4))
    monkeypatch.setattr(ab, "LN_SHAPE", (5, 7))
    monkeypatch.setattr(ab, "BN_SHAPE_F", (2, 3, 4, 4))
    monkeypatch.setattr(ab, "LN_SHAPE_F", (5, 7))
    monkeypatch.setattr(
        ab, "MATMUL", {k: (5, 6, 7, ta, tb) for k, (*_, ta, tb) in ab.MATMUL.items()}
    )
    monkeypatch.setattr(ab, "CONV", {k: (2, c, 5, 5, 3) for k, (_, c, *_) in ab.CONV.items()})
    monkeypatch.setattr(
        ab, "CONV_S2", {k: (2, c, 7, 6, 3, 2) for k, (_, c, *_) in ab.CONV_S2.items()}
    )
    cases = ab._registry()
    assert list(cases) == list(ab.CASES)
    old = dg.get_num_threads()
    try:
        dg.set_num_threads(1)
        for name, build in cases.items():
            try:
                fn = build()
                fn()
                fn()
            except Exception as e:
                raise AssertionError(f"case {name}: {type(e).__name__}: {e}") from e
    finally:
        dg.set_num_threads(old)
    # the optimizer cases are 4M parameters whatever the patching: they ran at full size
    assert np.isfinite(cases["matmul/square64"]()()).all()


def test_missing_op_names_it(ab):
    class Old:
        pass

    with pytest.raises(NotImplementedError, match="this deltagrad has no ops.max_pool2d"):
        ab._need(Old(), "max_pool2d", "ops")


def test_export_tree_writes_only_changes(ab, tmp_path):
    """--export-tree: the build inputs (tracked and untracked-not-ignored files, less bench/,
    tests/, ...), unchanged files left with their mtime (a kept build folder rebuilds only what
    changed), stale ones removed."""
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo, dst = tmp_path / "repo", tmp_path / "src"
    (repo / "csrc").mkdir(parents=True)
    (repo / "bench").mkdir()
    (repo / "csrc" / "a.cpp").write_text("int a;\n")
    (repo / "csrc" / "b.cpp").write_text("int b;\n")
    (repo / "bench" / "x.py").write_text("x = 1\n")
    (repo / ".gitignore").write_text("*.so\n")
    (repo / "mod.so").write_text("binary")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "csrc", "bench", ".gitignore"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    (repo / "new.txt").write_text("untracked, not ignored\n")
    assert ab.export_tree(str(repo), str(dst)) == (3, 0)
    got = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    assert got == ["csrc/a.cpp", "csrc/b.cpp", "new.txt"]
    os.utime(dst / "csrc" / "a.cpp", (1_000_000, 1_000_000))
    (repo / "csrc" / "b.cpp").write_text("int b2;\n")
    (repo / "new.txt").unlink()
    assert ab.export_tree(str(repo), str(dst)) == (1, 1)
    assert (dst / "csrc" / "b.cpp").read_text() == "int b2;\n"
    assert os.stat(dst / "csrc" / "a.cpp").st_mtime == 1_000_000
    assert not (dst / "new.txt").exists()


# ---- deltagrad bench's method (deltagrad.benchmark.interleaved), which ab.py's rounds share ----


def test_interleaved_settles_before_every_round(monkeypatch):
    """Issue 18, deliverable 5: `deltagrad bench` (and bench/) leave SETTLE_SECONDS of idle
    before each side's round, so the other library's spinning pool has parked; a lone function
    (the copy-bandwidth line) settles before its first round, which follows the previous case."""
    import deltagrad.benchmark as bm

    slept: list[tuple[float, str]] = []
    last = ["-"]
    monkeypatch.setattr(bm.time, "sleep", lambda s: slept.append((s, last[0])))

    def fn(name):
        return lambda: last.__setitem__(0, name)

    bm.interleaved({"a": fn("a"), "b": fn("b")}, rounds=4, min_time=1e-6)
    assert len(slept) == 8 and all(s == bm.SETTLE_SECONDS for s, _ in slept)
    slept.clear()
    bm.interleaved({"copy": fn("copy")}, rounds=4, min_time=1e-6)
    assert slept == [(bm.SETTLE_SECONDS, "copy")]  # after warm-up and calibration, once
    slept.clear()
    bm.interleaved({"a": fn("a"), "b": fn("b")}, rounds=3, min_time=1e-6, settle=0)
    assert slept == []


def test_confirm_slower_only(ab, monkeypatch):
    """A "faster" row is re-checked by --confirm passes unless --confirm-slower-only; a
    "slower" one always is (in fresh workers)."""
    import argparse

    passes = {"n": 0}
    restarts = {"n": 0}

    def fake_pass(args, workers, order, name, nt):
        passes["n"] += 1
        ratio = 0.8 if name == "fast" else 1.25
        return {"base": [1.0, 1.01, 1.02], "cur": [ratio, ratio * 1.01, ratio * 1.02]}

    class FakeSides:
        workers: dict = {}

        def restart(self):
            restarts["n"] += 1

        def alive(self):
            return True

    monkeypatch.setattr(ab, "_pass", fake_pass)
    for name, slower_only, want in [
        ("fast", False, 3),
        ("fast", True, 1),
        ("slow", True, 3),
    ]:
        passes["n"] = restarts["n"] = 0
        args = argparse.Namespace(confirm=2, floor=0.02, confirm_slower_only=slower_only)
        row = ab._case(args, FakeSides(), ["base", "cur"], name, 1)
        assert row["passes"] == passes["n"] == want, (name, slower_only)
        assert restarts["n"] == want - 1  # each re-check in fresh workers
        assert row["verdict"] == ("faster" if name == "fast" else "slower beyond spread")


def test_noisy_rows_are_rechecked_and_listed(ab, monkeypatch, capsys):
    """A spread wider than --noise-cap makes the row "noisy", not "within spread": re-checked
    in fresh workers, then listed for a rerun."""
    import argparse

    calls = {"n": 0}

    def fake_pass(args, workers, order, name, nt):
        calls["n"] += 1
        c = 1.0 + 0.2 * (calls["n"] - 1)  # each pass's best 20% off the previous: stays noisy
        return {"base": [c, 1.5 * c, 1.6 * c], "cur": [1.01 * c, 1.4 * c, 1.7 * c]}

    class FakeSides:
        workers: dict = {}

        def restart(self):
            pass

        def alive(self):
            return True

    monkeypatch.setattr(ab, "_pass", fake_pass)
    args = argparse.Namespace(confirm=2, floor=0.02, confirm_slower_only=True, noise_cap=0.10)
    row = ab._case(args, FakeSides(), ["base", "cur"], "ops/x", 2)
    assert row["verdict"] == "noisy" and row["passes"] == calls["n"] == 3
    args.noise_cap = 1.0
    assert ab._case(args, FakeSides(), ["base", "cur"], "ops/x", 2)["verdict"] == "within spread"
    summary = ab._summary([row])
    assert summary.startswith("1 rows: 1 noisy")
    assert "NOISY (run again): ops/x t2: 1.010x" in summary
