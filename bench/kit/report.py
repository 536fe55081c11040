"""Tables for the benchmark programs: medians over rounds, ratios, aligned text columns."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

__all__ = ["kilo", "median", "print_table", "ratio", "spread"]


def median(values: Sequence[float]) -> float | None:
    """The median of the values that exist, or None."""
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def spread(values: Sequence[float]) -> str:
    """``min-max`` of several rounds, in thousands (``""`` for one round)."""
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return ""
    return f"{min(vals) / 1e3:.1f}-{max(vals) / 1e3:.1f}k"


def kilo(x: float | None, unit: str = "") -> str:
    """``23.9k`` style, ``-`` for a missing value."""
    if x is None:
        return "-"
    return f"{x / 1e3:.1f}k{unit}" if x >= 1e3 else f"{x:.0f}{unit}"


def ratio(a: float | None, b: float | None, fmt: str = "{:.2f}x") -> str:
    """``a / b`` formatted, ``-`` when either is missing."""
    if a is None or b is None or b == 0:
        return "-"
    return fmt.format(a / b)


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]], note: str = "") -> None:
    """Print a titled table with left-aligned columns (and a note under it)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    print("  " + "  ".join("-" * w for w in widths))
    for r in cells:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
    if note:
        print(f"  {note}")
