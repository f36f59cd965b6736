"""Interleaved timing for speed claims: ours and the peer alternate (A B A B ...) in one process,
and each side keeps its best round, because interference on a shared machine only ever slows a
round down. Every benchmark in bench/ reports its ratio this way; the method itself lives in the
package (deltagrad.benchmark), which `deltagrad bench` uses too."""

from deltagrad.benchmark import SETTLE_SECONDS, interleaved, threads

__all__ = ["SETTLE_SECONDS", "interleaved", "threads"]
