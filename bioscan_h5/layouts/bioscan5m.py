"""BIOSCAN-5M: ``<root>/bioscan5m/metadata/csv/...csv`` and ``images/<package>/<split>/[<chunk>/]<id>.jpg``."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .. import format as fmt
from ..metadata import Table
from ..splits import explode_metasplit_5m
from .base import ColumnSource, SourceLayout, refuse_unknown_splits, rows_in
from .paths import refuse_unsafe

__all__ = ["Bioscan5MLayout", "BIOSCAN5M_LAYOUT"]


@dataclass(frozen=True)
class Bioscan5MLayout(SourceLayout):
    """The BIOSCAN-5M root; one ``split`` column names each row's split."""

    def validate(self, table: Table, path: str) -> None:
        refuse_unknown_splits(table, path, "split", fmt.BIOSCAN5M_SPLITS, "processid")
        refuse_unsafe(path, table, "processid", "processid")
        refuse_unsafe(path, table, "chunk", "processid", allow_empty=True)

    def image_relpaths(self, source: ColumnSource, rows: np.ndarray) -> list[str]:
        ids = source.column("processid").values
        chunks = source.column("chunk").values
        split = source.column("split")
        out = []
        for r in rows:
            s = split.categories[split.codes[r]]
            c = chunks[r].decode("utf-8")
            pid = ids[r].decode("utf-8")
            out.append(f"{s}/{c}/{pid}.jpg" if c else f"{s}/{pid}.jpg")
        return out

    def explode(self, splits: str) -> list[str]:
        return sorted(explode_metasplit_5m(splits, verify=True))

    def token_rows(self, source: ColumnSource, token: str) -> np.ndarray:
        return rows_in(source, "split", [token])

    def split_rows(
        self, source: ColumnSource, split: str | None, partitioning_version: str | None = None
    ) -> np.ndarray:
        """Rows of a split or metasplit (``"pretrain+train"``, ``"seen"``, ...) in file order."""
        return rows_in(source, "split", explode_metasplit_5m(split, verify=True))


BIOSCAN5M_LAYOUT = Bioscan5MLayout(
    schema=fmt.BIOSCAN5M,
    metadata_relpath=os.path.join("metadata", "csv", "BIOSCAN_5M_Insect_Dataset_metadata.csv"),
    sep=",",
    path_columns=("processid", "chunk", "split"),
)
