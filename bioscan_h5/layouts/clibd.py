"""BIOSCAN-1M's CLIBD partition files: ``<root>/bioscan1m/CLIBD_partitioning/<split>.txt``.

Each file lists sampleids, one per line. The store keeps each file's rows in the file's order
(``/partitions/<name>``) and the base partition of every row as the ``clibd_split`` column.
"""

from __future__ import annotations

import os

import numpy as np

from .. import format as fmt
from ..columns import StoredColumn
from ..metadata import Table, metadata_error
from ..splits import CLIBD_VALID_SPLITS

__all__ = ["CLIBD_DIRNAME", "CLIBD_FILES", "add_clibd_partitions"]

CLIBD_DIRNAME = "CLIBD_partitioning"
#: Every CLIBD partition file: the ten base partitions and the two unions.
CLIBD_FILES = (*CLIBD_VALID_SPLITS, "all_keys", "no_split_and_seen_train")


def _read_partition_file(path: str) -> list[str]:
    with open(path, encoding="utf-8-sig") as fh:
        return [line.strip() for line in fh if line.strip()]


def add_clibd_partitions(table: Table, folder: str) -> None:
    """Read the partition files in ``folder`` (if it exists) into ``table``.

    Raises
    ------
    MetadataError
        A base partition file is missing, or lists a sampleid the metadata does not have.
    """
    import pandas as pd

    if not os.path.isdir(folder):
        return
    ids = table.column("sampleid").value_array
    index = pd.Index(ids)
    split_codes = np.full(table.n_rows, -1, dtype=np.int32)
    cats = sorted(CLIBD_VALID_SPLITS)
    for name in CLIBD_FILES:
        fpath = os.path.join(folder, f"{name}.txt")
        if not os.path.isfile(fpath):
            if name in CLIBD_VALID_SPLITS:
                raise metadata_error(
                    fpath,
                    None,
                    None,
                    None,
                    "this CLIBD partition file is missing",
                    f"Download CLIBD_partitioning.zip again into {folder!r} (all of {', '.join(CLIBD_FILES)}).",
                )
            continue
        sids = _read_partition_file(fpath)
        rows = index.get_indexer(np.array([s.encode("utf-8") for s in sids], dtype=ids.dtype))
        if (rows < 0).any():
            i = int(np.flatnonzero(rows < 0)[0])
            raise metadata_error(
                fpath,
                i,
                "sampleid",
                sids[i],
                "this sampleid is not in the metadata file",
                "The partition files must come from the same release as the metadata TSV.",
            )
        table.partitions[name] = rows.astype(np.int64)
        if name in CLIBD_VALID_SPLITS:
            split_codes[rows] = cats.index(name)
    table.columns["clibd_split"] = StoredColumn(
        "clibd_split", fmt.Kind.CATEGORY, codes=split_codes, categories=cats
    )
    table.header.append("clibd_split")
