"""The shipped sm_90 SASS of the _cuda module, read with cuobjdump (no GPU needed).

Checks what the emulator cannot see: the FP32 GEMM keeps its accumulators in registers (no
local-memory loads or stores, LDL / STL) and stays small (under 20K instructions per kernel: the
activation epilogue is not inlined per output), and the elementwise activation kernels use
128-bit global loads (LDG.E.128). Skipped, saying why, without cuobjdump (the CUDA toolkit, or
the nvidia-cuda-cuobjdump wheel; CUOBJDUMP=/path overrides), without the _cuda module, or when
the module has no sm_90 code.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

import pytest


def _cuobjdump() -> str | None:
    cands = [os.environ.get("CUOBJDUMP"), shutil.which("cuobjdump")]
    cands.append(os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "cuobjdump"))
    try:
        import nvidia  # noqa: PLC0415  (the nvidia-cuda-cuobjdump wheel's namespace package)

        for root in nvidia.__path__:
            cands += sorted(glob.glob(os.path.join(root, "*", "bin", "cuobjdump")))
    except ImportError:
        pass
    return next((c for c in cands if c and os.access(c, os.X_OK)), None)


def _module_path() -> str | None:
    try:
        from deltagrad import _cuda  # noqa: PLC0415
    except ImportError:
        return None
    return _cuda.__file__


@pytest.fixture(scope="module")
def sass() -> dict[str, list[str]]:
    """{kernel name: its sm_90 SASS instruction lines}."""
    tool, mod = _cuobjdump(), _module_path()
    if tool is None:
        pytest.skip("cuobjdump not found (CUDA toolkit or pip install nvidia-cuda-cuobjdump)")
    if mod is None:
        pytest.skip("deltagrad was built without CUDA (no _cuda module)")
    elfs = subprocess.run([tool, "--list-elf", mod], capture_output=True, text=True, check=True)
    if "sm_90" not in elfs.stdout:
        pytest.skip(f"the _cuda module has no sm_90 code: {elfs.stdout.strip()!r}")
    out = subprocess.run(
        [tool, "-sass", "-arch", "sm_90", mod], capture_output=True, text=True, check=True
    ).stdout
    kernels: dict[str, list[str]] = {}
    cur = None
    for line in out.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            cur = m.group(1)
            kernels[cur] = []
        elif cur is not None and re.match(r"\s+/\*[0-9a-f]{4,}\*/\s+\S", line):
            kernels[cur].append(line)
    assert kernels, "cuobjdump printed no kernels"
    return kernels


def _pick(sass: dict[str, list[str]], pattern: str) -> dict[str, list[str]]:
    got = {k: v for k, v in sass.items() if re.search(pattern, k)}
    assert got, f"no kernel matches {pattern!r} among {sorted(sass)}"
    return got


def test_fp32_gemm_has_no_local_memory_spills(sass):
    for name, lines in _pick(sass, r"gemm_simt_kernelIf").items():
        local = [ln for ln in lines if re.search(r"\b(LDL|STL)\b", ln)]
        assert not local, f"{name}: {len(local)} local-memory instructions, e.g. {local[:3]}"


def test_fp32_gemm_kernels_are_under_20k_instructions(sass):
    for name, lines in _pick(sass, r"gemm_(simt_kernelIf|tf32_kernel)").items():
        assert len(lines) < 20_000, f"{name}: {len(lines)} SASS instructions"


def test_activation_kernels_use_128_bit_loads(sass):
    for name, lines in _pick(sass, r"activation(_backward)?_kernelIf").items():
        assert any("LDG.E.128" in ln for ln in lines), f"{name}: no 128-bit global load"


# ---- issue 19, the SIMT GEMM (FP32 and FP64): spills, size, 128-bit fetches, occupancy ------

_SM90_REGS_PER_SM = 65536
_SM90_SMEM_PER_SM = 228 * 1024  # the shared-memory carve-out's maximum on sm_90


@pytest.fixture(scope="module")
def res_usage(sass) -> dict[str, tuple[int, int]]:
    """{kernel name: (registers per thread, shared bytes per block)} of the sm_90 code."""
    out = subprocess.run(
        [_cuobjdump(), "-res-usage", "-arch", "sm_90", _module_path()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    usage: dict[str, tuple[int, int]] = {}
    lines = out.splitlines()
    for i, line in enumerate(lines[:-1]):
        name = re.search(r"Function (\S+):", line)
        res = re.search(r"REG:(\d+).*SHARED:(\d+)", lines[i + 1])
        if name and res:
            usage[name.group(1)] = (int(res.group(1)), int(res.group(2)))
    assert usage, "cuobjdump -res-usage printed no kernels"
    return usage


def _template_ints(name: str) -> list[int]:
    """The integer template arguments of a mangled gemm_simt_kernel name, in order."""
    return [int(v) for v in re.findall(r"Li(\d+)E", name)]


def test_every_simt_gemm_kernel_fp32_and_fp64_has_no_local_memory(sass):
    for name, lines in _pick(sass, r"gemm_simt_kernelI[fd]").items():
        local = [ln for ln in lines if re.search(r"\b(LDL|STL)\b", ln)]
        assert not local, f"{name}: {len(local)} local-memory instructions, e.g. {local[:3]}"


def test_fp32_simt_gemm_kernels_are_under_20k_instructions(sass):
    for name, lines in _pick(sass, r"gemm_simt_kernelIf").items():
        assert len(lines) < 20_000, f"{name}: {len(lines)} SASS instructions"


def test_fp32_simt_gemm_fetches_16_bytes_for_both_operands(sass):
    """One fetch routine (gemm_fetch) serves A and B in both orientations: x @ W.T's B (W.T,
    contiguous along k) takes the same 16-byte loads as A. Per block tile each thread fetches
    BM*BK/(4*NT) groups of A and BN*BK/(4*NT) of B; the unchecked (interior) and the checked
    (edge) fetches each hold one LDG.E.128 per group at least."""
    for name, lines in _pick(sass, r"gemm_simt_kernelIf").items():
        bm, bn, bk, *_, nt = _template_ints(name)
        groups = (bm * bk + bn * bk) // (4 * nt)
        wide = sum("LDG.E.128" in ln for ln in lines)
        assert wide >= 2 * groups, f"{name}: {wide} LDG.E.128, expected >= {2 * groups}"


def test_fp32_simt_gemm_fits_three_blocks_per_sm(res_usage):
    """Registers (allocated per warp in units of 256) and shared memory (as cuobjdump reports
    it, the 1 KB per block the system reserves included) leave room for 3 blocks on an SM."""
    for name, (regs, smem) in res_usage.items():
        if "gemm_simt_kernelIf" not in name:
            continue
        nt = _template_ints(name)[-1]
        per_warp = -(-regs * 32 // 256) * 256
        by_regs = (_SM90_REGS_PER_SM // per_warp) // (nt // 32)
        by_smem = _SM90_SMEM_PER_SM // max(smem, 1)
        assert min(by_regs, by_smem) >= 3, (
            f"{name}: {regs} registers x {nt} threads, {smem} B shared: "
            f"{by_regs} blocks by registers, {by_smem} by shared memory"
        )


# ---- the TF32 tensor-core GEMM (gemm_tf32_kernel: csrc/cuda/gemm_tc.cuh) ----------------------


def _tf32_kernels(sass: dict[str, list[str]]) -> dict[str, list[str]]:
    return _pick(sass, r"gemm_tf32_kernel")


def _tf32_template_args(name: str) -> list[int]:
    """gemm_tf32_kernel<BM, BN, WM, WN, NT, kStages, kMinBlocks> from the mangled name."""
    args = [int(v) for v in re.findall(r"Li(\d+)E", name)]
    assert len(args) >= 7, f"{name}: expected 7 template arguments, got {args}"
    return args[:7]


def test_tf32_gemm_uses_cp_async_ldmatrix_and_mma(sass):
    for name, lines in _tf32_kernels(sass).items():
        text = "\n".join(lines)
        for op, what in (("LDGSTS", "cp.async"), ("LDSM", "ldmatrix"), ("HMMA", "mma.sync")):
            assert re.search(rf"\b{op}\b", text), f"{name}: no {op} ({what})"
        # 16-byte copies (cp.async.cg ... 16) for contiguous operands, beside the 4-byte fallback.
        assert re.search(r"LDGSTS\.E\.BYPASS\.LTC128B\.128|LDGSTS[.\w]*\.128", text), (
            f"{name}: no 16-byte LDGSTS"
        )
        assert re.search(r"LDSM\.16\.M88\.4", text), f"{name}: no ldmatrix .x4"


def test_tf32_gemm_has_no_local_memory_spills(sass):
    for name, lines in _tf32_kernels(sass).items():
        local = [ln for ln in lines if re.search(r"\b(LDL|STL)\b", ln)]
        assert not local, f"{name}: {len(local)} local-memory instructions, e.g. {local[:3]}"


def test_tf32_gemm_shared_memory_is_multi_stage(sass):
    # The stage count is a template argument; the SASS must wait on cp.async groups with that
    # many in flight (cp.async.wait_group kStages - 2 is DEPBAR.LE SB0, kStages - 2), and the
    # stages must add up to more than the 48 KB of static shared memory (dynamic, raised by
    # cudaFuncSetAttribute at the launch).
    for name, lines in _tf32_kernels(sass).items():
        bm, bn, _, _, _, stages, _ = _tf32_template_args(name)
        assert stages >= 3, f"{name}: {stages} stages"
        assert stages * (bm + bn) * 32 * 4 > 48 * 1024, f"{name}: shared memory under 48 KB"
        text = "\n".join(lines)
        assert re.search(r"\bLDGDEPBAR\b", text), f"{name}: no cp.async.commit_group"
        waits = {int(v, 16) for v in re.findall(r"DEPBAR\.LE\s+SB0,\s*0x([0-9a-f]+)", text)}
        assert stages - 2 in waits, f"{name}: no wait_group {stages - 2} (found {waits})"
