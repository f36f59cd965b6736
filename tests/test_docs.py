"""The developer docs name only files that exist, and the architecture's promises hold.

docs/ARCHITECTURE.md and docs/ADDING_A_KERNEL.md are how a newcomer finds their way; a path
they name that no longer exists sends them nowhere. Skipped outside the source tree (the
release check runs the tests against an installed wheel, without docs/).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("docs/ARCHITECTURE.md", "docs/ADDING_A_KERNEL.md")
EXTENSIONS = ("h", "cpp", "cu", "cuh", "py", "md", "cmake", "in", "sh", "toml", "yaml", "txt")
# a file name or a relative path ending in one of EXTENSIONS, or a folder path ending in "/"
EXT = "|".join(EXTENSIONS)
PATH = re.compile(
    rf"(?<![\w./<>*-])((?:[\w.-]+/)*[\w-]+(?:\.[\w-]+)*\.(?:{EXT})|(?:[\w.-]+/)+)(?![\w/<>*])"
)

pytestmark = pytest.mark.skipif(
    not (ROOT / "docs" / "ARCHITECTURE.md").exists(), reason="not run from the source tree"
)


def _repo_files() -> list[str]:
    skip = {".git", "build", ".venv-ci", "node_modules", ".ab-cache"}
    out = []
    for p in ROOT.rglob("*"):
        rel = p.relative_to(ROOT)
        if rel.parts and (rel.parts[0] in skip or rel.parts[0].startswith(".venv")):
            continue
        out.append(rel.as_posix() + ("/" if p.is_dir() else ""))
    return out


def _named_paths(text: str) -> set[str]:
    names = set()
    for m in PATH.finditer(text):
        name = m.group(1)
        # build/ holds what CMake generates; ../ leaves the repository
        if name.startswith(("../", "build/", "http", "www.")) or name.count(".") > 3:
            continue
        names.add(name.lstrip("./") if name.startswith("./") else name)
    return names


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_a_doc_names_exists(doc):
    files = _repo_files()
    text = (ROOT / doc).read_text()
    # placeholders (<op>.h, foo.cpp, a made-up activation) are written with <...> or "foo"
    missing = sorted(
        name
        for name in _named_paths(text)
        if "foo" not in name
        and "squareplus" not in name
        and not any(f == name or f.endswith("/" + name) for f in files)
    )
    assert not missing, f"{doc} names paths that do not exist: {missing}"


def test_the_path_pattern_finds_paths():
    found = _named_paths("see csrc/cpu/gemm.h, `ops.py`, tests/ and cmake/cpu_isa.cpp.in here")
    assert found == {"csrc/cpu/gemm.h", "ops.py", "tests/", "cmake/cpu_isa.cpp.in"}


def _imports(path: Path, package: str) -> set[str]:
    """Modules of `package` imported anywhere in `path` (inside functions too)."""
    mod = path.relative_to(ROOT / "python").with_suffix("").as_posix().replace("/", ".")
    if mod.endswith(".__init__"):
        mod = mod[: -len(".__init__")]
        pkg = mod
    else:
        pkg = mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            out.update(f"{base}.{a.name}" for a in node.names)
            out.add(base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m.startswith(package + ".")}


def test_the_backends_import_nothing_from_the_layers_above():
    """backends/ sits below dg.ops: it may import the compiled modules and itself, nothing else
    of the package; backends/_args.py imports numpy only."""
    allowed = ("deltagrad.backends", "deltagrad._cpu", "deltagrad._cuda", "deltagrad._simt")
    for f in sorted((ROOT / "python" / "deltagrad" / "backends").glob("*.py")):
        bad = {m for m in _imports(f, "deltagrad") if not m.startswith(allowed)}
        assert not bad, f"{f.name} imports from the layers above: {sorted(bad)}"
    args = ROOT / "python" / "deltagrad" / "backends" / "_args.py"
    mods = {
        n.module or ""
        for n in ast.walk(ast.parse(args.read_text()))
        if isinstance(n, ast.ImportFrom)
    } | {
        a.name
        for n in ast.walk(ast.parse(args.read_text()))
        if isinstance(n, ast.Import)
        for a in n.names
    }
    assert mods <= {"__future__", "numpy", "operator", "typing", "math"}, mods


def test_an_activation_is_named_in_at_most_seven_source_files():
    """The vocabulary is written once (csrc/common/op_names.h) and derived everywhere else:
    silu appears in its name list, its two kernels (CPU, CUDA), its reference, F.silu,
    nn.SiLU and its derivative as Tensor ops (tensor.py's _ACT_GRAD, for create_graph=True)
    only (docs/ADDING_A_KERNEL.md, route B)."""
    exts = {".h", ".cpp", ".cu", ".cuh", ".py", ".cmake", ".in", ".txt"}
    hits = sorted(
        p.relative_to(ROOT).as_posix()
        for top in ("csrc", "python", "cmake")
        for p in (ROOT / top).rglob("*")
        if p.suffix in exts and "silu" in p.read_text(errors="replace")
    )
    assert len(hits) <= 7, hits
