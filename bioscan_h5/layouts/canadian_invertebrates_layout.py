"""Canadian Invertebrates' store schema, file, split rules and peer columns (torch-free).

Root: ``<root>/CanadianInvertebrates/CanInv_metadata.csv``, DNA barcodes only; one ``split``
column names each row's split. The dataset class is in :mod:`bioscan_h5.canadian_invertebrates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ..format import ColumnSpec, DatasetSchema, Kind
from ..splits import explode_named
from .base import ColumnSource, SourceLayout

__all__ = [
    "CANADIAN_INVERTEBRATES_LAYOUT",
    "CANADIAN_INVERTEBRATES_RANKS",
    "CANADIAN_INVERTEBRATES_SCHEMA",
    "CANADIAN_INVERTEBRATES_SPLITS",
    "CANINV_METASPLITS",
    "CANINV_SEEN_SPLITS",
    "CANINV_SPLIT_ALIASES",
    "CANINV_UNSEEN_SPLITS",
    "COLUMN_DTYPES_CANINV",
    "LABELS_CANINV",
    "USECOLS_CANINV",
    "CanadianInvertebratesLayout",
    "explode_metasplit_caninv",
]

# ---------------------------------------------------------------- the store schema
#: Barcodes and taxonomy, no images. Its stores hold no ``/images``, ``/image_status`` or
#: ``/image_source_size``; ``image_package`` is ``""``, ``image_size`` 0.
CANADIAN_INVERTEBRATES_RANKS = ("phylum", "class", "order", "family", "genus", "species", "dna_bin")
CANADIAN_INVERTEBRATES_SPLITS = ("pretrain", "train", "val", "test", "test_unseen")
CANADIAN_INVERTEBRATES_SCHEMA = DatasetSchema(
    name="canadian_invertebrates",
    columns=(
        ColumnSpec("processid", Kind.STRING),
        ColumnSpec("sampleid", Kind.STRING, required=False),
        *(ColumnSpec(r, Kind.CATEGORY) for r in CANADIAN_INVERTEBRATES_RANKS),
        ColumnSpec("sequence_len", Kind.FLOAT, required=False),
        ColumnSpec("split", Kind.CATEGORY),
    ),
    id_column="processid",
    barcode_column="dna_barcode",
    ranks=CANADIAN_INVERTEBRATES_RANKS,
    split_columns=("split",),
    has_images=False,
)

# ---------------------------------------------------------------- split rules
CANINV_SPLIT_ALIASES = {"validation": "val"}
CANINV_METASPLITS = ("all", "seen", "unseen")
CANINV_SEEN_SPLITS = ("train", "val", "test")
CANINV_UNSEEN_SPLITS = ("test_unseen",)


def explode_metasplit_caninv(metasplit: str | None, verify: bool = False) -> set[str]:
    """The Canadian Invertebrates splits a (meta)split name stands for (``ValueError`` for another
    name with ``verify``): ``"seen"`` = train+val+test, ``"unseen"`` = test_unseen, ``"all"`` (or
    None) = every split, ``"+"`` joins, and ``"validation"`` is an alias of ``"val"``."""
    splits = CANADIAN_INVERTEBRATES_SPLITS
    members = {"all": splits, "seen": CANINV_SEEN_SPLITS, "unseen": CANINV_UNSEEN_SPLITS}
    return explode_named(metasplit, verify, splits, CANINV_SPLIT_ALIASES, members)


# ---------------------------------------------------------------- the peer's columns
#: The dtypes ``load_canadian_invertebrates_metadata`` reads the Canadian Invertebrates CSV with.
COLUMN_DTYPES_CANINV: dict[str, Any] = {
    "processid": str,
    "sampleid": str,
    "dna_bin": "category",
    **dict.fromkeys(CANADIAN_INVERTEBRATES_RANKS[:-1], "category"),
    "dna_barcode": str,
    "sequence_len": float,
    "split": "category",
}
#: The columns ``CanadianInvertebrates`` reads.
USECOLS_CANINV: list[str] = [
    "processid",
    "dna_bin",
    *CANADIAN_INVERTEBRATES_RANKS[:-1],
    "dna_barcode",
    "split",
]
LABELS_CANINV: tuple[str, ...] = CANADIAN_INVERTEBRATES_RANKS


# ---------------------------------------------------------------- the root layout
@dataclass(frozen=True)
class CanadianInvertebratesLayout(SourceLayout):
    """The Canadian Invertebrates root: one CSV file, no images."""

    def metasplit(self, name: str | None) -> set[str]:
        return explode_metasplit_caninv(name, verify=True)

    def image_relpaths(self, source: ColumnSource, rows: np.ndarray) -> list[str]:
        raise InvalidArgumentError("Canadian Invertebrates has no images (it is a DNA-only dataset).")


CANADIAN_INVERTEBRATES_LAYOUT = CanadianInvertebratesLayout(
    schema=CANADIAN_INVERTEBRATES_SCHEMA,
    metadata_relpath="CanInv_metadata.csv",
    sep=",",
    path_columns=("processid", "split"),
    folder="CanadianInvertebrates",
    splits=CANADIAN_INVERTEBRATES_SPLITS,
)
