"""How numbers read in the report and on the console: accuracies in %, gains in points, p-values."""

from __future__ import annotations

import numpy as np


def _finite(x) -> bool:
    return x is not None and bool(np.isfinite(x))


def fmt(x: float, signed: bool = False) -> str:
    if not _finite(x):
        return "n/a"
    return f"{x:+.4f}" if signed else f"{x:.4f}"


def pts(x: float) -> str:
    """A gain in accuracy as signed percentage points: +1.2 pts."""
    return f"{x * 100:+.1f} pts" if _finite(x) else "n/a"


def pts_range(lo: float, hi: float) -> str:
    """A CI in points: -9.8 to -0.9 pts."""
    if not (_finite(lo) and _finite(hi)):
        return "n/a"
    return f"{lo * 100:+.1f} to {hi * 100:+.1f} pts"


def pct(x: float) -> str:
    """An accuracy as a percentage: 91.2%."""
    return f"{x * 100:.1f}%" if _finite(x) else "n/a"


def fmt_p(p: float, name: str = "p") -> str:
    if not _finite(p):
        return f"{name} = n/a"
    return f"{name} < 0.0001" if p < 1e-4 else f"{name} = {p:.4f}"


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"
