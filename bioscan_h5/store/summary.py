"""``Store.info()``: a summary of a store for ``bioscan-h5 info`` and notebooks."""

from __future__ import annotations

import json
import os

import numpy as np

from .. import format as fmt
from ..format import ImageStatus

__all__ = ["store_info"]


def store_info(st) -> dict:
    """Rows per split, images decoded, shape, size on disk, labelled fraction per rank of a store."""
    disk = os.stat(st.path)
    status = np.asarray(st.image_status)
    counts = {
        s.name.lower(): int(c) for s, c in zip(ImageStatus, np.bincount(status, minlength=len(ImageStatus)))
    }
    split = st.column(st.schema.split_columns[0])
    split_codes = np.asarray(split.codes)
    per_split = {}
    for i, name in enumerate(split.categories):
        sel = split_codes == i
        per_split[name] = {"rows": int(sel.sum()), "images": int((status[sel] == ImageStatus.OK).sum())}
    n = max(st.n_rows, 1)
    labelled = {r: round(float((np.asarray(st.labels[r]) >= 0).sum()) / n, 4) for r in st.schema.ranks}
    images = st.has_images
    return {
        "path": st.path,
        "dataset": st.dataset,
        "format_version": int(st.attrs[fmt.ATTR_VERSION]),
        "rows": st.n_rows,
        "image_package": st.attrs.get(fmt.ATTR_IMAGE_PACKAGE) if images else None,
        "image_shape": [st.image_size, st.image_size, 3] if images else None,
        "fit": st.attrs.get(fmt.ATTR_FIT) if images else None,
        "compression": st.attrs.get(fmt.ATTR_COMPRESSION) or None,
        "memory_mapped": st.memory_mapped if images else False,
        "max_nucleotides": st.max_nucleotides,
        "full_barcodes": st.full_barcodes,
        "image_splits": json.loads(st.attrs.get(fmt.ATTR_SPLITS_BUILT, "[]")),
        "images": counts,
        "bad_images": int(sum(v for k, v in counts.items() if k not in ("ok", "pending"))),
        "rows_per_split": per_split,
        "labelled_fraction": labelled,
        "size_bytes": disk.st_size,
        "size_on_disk_bytes": disk.st_blocks * 512,
        "tokenizations": st.tokenizations,
        **_pixel_summary(st, counts["ok"]),
        "complete": bool(st.attrs.get(fmt.ATTR_COMPLETE)),
        "checksums": st.has_checksums,
    }


def _pixel_summary(st, n_ok: int) -> dict:
    """The store's kind, and the bytes its images take (in all, and per decoded image)."""
    if not st.has_images:  # a DNA-only store: no pixels of either kind
        return {"pixels": None, "jpeg_quality": None, "image_bytes": 0, "bytes_per_image": 0}
    kind = st.codec.summary(st, n_ok)
    return {
        "pixels": st.codec.name,
        **kind,
        "bytes_per_image": round(kind["image_bytes"] / n_ok) if n_ok else 0,
    }
