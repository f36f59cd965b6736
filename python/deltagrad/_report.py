"""Plain-text tables and an optional matplotlib for the reports that deltagrad prints: the
experiments (deltagrad.experiments) and the benchmark (deltagrad.benchmark).

A leaf module: it imports numpy only (matplotlib on demand).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["table", "num", "ln", "pyplot"]


def table(head: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> str:
    """A plain right-aligned text table; cells that are not strings go through num()."""
    cells = [[c if isinstance(c, str) else num(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(head)]
    lines = [title] if title else []
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths)).rstrip())
    lines.append("  ".join("-" * w for w in widths).rstrip())
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def num(v: Any) -> str:
    """A number as a table shows it: ints as they are, 4 decimals below 100, 2 decimals with
    thousands separators up to 1e6, scientific notation beyond; None as an empty cell."""
    if v is None:
        return ""
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if v == 0 or 1e-3 <= abs(v) < 1e6:
        return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.4f}"
    return f"{v:.3e}"


def ln(lam: float) -> str:
    """ln lambda as the reports print it: "-inf" for lambda = 0."""
    return "-inf" if lam == 0 else f"{math.log(lam):g}"


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt
