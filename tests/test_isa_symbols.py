"""The shipped _cpu module runs on every x86-64 CPU: no vector (VEX/EVEX) instruction outside the
per-ISA namespaces.

Each op's kernels are compiled three times (cmake/cpu_isa.cmake): with the AVX-512 flags, with
AVX2+FMA, and for the baseline, in the namespaces dg::avx512, dg::avx2 and dg::generic, and the
dispatch picks one by CPUID. Anything else those translation units instantiate out of line -- a
std::vector member, an inline function of a shared header -- is a weak (COMDAT) symbol that the
linker keeps from one of the three objects, whichever it meets first. If it keeps the AVX-512
copy, every CPU without AVX-512 dies with SIGILL when it calls it (seen on a Zen 3:
std::vector<long>::_M_fill_insert with a vpbroadcastq %zmm, called by the Conv2d tap path).
cmake/cpu_isa.cpp.in includes the standard headers for the baseline ISA to prevent that; this
test checks the result on the built module: every function whose name is not in dg::avx2 or
dg::avx512 holds no v-prefixed (VEX/EVEX) instruction. The module is stripped; what can be
replaced at link time is what has global or weak binding, which the module's dynamic symbol table
lists (the kernels' static library keeps the default visibility), with the sizes that bound each
function's code. Skipped, saying why, without binutils' nm and objdump.
"""

from __future__ import annotations

import bisect
import re
import shutil
import subprocess

import pytest

import deltagrad._cpu as _cpu

_ISA_NS = re.compile(r"\bdg::(avx2|avx512)::")
# AT&T mnemonics of VEX/EVEX-encoded instructions all start with 'v' (vmovups, vfmadd231ps,
# vpbroadcastq, vzeroupper, ...); no baseline x86-64 instruction a compiler emits does (verr and
# verw are system instructions).
_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)")


def _tools() -> tuple[str, str]:
    nm, objdump = shutil.which("nm"), shutil.which("objdump")
    if not (nm and objdump):
        pytest.skip("binutils' nm and objdump are not on PATH")
    return nm, objdump


@pytest.fixture(scope="module")
def vector_insns() -> dict[str, str]:
    """Every exported function of the _cpu module -> its first VEX/EVEX instruction ('' if none)."""
    nm, objdump = _tools()
    so = _cpu.__file__
    out = subprocess.run(
        [nm, "-D", "-C", "-S", "--defined-only", so], capture_output=True, text=True, check=True
    ).stdout
    funcs = []
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[2] in ("t", "T", "w", "W", "i") and int(parts[1], 16):
            start = int(parts[0], 16)
            funcs.append((start, start + int(parts[1], 16), parts[3]))
    funcs.sort()
    starts = [f[0] for f in funcs]
    found = {f[2]: "" for f in funcs}
    dis = subprocess.run(
        [objdump, "-d", "--no-show-raw-insn", so], capture_output=True, text=True, check=True
    ).stdout
    for line in dis.splitlines():
        m = _INSN.match(line)
        if not m or not m.group(2).startswith("v"):
            continue
        addr = int(m.group(1), 16)
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and addr < funcs[i][1] and not found[funcs[i][2]]:
            found[funcs[i][2]] = line.strip()
    return found


def test_no_vector_instruction_outside_the_isa_namespaces(vector_insns):
    bad = {k: v for k, v in vector_insns.items() if v and not _ISA_NS.search(k)}
    assert not bad, (
        "functions outside dg::avx2 / dg::avx512 hold VEX/EVEX instructions (SIGILL on a CPU "
        "without that ISA; a per-ISA translation unit instantiated them, see "
        "cmake/cpu_isa.cpp.in):\n" + "\n".join(f"  {k}: {v}" for k, v in sorted(bad.items()))
    )


def test_the_check_sees_the_isa_kernels(vector_insns):
    """The test above could pass vacuously (a stripped dynamic table, a wrong parser): the module
    must export functions of all three namespaces, the AVX2 and AVX-512 ones must hold vector
    instructions (the AVX-512 ones zmm registers), and the generic ones none."""
    names = list(vector_insns)
    assert len(names) > 100, f"only {len(names)} exported functions: hidden visibility?"
    built = _cpu.build["kernel_isas"]  # ("generic", "avx2"): a DG_CPU_AVX512=OFF build
    for ns in built:
        assert any(f"dg::{ns}::" in n for n in names), f"no dg::{ns}:: function is exported"
    assert any(v for k, v in vector_insns.items() if "dg::avx2::" in k)
    if "avx512" in built:
        assert any("%zmm" in v for k, v in vector_insns.items() if "dg::avx512::" in k)
    else:
        assert not any("dg::avx512::" in n for n in names)
    generic_bad = {k: v for k, v in vector_insns.items() if "dg::generic::" in k and v}
    assert not generic_bad, generic_bad


# The elementary vector operations of csrc/cpu/simd.h, one instruction or a few each: out of line
# only where a caller could not inline them.
_VEC_OP = re.compile(
    r"\bdg::(avx2|avx512)::(Vec<(float|double)>::(set1|zero|load|store|store_stream)\(|"
    r"fmadd\(|fnmadd\(|operator[-+*/]\()"
)


def test_vector_ops_are_inlined(vector_insns):
    """No elementary vector operation is an out-of-line function of the module. GCC inlines them
    into every kernel of their ISA; where one is called instead, the caller was compiled for
    another target, and every operation of its loop is a call through the PLT. Round 13: the FMA
    peak loop, written in an entry point (cpu/ops.h declares the entry points under the baseline
    x86-64 target, cmake/cpu_isa.cpp.in), measured 3-5 GFLOP/s on a core that does 117.
    Checked on optimized builds: at -O1 (the sanitizer build) GCC keeps the masked loads and
    stores out of line."""
    if not re.search(r"-O[23]", _cpu.build["cxx_flags"]):
        pytest.skip(f"not an optimized build ({_cpu.build['cxx_flags']!r})")
    bad = sorted(k for k in vector_insns if _VEC_OP.search(k))
    assert not bad, (
        "vector operations compiled out of line (a caller with another target: move the loop "
        "into a function of the kernel's own file, see gemm.h's fma_peak):\n  " + "\n  ".join(bad)
    )
