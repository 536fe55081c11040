"""Fixtures of the fault suite: generated roots (made once, copied per test) and the recorder.

``fault_root(n_rows=..., seed=..., faults=..., dataset=...)``
    A private copy of a root written by ``tools/make_sample_data.py`` (``cropped_256`` only),
    free to modify. Each distinct set of arguments is generated once per session.
``shared_root(...)``
    The same roots, not copied: read-only (build with ``--out`` elsewhere).
``record(fault, did, lost)``
    Adds a row to the reliability table when ``$BIOSCAN_H5_RELIABILITY_LOG`` is set; the
    section is the test module's ``SECTION``. Call it after the checks, so that only what
    was verified is documented.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tools import make_sample_data

from ._helpers import append_row, sanitize


class _Roots:
    """Generate each distinct root once per session."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.made: dict[str, Path] = {}

    def get(self, dataset: str = "bioscan5m", **kw: object) -> Path:
        kw = {"n_rows": 64, "seed": 0, "faults": False, **kw}
        key = json.dumps([dataset, kw], sort_keys=True)
        if key not in self.made:
            root = self.base / f"root{len(self.made)}"
            make = {
                "bioscan5m": make_sample_data.make_bioscan5m_root,
                "bioscan1m": make_sample_data.make_bioscan1m_root,
            }[dataset]
            make(root, packages=("cropped_256",), **kw)
            self.made[key] = root
        return self.made[key]


@pytest.fixture(scope="session")
def _roots(tmp_path_factory) -> _Roots:
    return _Roots(tmp_path_factory.mktemp("fault-roots"))


@pytest.fixture
def shared_root(_roots) -> Callable[..., Path]:
    """``shared_root(dataset="bioscan5m", n_rows=64, seed=0, faults=False) -> Path``: read-only."""
    return _roots.get


@pytest.fixture
def fault_root(_roots, tmp_path) -> Callable[..., Path]:
    """``fault_root(dataset="bioscan5m", n_rows=64, seed=0, faults=False) -> Path``: a private copy."""
    counter = iter(range(1_000_000))

    def make(dataset: str = "bioscan5m", **kw: object) -> Path:
        dest = tmp_path / f"root{next(counter)}"
        shutil.copytree(_roots.get(dataset, **kw), dest, symlinks=True)
        return dest

    return make


@pytest.fixture
def record(request) -> Callable[[str, str, str], None]:
    """``record(fault, did, lost)``: one row of ``docs/reliability.md`` (see the module notes)."""
    section = getattr(request.module, "SECTION", request.module.__name__)

    def add(fault: str, did: str, lost: str) -> None:
        append_row(
            {
                "section": section,
                "fault": sanitize(fault),
                "did": sanitize(did, limit=600),
                "lost": sanitize(lost),
                "test": request.node.nodeid,
            }
        )

    return add
