"""Benchmarks: pytest-benchmark cases, each also recording an interleaved ratio against a peer
(see _timing.py). Run: pytest bench --benchmark-enable  (CI runs them once, untimed, as a smoke)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
