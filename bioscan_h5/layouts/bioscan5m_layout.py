"""BIOSCAN-5M's store schema, files, split rules and peer columns (torch-free: builder and store use it).

Root: ``<root>/bioscan5m/metadata/csv/...csv`` and ``images/<package>/<split>/[<chunk>/]<id>.jpg``.
The dataset class and the peer's module-level names are in :mod:`bioscan_h5.bioscan5m`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..format import ColumnSpec, DatasetSchema, Kind
from ..metadata import Table
from ..splits import explode_named
from .base import ColumnSource, SourceLayout
from .paths import refuse_unsafe

__all__ = [
    "BIOSCAN5M_LAYOUT",
    "BIOSCAN5M_RANKS",
    "BIOSCAN5M_SCHEMA",
    "BIOSCAN5M_SPLITS",
    "CLIBD_5M_GROUPS",
    "COLUMN_DTYPES_5M",
    "LABELS_5M",
    "SEEN_SPLITS_5M",
    "SPLIT_ALIASES_5M",
    "UNSEEN_SPLITS_5M",
    "USECOLS_5M",
    "VALID_METASPLITS_5M",
    "Bioscan5MLayout",
    "explode_metasplit_5m",
    "image_path_5m",
    "image_paths_5m",
]

# ---------------------------------------------------------------- the store schema
_C, _S, _F, _I = Kind.CATEGORY, Kind.STRING, Kind.FLOAT, Kind.INT

BIOSCAN5M_RANKS = ("phylum", "class", "order", "family", "subfamily", "genus", "species", "dna_bin")
BIOSCAN5M_SPLITS = (
    "pretrain",
    "train",
    "val",
    "test",
    "key_unseen",
    "val_unseen",
    "test_unseen",
    "other_heldout",
)

#: The numeric columns: where each specimen was found, and its size in the image.
_MEASURES = ("coord-lat", "coord-lon", "image_measurement_value", "area_fraction", "scale_factor")
BIOSCAN5M_SCHEMA = DatasetSchema(
    name="bioscan5m",
    columns=(
        ColumnSpec("processid", _S),
        ColumnSpec("sampleid", _S),
        ColumnSpec("taxon", _C),
        *(ColumnSpec(r, _C) for r in BIOSCAN5M_RANKS),
        ColumnSpec("country", _C),
        ColumnSpec("province_state", _C),
        *(ColumnSpec(c, _F) for c in _MEASURES),
        ColumnSpec("inferred_ranks", _I),
        ColumnSpec("split", _C),
        ColumnSpec("index_bioscan_1M_insect", _I),
        ColumnSpec("chunk", _S),
    ),
    id_column="processid",
    barcode_column="dna_barcode",
    ranks=BIOSCAN5M_RANKS,
    split_columns=("split",),
)

# ---------------------------------------------------------------- split rules
SPLIT_ALIASES_5M = {"validation": "val"}
VALID_METASPLITS_5M = ("all", "seen", "unseen")
SEEN_SPLITS_5M = ("train", "val", "test")
UNSEEN_SPLITS_5M = ("key_unseen", "val_unseen", "test_unseen")
#: CLIBD's BIOSCAN-5M group names (its ``generate_hdf5_file_5m.py``), accepted as split names:
#: the splits each stands for (``val_unseen``, ``test_unseen``, ``other_heldout`` are splits).
CLIBD_5M_GROUPS = {
    "all_keys": ("train", "key_unseen"),
    "seen_keys": ("train",),
    "unseen_keys": ("key_unseen",),
    "val_seen": ("val",),
    "test_seen": ("test",),
    "no_split_and_seen_train": ("pretrain", "train"),
}


def explode_metasplit_5m(metasplit: str | None, verify: bool = False) -> set[str]:
    """The BIOSCAN-5M splits a (meta)split name stands for (``ValueError`` for another name with ``verify``).

    ``"pretrain+train"`` is a union, ``"seen"`` = train+val+test, ``"unseen"`` =
    key_unseen+val_unseen+test_unseen, ``"all"`` (or None) = every split, and ``"validation"``
    is an alias of ``"val"``. CLIBD's group names (:data:`CLIBD_5M_GROUPS`) stand for their
    splits too; error messages list the peer's names only, as ``bioscan-dataset`` does.
    """
    members = {"all": BIOSCAN5M_SPLITS, "seen": SEEN_SPLITS_5M, "unseen": UNSEEN_SPLITS_5M}
    return explode_named(metasplit, verify, BIOSCAN5M_SPLITS, SPLIT_ALIASES_5M, members, CLIBD_5M_GROUPS)


# ---------------------------------------------------------------- the peer's columns
#: The dtypes ``load_bioscan5m_metadata`` reads the BIOSCAN-5M CSV with.
COLUMN_DTYPES_5M: dict[str, Any] = {
    "processid": str,
    "sampleid": str,
    "taxon": "category",
    **dict.fromkeys(BIOSCAN5M_RANKS, "category"),
    "dna_barcode": str,
    "country": "category",
    "province_state": "category",
    **dict.fromkeys(_MEASURES, float),
    "inferred_ranks": "uint8",
    "split": str,
    "index_bioscan_1M_insect": "Int64",
    "chunk": str,
}
#: The columns ``BIOSCAN5M`` reads (its frame keeps them in the file's order).
USECOLS_5M: list[str] = [
    "processid",
    "chunk",
    *BIOSCAN5M_RANKS,
    "dna_barcode",
    "country",
    "province_state",
    *_MEASURES,
    "split",
]
#: The columns given a ``<column>_index`` column, in the order they are added.
LABELS_5M: tuple[str, ...] = BIOSCAN5M_RANKS


# ---------------------------------------------------------------- the root layout
def image_path_5m(split: str, chunk: str, processid: str) -> str:
    """A BIOSCAN-5M image file, relative to its image package folder (the peer's ``image_path``).

    ``<split>/<chunk>/<processid>.jpg``, or ``<split>/<processid>.jpg`` where ``chunk`` is ``""``.
    """
    folder = f"{chunk}{os.path.sep}" if chunk else ""
    return f"{split}{os.path.sep}{folder}{processid}.jpg"


def image_paths_5m(frame: Any) -> Any:
    """:func:`image_path_5m` for every row of a metadata DataFrame, vectorised as the peer's loader
    does it (a Series; NaN where ``split`` or ``processid`` is missing)."""
    chunk = frame["chunk"].astype(str) + os.path.sep
    chunk = chunk.where(frame["chunk"].notna(), "")
    return frame["split"] + os.path.sep + chunk + frame["processid"] + ".jpg"


@dataclass(frozen=True)
class Bioscan5MLayout(SourceLayout):
    """The BIOSCAN-5M root; one ``split`` column names each row's split."""

    def metasplit(self, name: str | None) -> set[str]:
        return explode_metasplit_5m(name, verify=True)

    def validate(self, table: Table, path: str) -> None:
        super().validate(table, path)
        refuse_unsafe(path, table, "processid", "processid")
        refuse_unsafe(path, table, "chunk", "processid", allow_empty=True)

    def image_relpaths(self, source: ColumnSource, rows: np.ndarray) -> list[str]:
        ids = source.column("processid").value_array
        chunks = source.column("chunk").value_array
        split = source.column("split")
        names, codes = split.category_names, split.category_codes
        return [image_path_5m(names[codes[r]], chunks[r].decode(), ids[r].decode()) for r in rows]


BIOSCAN5M_LAYOUT = Bioscan5MLayout(
    schema=BIOSCAN5M_SCHEMA,
    metadata_relpath=os.path.join("metadata", "csv", "BIOSCAN_5M_Insect_Dataset_metadata.csv"),
    sep=",",
    path_columns=("processid", "chunk", "split"),
    splits=BIOSCAN5M_SPLITS,
)
