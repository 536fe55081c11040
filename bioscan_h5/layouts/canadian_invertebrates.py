"""Canadian Invertebrates: ``<root>/CanadianInvertebrates/CanInv_metadata.csv``, DNA barcodes only.

A dataset of ``bioscan-dataset``'s development branch: barcodes and taxonomy of about a
million invertebrate specimens, without images. One ``split`` column names each row's split
(``pretrain``, ``train``, ``val``, ``test``, ``test_unseen``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import format as fmt
from ..errors import InvalidArgumentError
from ..metadata import Table
from ..splits import explode_metasplit_caninv
from .base import ColumnSource, SourceLayout, refuse_unknown_splits, rows_in

__all__ = ["CANADIAN_INVERTEBRATES_LAYOUT", "CanadianInvertebratesLayout"]


@dataclass(frozen=True)
class CanadianInvertebratesLayout(SourceLayout):
    """The Canadian Invertebrates root: one CSV file, no images."""

    def validate(self, table: Table, path: str) -> None:
        refuse_unknown_splits(table, path, "split", fmt.CANADIAN_INVERTEBRATES_SPLITS, "processid")

    def image_relpaths(self, source: ColumnSource, rows: np.ndarray) -> list[str]:
        raise InvalidArgumentError("Canadian Invertebrates has no images (it is a DNA-only dataset).")

    def explode(self, splits: str) -> list[str]:
        return sorted(explode_metasplit_caninv(splits, verify=True))

    def token_rows(self, source: ColumnSource, token: str) -> np.ndarray:
        return rows_in(source, "split", [token])

    def split_rows(
        self, source: ColumnSource, split: str | None, partitioning_version: str | None = None
    ) -> np.ndarray:
        """Rows of a split or metasplit (``"seen"``, ``"pretrain+train"``, ...) in file order."""
        return rows_in(source, "split", explode_metasplit_caninv(split, verify=True))


CANADIAN_INVERTEBRATES_LAYOUT = CanadianInvertebratesLayout(
    schema=fmt.CANADIAN_INVERTEBRATES,
    metadata_relpath="CanInv_metadata.csv",
    sep=",",
    path_columns=("processid", "split"),
    folder="CanadianInvertebrates",
)
