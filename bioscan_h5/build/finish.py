"""Stage 3: summary attributes, ``complete = True``, the build report, then the rename into place."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np

from .. import format as fmt
from .._files import fsync_dir, fsync_path
from .._hdf5 import open_readonly
from ..checksums import update_image_blocks
from ..format import ImageStatus
from ..layouts import SourceLayout
from ..metadata import Table
from ..pixels import codec_of
from .config import BuildConfig, BuildResult
from .stage_metadata import json_attr

__all__ = ["finish"]


def finish(
    cfg: BuildConfig,
    layout: SourceLayout,
    partial: str,
    store: str,
    all_splits: list[str],
    bad: dict[int, str],
    table: Table,
) -> BuildResult:
    """Mark ``partial`` complete, write the report beside ``store``, then rename ``partial`` to ``store``.

    ``bad``: this run's failed rows -> the decoder's message; ``all_splits``: the splits the store holds.
    """
    with open_readonly(partial) as f:
        status = f[fmt.IMAGE_STATUS][()] if fmt.IMAGE_STATUS in f else np.zeros(0, fmt.STATUS_DTYPE)
    counts = {s.name: int(c) for s, c in zip(ImageStatus, np.bincount(status, minlength=len(ImageStatus)))}
    with h5py.File(partial, "r+", locking=False) as f:
        update_image_blocks(f, codec_of(f.attrs, partial).image_arrays)
        f.attrs[fmt.ATTR_COUNTS] = json_attr(counts)
        f.attrs[fmt.ATTR_SPLITS_BUILT] = json_attr(all_splits)
        f.attrs[fmt.ATTR_COMPLETE] = True
    fsync_path(partial)
    bad_rows = _bad_rows(layout, table, status, bad)
    summary = {
        "store": os.path.basename(store),
        "image_dir": layout.image_dir(cfg.root, cfg.image_package),
        "counts": counts,
        "image_splits": all_splits,
        "bad_images": bad_rows,
    }
    report = fmt.report_path(store)
    with open(report + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=1, ensure_ascii=False)
    os.replace(report + ".tmp", report)
    # Last: once the store has its name a rerun finds it up to date, so the report must exist.
    os.replace(partial, store)
    fsync_dir(store)
    return BuildResult(store=store, n_rows=table.n_rows, counts=counts, bad_rows=bad_rows, report=report)


def _bad_rows(layout: SourceLayout, table: Table, status: np.ndarray, bad: dict[int, str]) -> list[dict]:
    """The report's entry for every row whose image is flagged bad."""
    rows = np.flatnonzero(status > ImageStatus.OK)
    if not rows.size:
        return []
    ids = table.columns[layout.schema.id_column].value_array
    out = []
    for r, path in zip(rows.tolist(), layout.image_relpaths(table, rows)):
        st = ImageStatus(int(status[r]))
        row = {"row": r, "id": ids[r].decode("utf-8"), "path": path, "status": st.name, "reason": st.reason}
        out.append({**row, "detail": bad.get(r, "")})
    return out
