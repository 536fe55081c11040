"""The peer's metadata loaders, served from a store built from the same metadata file.

``load_bioscan5m_metadata`` / ``load_bioscan1m_metadata`` find a store whose recorded source
file is the one asked for (:func:`matching_store`) and assemble the frame from it; with pandas
options the store cannot honour they parse the file as the peer does.
"""

from __future__ import annotations

import json
import os

import numpy as np

from .. import format as fmt
from ..layouts import FrameSource, get_layout
from ..metadata import fingerprint
from ..store import Store

__all__ = ["PEER_DTYPES_5M", "holds_barcodes", "load_csv_5m", "matching_store"]

#: Column dtypes bioscan-dataset reads the BIOSCAN-5M CSV with (used when the CSV itself is parsed).
PEER_DTYPES_5M = {
    "processid": str,
    "sampleid": str,
    "taxon": "category",
    **dict.fromkeys(fmt.BIOSCAN5M_RANKS, "category"),
    "dna_barcode": str,
    "country": "category",
    "province_state": "category",
    "coord-lat": float,
    "coord-lon": float,
    "image_measurement_value": float,
    "area_fraction": float,
    "scale_factor": float,
    "inferred_ranks": "uint8",
    "split": str,
    "index_bioscan_1M_insect": "Int64",
    "chunk": str,
}


def matching_store(metadata_path, store, levels: int = 3) -> str | None:
    """A store under the dataset folder whose recorded source file is ``metadata_path``.

    ``levels``: folders between the dataset folder and the metadata file (3 for BIOSCAN-5M's
    ``metadata/csv/``, 1 for BIOSCAN-1M).
    """
    if store is not None:
        return os.fspath(store)
    meta_dir = os.path.abspath(os.fspath(metadata_path))
    for _ in range(levels):
        meta_dir = os.path.dirname(meta_dir)
    folder = os.path.join(meta_dir, fmt.STORE_DIRNAME)
    if not os.path.isdir(folder):
        return None
    st_meta = os.stat(metadata_path)
    sha = None
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".h5"):
            continue
        try:
            with Store(os.path.join(folder, name)) as st:
                fp = json.loads(st.attrs[fmt.ATTR_SOURCE])
        except Exception:  # noqa: S112 - an unreadable file is simply not a match
            continue
        if fp.get("size") != st_meta.st_size:
            continue
        if fp.get("mtime_ns") != st_meta.st_mtime_ns:
            sha = sha or fingerprint(metadata_path)["sha256"]
            if fp.get("sha256") != sha:
                continue
        return os.path.join(folder, name)
    return None


def holds_barcodes(path: str, max_nucleotides: int | None) -> bool:
    """Whether the store keeps every barcode at least ``max_nucleotides`` long (None: whole)."""
    with Store(path) as st:
        stored = st.max_nucleotides
        if stored is None or (max_nucleotides is not None and max_nucleotides <= stored):
            return True
        return int(np.max(st.dna_full_lengths, initial=0)) <= stored


def load_csv_5m(metadata_path, max_nucleotides, reduce_repeated_barcodes, split, dtype, **kwargs):
    """The peer's CSV path (used when no store matches or pandas options are given)."""
    import pandas as pd

    if dtype == "BIOSCAN5M_default_dtypes":
        dtype = PEER_DTYPES_5M
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
