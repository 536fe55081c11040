"""``bioscan-h5 verify``: check a store against the sources it was built from."""

from __future__ import annotations

import json
import os

import numpy as np

from . import format as fmt
from .errors import BioscanH5Error
from .format import ImageStatus
from .images import decode_image, ingest
from .layouts import get_layout
from .metadata import fingerprint
from .store import open_store

__all__ = ["verify_store"]


def verify_store(store_path: str, root: str, sample: int = 64, seed: int = 0) -> list[str]:
    """Re-decode a random sample of rows from the sources and compare with the store.

    Also checks the format version, that the build completed, and that the metadata file
    is the one the store was built from.

    Returns
    -------
    list of str
        The problems found (empty when the store matches).
    """
    problems: list[str] = []
    try:
        st = open_store(store_path)
    except BioscanH5Error as exc:
        return [str(exc)]
    with st:
        layout = get_layout(st.dataset)
        meta = layout.find_metadata(root)
        recorded = json.loads(st.attrs[fmt.ATTR_SOURCE])
        if fingerprint(meta)["sha256"] != recorded.get("sha256"):
            problems.append(f"{meta} is not the metadata file the store was built from (sha256 differs)")
        from .store import load_table_columns

        table = load_table_columns(st.file, layout.path_columns)
        status = np.asarray(st.image_status)
        built = np.flatnonzero(status != ImageStatus.PENDING)
        rng = np.random.default_rng(seed)
        rows = (
            np.sort(rng.choice(built, size=min(sample, built.size), replace=False)) if built.size else built
        )
        image_dir = layout.image_dir(root, st.attrs[fmt.ATTR_IMAGE_PACKAGE])
        real = os.path.realpath(image_dir)
        for r, rel in zip(rows, layout.image_relpaths(table, rows)):
            problem = _check_row(st, int(r), os.path.join(image_dir, rel), real, int(status[r]))
            if problem:
                problems.append(f"row {r} ({rel}): {problem}")
    return problems


def _check_row(st, row: int, path: str, real: str, status: int) -> str:
    """What is wrong with a row of ``st`` against its source file ("" if nothing)."""
    size, fit, draft = st.image_size, st.attrs[fmt.ATTR_FIT], bool(st.attrs[fmt.ATTR_DRAFT])
    if st.pixels == "jpeg":  # the bytes must be the source's (or its one re-encoding)
        got, payload, _, _ = ingest(path, real, size, fit, draft, st.jpeg.quality or None)
        differs = payload is not None and payload[0] != st.jpeg.encoded(row)
        what = "bytes differ from the source file" + (" re-encoded" if st.jpeg.quality else "")
    else:
        got, pixels, _, _ = decode_image(path, size, fit, draft, real)
        differs = pixels is not None and not np.array_equal(np.asarray(st.images[row]), pixels)
        what = "pixels differ from a fresh decode of the source"
    if int(got) != status:
        return f"store says {ImageStatus(status).name}, source is {ImageStatus(int(got)).name}"
    return what if differs else ""
