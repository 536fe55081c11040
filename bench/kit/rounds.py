"""Run measurement cells in fresh processes, round after round, rotated, with the cache set per cell."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import defaultdict

import numpy as np

from .data import run_json
from .system import make_cold, warm

__all__ = ["Cell", "Orders", "run_rounds"]


@dataclasses.dataclass
class Cell:
    """One measurement: a row of a table, run once per round in a fresh process.

    ``spec`` goes to ``python -m module`` as JSON, with the round's ``order`` (the epoch's
    dataset indices, or the per-sample subset when ``subset``), ``warmup`` and ``seed``
    added. ``files`` are read once before the cell (warm) or evicted (``cold``).
    """

    group: str
    name: str
    spec: dict
    files: list[str]
    python: str = sys.executable
    module: str = "bench.kit.cells"
    cold: bool = False
    subset: bool = False


@dataclasses.dataclass
class Orders:
    """Each round's epoch: ``n`` random dataset indices of ``0..pool-1`` in random order (``.npy``).

    The warm-up indices are the last ``warmup`` of the ``total``; ``subset`` is how many of
    the epoch's indices the per-sample cells read.
    """

    folder: str
    total: int
    pool: int
    n: int
    warmup: int
    subset: int

    def warmup_file(self) -> str:
        path = os.path.join(self.folder, f"warmup_{self.total}_{self.warmup}.npy")
        np.save(path, np.arange(self.total - self.warmup, self.total, dtype=np.int64))
        return path

    def epoch_file(self, r: int, subset: bool) -> str:
        order = np.random.default_rng(1000 + r).choice(self.pool, self.n, replace=False).astype(np.int64)
        if subset:
            order = order[: self.subset]
        tag = f"{self.total}_{self.n}_r{r}{'_sub' if subset else ''}"
        path = os.path.join(self.folder, f"order_{tag}.npy")
        np.save(path, order)
        return path


def run_rounds(cells: list[Cell], rounds: int, orders: Orders) -> dict[tuple[str, str], list[dict | None]]:
    """Every cell once per round; round ``r`` starts at cell ``r`` (rotation). Failures are ``None``."""
    results: dict[tuple[str, str], list[dict | None]] = defaultdict(list)
    warm_up = orders.warmup_file()
    total = rounds * len(cells)
    for r in range(rounds):
        k = r % len(cells) if cells else 0
        for i, c in enumerate(cells[k:] + cells[:k]):
            how = make_cold(c.files) if c.cold else "warm"
            spec = {**c.spec, "order": orders.epoch_file(r, c.subset), "warmup": warm_up, "seed": r}
            if not c.cold:
                warm(c.files)
            label = f"[{r * len(cells) + i + 1}/{total}] {c.group}: {c.name} ({how})"
            try:
                res = run_json([c.python, "-m", c.module, json.dumps(spec)])
                res["cache"] = how
                print(f"{label}: {res['n'] / res['seconds']:,.0f}/s", file=sys.stderr, flush=True)
            except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
                print(f"{label}: FAILED {e}", file=sys.stderr, flush=True)
                res = None
            results[(c.group, c.name)].append(res)
    return results
