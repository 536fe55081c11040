"""The peer's metadata loaders, served from a store built from the same metadata file.

``load_bioscan5m_metadata`` / ``load_bioscan1m_metadata`` find a store whose recorded source
file is the one asked for (:func:`matching_store`) and assemble the frame from it; with pandas
options the store cannot honour they parse the file as the peer does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np

from .. import format as fmt
from ..layouts import FrameSource, get_layout
from ..metadata import fingerprint
from ..store import Store
from .peer_columns import COLUMN_DTYPES_5M

__all__ = ["holds_barcodes", "is_default_dtype", "load_csv_5m", "matching_store"]


def is_default_dtype(dtype) -> bool:
    """Whether a loader's ``dtype`` argument is the default (ours, the peer's enum member, or its value)."""
    value = getattr(dtype, "value", dtype)
    return isinstance(value, str) and value.endswith("_default_dtypes")


def matching_store(metadata_path, store, folders: Sequence[str]) -> str | None:
    """``store`` if given, else a store in one of ``folders`` whose recorded source file is ``metadata_path``.

    A store matches when the file's size and modification time are those recorded, or, if
    only its time changed, its SHA-256.
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
        except Exception:  # noqa: S112 - an unreadable file is simply not a match
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
        if st.full_barcodes or (max_nucleotides is not None and max_nucleotides <= stored):
            return True
        return int(np.max(st.dna_full_lengths, initial=0)) <= stored


def load_csv_5m(metadata_path, max_nucleotides, reduce_repeated_barcodes, split, dtype, **kwargs):
    """The peer's CSV path (used when no store matches or pandas options are given)."""
    import pandas as pd

    if is_default_dtype(dtype):
        dtype = COLUMN_DTYPES_5M
    df = pd.read_csv(metadata_path, dtype=dtype, **kwargs)
    if max_nucleotides is not None:
        df["dna_barcode"] = df["dna_barcode"].str[:max_nucleotides]
    if reduce_repeated_barcodes:
        df = df.sample(frac=1, random_state=0)
        df["dna_barcode_strip"] = df["dna_barcode"].str.rstrip("N")
        df = df.drop_duplicates(subset=["dna_barcode_strip"])
        df = df.drop(columns=["dna_barcode_strip"]).sort_index()
    if split is not None and split != "all":
        df = df.iloc[get_layout("bioscan5m").split_rows(FrameSource(df), split)]
    for c in fmt.BIOSCAN5M_RANKS:
        df[c + "_index"] = df[c].cat.codes
    chunk = df["chunk"].astype(str) + os.path.sep
    chunk = chunk.where(df["chunk"].notna(), "")
    df["image_path"] = df["split"] + os.path.sep + chunk + df["processid"] + ".jpg"
    return df
