"""The peer's ``load_*_metadata`` loaders, served from a store built from the same metadata file.

Without a matching store (:func:`matching_store`), or with pandas options, the file is parsed
as the peer does.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import format as fmt
from ..layouts import SCHEMAS, FrameSource, get_layout
from ..metadata import fingerprint
from ..store import Store

__all__ = [
    "default_dtype_enum",
    "holds_barcodes",
    "is_default_dtype",
    "is_path",
    "load_peer_metadata",
    "matching_store",
]


def default_dtype_enum(prefix: str, module: str) -> Any:
    """A loader's ``MetadataDtype`` enum: its member ``DEFAULT`` stands for the peer's ``COLUMN_DTYPES``.

    A ``str`` enum, equal to its value ``"<prefix>_default_dtypes"`` (typed ``Any``: made at run time).
    """
    return enum.Enum("MetadataDtype", {"DEFAULT": f"{prefix}_default_dtypes"}, type=str, module=module)


def is_default_dtype(dtype) -> bool:
    """Whether a loader's ``dtype`` argument is the default (ours, the peer's enum member, or its value)."""
    value = getattr(dtype, "value", dtype)
    return isinstance(value, str) and value.endswith("_default_dtypes")


def matching_store(metadata_path, store, folders: Sequence[str]) -> str | None:
    """``store`` if given, else a store in one of ``folders`` whose recorded source file is ``metadata_path``.

    The file's recorded size and modification time match, or its size and SHA-256.
    """
    if store is not None:
        return os.fspath(store)
    folders = [f for f in folders if os.path.isdir(f)]
    if not folders:
        return None
    st_meta = os.stat(metadata_path)
    sha = None
    candidates = [
        os.path.join(f, name) for f in folders for name in sorted(os.listdir(f)) if name.endswith(".h5")
    ]
    for candidate in candidates:
        try:
            with Store(candidate) as st:
                fp = json.loads(st.attrs[fmt.ATTR_SOURCE])
        except Exception:  # an unreadable file is simply not a match
            continue
        if fp.get("size") != st_meta.st_size:
            continue
        if fp.get("mtime_ns") != st_meta.st_mtime_ns:
            sha = sha or fingerprint(metadata_path)["sha256"]
            if fp.get("sha256") != sha:
                continue
        return candidate
    return None


def holds_barcodes(path: str, max_nucleotides: int | None) -> bool:
    """Whether the store keeps every barcode at least ``max_nucleotides`` long (None: whole)."""
    with Store(path) as st:
        stored = st.max_nucleotides
        if stored is None or st.full_barcodes or (max_nucleotides is not None and max_nucleotides <= stored):
            return True
        return int(np.max(st.dna_full_lengths, initial=0)) <= stored


def is_path(value: Any) -> bool:
    """Whether ``value`` names a file (a ``str`` or ``os.PathLike``), not a buffer pandas reads from."""
    return isinstance(value, (str, os.PathLike))


def load_peer_metadata(
    dataset: Any,
    store_folders: list[str],
    metadata_path,
    max_nucleotides: int | None,
    reduce_repeated_barcodes: bool,
    split: str | None,
    dtype: Any,
    store: str | os.PathLike | None,
    read_csv_kwargs: dict[str, Any],
    *,
    check_barcodes: bool,
):
    """What a peer-shaped ``load_<dataset>_metadata`` returns, from a matching store if there is one.

    ``dataset`` is the dataset class (``store_file_metadata`` reads a store, ``frame_rules`` the
    file as the peer does), ``store_folders`` where its stores are, ``read_csv_kwargs`` extra
    ``pandas.read_csv`` arguments (the file is then parsed); the others are the loader's.
    ``check_barcodes``: parse the file when the store found cuts barcodes shorter than asked.
    """
    path = None
    if not read_csv_kwargs and is_default_dtype(dtype) and is_path(metadata_path):
        path = matching_store(metadata_path, store, store_folders)
    if path is not None and check_barcodes and store is None and not holds_barcodes(path, max_nucleotides):
        path = None  # its barcodes are cut shorter than asked: parse the file
    if path is not None:
        return dataset.store_file_metadata(path, split, max_nucleotides, reduce_repeated_barcodes)
    import pandas as pd

    rules, name = dataset.frame_rules, dataset.dataset_name
    barcode = SCHEMAS[name].barcode_column
    df = pd.read_csv(
        metadata_path, dtype=rules.dtypes if is_default_dtype(dtype) else dtype, **read_csv_kwargs
    )
    if max_nucleotides is not None:
        df[barcode] = df[barcode].str[:max_nucleotides]
    if reduce_repeated_barcodes:
        df = df.sample(frac=1, random_state=0)
        stripped = "_stripped_barcode"
        df[stripped] = df[barcode].str.rstrip("N")
        df = df.drop_duplicates(subset=[stripped]).drop(columns=[stripped]).sort_index()
    if split is not None and split != "all":
        df = df.iloc[get_layout(name).split_rows(FrameSource(df), split)]
    for c in rules.labels:
        if rules.image_path is None:  # the peer's Canadian Invertebrates loader makes them categories here
            df[c] = df[c].astype("category")
        df[c + "_index"] = df[c].cat.codes
    if rules.image_path is not None:
        df["image_path"] = rules.image_path(df)
    return df
