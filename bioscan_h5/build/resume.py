"""Going on from what an earlier build left: a partial file, or a store to extend.

A partial file is resumed only if its metadata stage finished and it was made with the same
content arguments from the same metadata file; an unreadable one is discarded. A store is
extended on a sparse copy (``<store>.partial``) that is renamed over it once complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from typing import NamedTuple

import numpy as np

from .. import format as fmt
from .._hdf5 import clear_status_flags, open_readonly
from ..errors import ResumeMismatchError
from ..format import ImageStatus
from ..layouts import SourceLayout
from ..metadata import Table
from ..pixels import codec
from ..store import load_table_columns
from .config import BuildConfig, recorded_content
from .space import check_space, human, space_errors

__all__ = ["check_same_content", "copy_for_extension", "open_partial_attrs", "pending_rows", "read_attrs"]

log = logging.getLogger("bioscan_h5.build")


def read_attrs(path: str) -> dict:
    """The root attributes of a store or partial file."""
    with open_readonly(path) as f:
        return dict(f.attrs)


def open_partial_attrs(path: str) -> dict | None:
    """Attributes of a partial file, or None if it is unusable (then it is rewritten)."""
    for attempt in range(2):
        try:
            attrs = read_attrs(path)
        except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError... on a damaged file
            if attempt == 0 and isinstance(exc, OSError) and clear_status_flags(path):
                log.warning("cleared the 'open for write' flags a killed build left in %s", path)
                continue
            log.warning("discarding unreadable partial file %s (%s)", path, exc)
            return None
        if not attrs.get(fmt.ATTR_METADATA_WRITTEN, False):
            log.warning("discarding partial file %s: its metadata stage did not finish", path)
            return None
        return attrs
    return None  # pragma: no cover


def check_same_content(attrs: dict, cfg: BuildConfig, source_fp: dict, what: str, fix: str) -> None:
    """Raise :class:`ResumeMismatchError` (``what``, the differences, ``fix``) if the store was built differently.

    The differences: its recorded content arguments against this build's, and its metadata file.
    """
    recorded = recorded_content(attrs.get(fmt.ATTR_BUILD_ARGS))
    diffs = [
        f"{k}: store has {recorded.get(k)!r}, this build asks for {v!r}"
        for k, v in cfg.content_args().items()
        if recorded.get(k) != v
    ]
    old_fp = json.loads(attrs.get(fmt.ATTR_SOURCE, "{}"))
    if old_fp.get("sha256") != source_fp.get("sha256"):
        diffs.append(
            f"metadata file changed: store was built from {old_fp.get('name')!r} "
            f"(sha256 {str(old_fp.get('sha256'))[:12]}…, {old_fp.get('size')} bytes), the file is now "
            f"sha256 {source_fp['sha256'][:12]}…, {source_fp['size']} bytes"
        )
    if diffs:
        raise ResumeMismatchError(f"{what}:\n  - " + "\n  - ".join(diffs) + f"\n{fix}")


def copy_for_extension(cfg: BuildConfig, store: str, partial: str) -> None:
    """Copy the store to the partial file, which the extension fills and renames over it.

    The store itself is never written: readers keep reading a complete store at its path.
    """
    used = os.stat(store).st_blocks * 512
    check_space(cfg, os.path.dirname(store), used)
    log.info("copying %s (%s on disk) to extend it", store, human(used))
    with space_errors(store, f"Copying {store!r} to extend it", f"; {store!r} is unchanged"):
        try:
            codec(cfg.pixels).copy_store(store, partial)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            raise


class Pending(NamedTuple):
    """What is left in a partial file: columns locating images, splits, their rows, the pending rows."""

    table: Table
    splits: list[str]
    rows: np.ndarray
    todo: np.ndarray


def pending_rows(layout: SourceLayout, partial: str, target_splits: list[str]) -> Pending:
    """Read back a partial file whose metadata stage finished: the rows still to decode."""
    with open_readonly(partial) as f:
        table = load_table_columns(f, list(layout.path_columns))
        # a DNA-only store has no image status: no row has an image to decode
        status = f[fmt.IMAGE_STATUS][()] if fmt.IMAGE_STATUS in f else np.full(table.n_rows, ImageStatus.OK)
        built = set(json.loads(f.attrs[fmt.ATTR_SPLITS_BUILT]))
    splits = sorted(built | set(target_splits))
    rows = layout.rows_for_splits(table, "+".join(splits)) if splits else np.zeros(0, np.int64)
    return Pending(table, splits, rows, rows[status[rows] == ImageStatus.PENDING])
