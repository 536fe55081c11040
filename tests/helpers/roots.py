"""Generated BIOSCAN-shaped roots: :class:`SampleRoot` and the session cache behind ``make_root``.

Roots come from the project's own sample-data tool (``tools/make_sample_data.py``). Each
distinct set of generator arguments is generated once per session (:class:`RootCache`) and
then *copied* for every test that asks for it, so a test may change its root without
affecting any other test. The fixtures are in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from tools import make_sample_data

#: Generator arguments of ``sample_root_5m`` (and of ``make_root()`` without arguments).
DEFAULT_5M = {"n_rows": 320, "seed": 0, "packages": ("cropped_256",), "faults": True}
#: Metadata file of each dataset, relative to its dataset folder.
_METADATA = {
    "bioscan5m": "metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv",
    "bioscan1m": "BIOSCAN_Insect_Dataset_metadata.tsv",
}


@dataclass
class SampleRoot:
    """A generated dataset root and the manifest the sample-data tool wrote for it.

    Attributes
    ----------
    root : pathlib.Path
        The folder holding ``bioscan5m/`` (or ``bioscan1m/``): the ``root`` argument of the
        datasets and of ``bioscan-h5 build --root``.
    manifest : dict
        ``SAMPLE_MANIFEST.json`` (see ``make_sample_data.make_bioscan5m_root``).
    dataset : str
        ``"bioscan5m"`` or ``"bioscan1m"``.
    """

    root: Path
    manifest: dict[str, Any]
    dataset: str = "bioscan5m"
    _frames: dict = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return int(self.manifest["n_rows"])

    @property
    def dataset_dir(self) -> Path:
        return self.root / self.dataset

    @property
    def metadata(self) -> Path:
        """The metadata file (CSV for BIOSCAN-5M, TSV for BIOSCAN-1M)."""
        return self.dataset_dir / _METADATA[self.dataset]

    def image_dir(self, package: str = "cropped_256") -> Path:
        return self.dataset_dir / "images" / package

    def faults(self, package: str = "cropped_256") -> list[dict]:
        """The manifest's fault records of one package (row, processid, path, kind, ...)."""
        return [f for f in self.manifest["faults"] if f["package"] == package]

    def fault_row(self, kind: str, package: str = "cropped_256") -> int:
        """The row given a fault of this kind (``zero_bytes``, ``cmyk``, ...)."""
        return next(f["row"] for f in self.faults(package) if f["kind"] == kind)

    def fault_path(self, kind: str, package: str = "cropped_256") -> Path:
        return self.root / next(f["path"] for f in self.faults(package) if f["kind"] == kind)

    @property
    def undecodable_rows(self) -> list[int]:
        return list(self.manifest["undecodable_rows"])

    @cached_property
    def peer_frame(self):
        """The metadata as ``bioscan_dataset.load_bioscan5m_metadata`` returns it (all rows).

        Has the peer's ``<rank>_index`` and ``image_path`` columns; ``max_nucleotides=None``.
        """
        if self.dataset != "bioscan5m":
            raise NotImplementedError("peer_frame is for BIOSCAN-5M roots")
        from bioscan_dataset import load_bioscan5m_metadata

        return load_bioscan5m_metadata(str(self.metadata), max_nucleotides=None)

    def image_path(self, row: int, package: str = "cropped_256") -> Path:
        """Where the image of a row lives (from the peer's ``image_path`` column)."""
        return self.image_dir(package) / self.peer_frame["image_path"].iloc[row]

    def split_rows(self, split: str) -> np.ndarray:
        """Rows of one split, in file order."""
        return np.flatnonzero(self.peer_frame["split"].to_numpy() == split)


def _freeze(kw: dict) -> str:
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}, sort_keys=True)


class RootCache:
    """Generate each distinct root once per session; hand out copies."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.roots: dict[str, SampleRoot] = {}

    def get(self, dataset: str, kw: dict) -> SampleRoot:
        key = dataset + _freeze(kw)
        if key not in self.roots:
            root = self.base / f"root{len(self.roots)}"
            make = {
                "bioscan5m": make_sample_data.make_bioscan5m_root,
                "bioscan1m": make_sample_data.make_bioscan1m_root,
            }[dataset]
            manifest = make(root, **kw)
            self.roots[key] = SampleRoot(root, manifest, dataset)
        return self.roots[key]

    def copy(self, dataset: str, kw: dict, dest: Path) -> SampleRoot:
        src = self.get(dataset, kw)
        shutil.copytree(src.root, dest, symlinks=True)
        return SampleRoot(dest, json.loads(json.dumps(src.manifest)), dataset)
