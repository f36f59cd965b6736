"""Load a build's _cpu extension module by path, so that two builds (say main's and a branch's)
can be timed interleaved in one process (ab_so.py, ab_conv.py, norm_ab.py, pool_ab.py).

A caveat found in round 6 (conv6): GCC gives the function-local static and thread_local
objects of inline and template functions STB_GNU_UNIQUE binding, so two _cpu modules loaded
into one process share them, whichever module defined them first: the GEMM, tap and Winograd
scratch buffers (gemm.h `scratch`, conv.h `tap_scratch`, winograd.h's scratch). Where the two
builds lay such an object out differently, the process crashes or computes garbage; where they
agree, the two builds still share their buffers. An A/B of kernels that keep such scratch
(conv, GEMM) is only valid between builds whose scratch types are identical, and a bit-for-bit
check (`--check`) should come first; otherwise A/B in alternating processes."""

import importlib.util


def load_build(path, tag, threads=None):
    """Import the extension module at `path` under the private name ab_<tag>._cpu."""
    spec = importlib.util.spec_from_file_location(f"ab_{tag}._cpu", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if threads is not None:
        mod.set_num_threads(threads)
    return mod
