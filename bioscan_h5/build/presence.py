"""Whether a split's image files are there, checked before any pixel of it is allocated or written.

A split whose files are absent is refused when it was asked for by name, and left out (with
a warning) from ``--splits all``; a few absent files inside a present split are flagged rows.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..errors import SourceFileNotFoundError
from ..layouts import SourceLayout
from ..metadata import Table
from .config import BuildConfig

__all__ = ["ABSENT_SHARE", "AbsentSplit", "absent_files", "check_presence"]

log = logging.getLogger("bioscan_h5.build")

#: A split counts as absent when more than this share of its image files is missing (fewer
#: are flagged rows, as a bad file is: the build's summary counts them).
ABSENT_SHARE = 0.5


@dataclass(frozen=True)
class AbsentSplit:
    """A split, ``absent`` of whose ``total`` image files are missing from their common ``folder``."""

    split: str
    absent: int
    total: int
    folder: str

    def describe(self) -> str:
        return f"split {self.split!r}: {self.absent} of its {self.total} image files are absent from {self.folder!r}"


def absent_files(image_dir: str, relpaths: list[str]) -> list[str]:
    """The paths (relative to ``image_dir``) of ``relpaths`` that are not there: one listing per folder."""
    by_folder: dict[str, list[str]] = defaultdict(list)
    for rel in relpaths:
        folder, name = os.path.split(rel)
        by_folder[folder].append(name)
    absent: list[str] = []
    for folder, names in by_folder.items():
        try:
            present = set(os.listdir(os.path.join(image_dir, folder)))
        except (FileNotFoundError, NotADirectoryError):
            present = set()
        absent.extend(os.path.join(folder, n) for n in names if n not in present)
    return absent


def check_presence(
    cfg: BuildConfig, layout: SourceLayout, table: Table, splits: list[str], pending: np.ndarray | None = None
) -> list[str]:
    """The ``splits`` (canonical tokens) whose image files are there.

    Where the user named them an absent one raises :class:`SourceFileNotFoundError`; where they
    stand for ``all`` it is left out. ``pending``: only these rows still need their image.
    """
    image_dir = layout.image_dir(cfg.root, cfg.image_package)
    named = cfg.splits.strip() != "all" or splits == ["all"]
    kept, left_out = [], []
    for token in splits:
        rows = layout.rows_for_splits(table, token)
        if pending is not None:
            rows = rows[np.isin(rows, pending)]
        absent = absent_files(image_dir, layout.image_relpaths(table, rows))
        if len(absent) <= ABSENT_SHARE * len(rows):  # no rows: nothing absent
            kept.append(token)
            continue
        folders = {os.path.dirname(a) for a in absent}
        common = os.path.commonpath([os.path.join(image_dir, f) for f in folders])
        left_out.append(AbsentSplit(token, len(absent), len(rows), common))
    if left_out and named:
        names = "+".join(a.split for a in left_out)
        lines = "\n".join(f"  {a.describe()}" for a in left_out)
        raise SourceFileNotFoundError(
            f"Cannot build the images of {names}: their image files are not there.\n{lines}\n"
            "A store would hold no pixels for them. Download them (`bioscan-h5 download --dataset"
            f" {layout.schema.name} --root ROOT --splits {names}`, or download=True), build only the splits"
            " whose images you have (--splits), or read barcodes and labels alone (modality=('dna',), or"
            f" --no-images). The build command was: {cfg.command()}"
        )
    for gone in left_out:
        message = "left out %s; download them (bioscan-h5 download --splits %s) and build again to add them"
        log.warning(message, gone.describe(), shlex.quote(gone.split))
    return kept
