"""Build a store from an official dataset root in three stages, each safe to kill and to rerun.

1. metadata (:mod:`.stage_metadata`); 2. images, through the pixel kind's writer, rows marked
done once durable (:mod:`.stage_images`); 3. finish and atomic rename (:mod:`.finish`). Rerunning
with more splits extends the store on a copy (:mod:`.resume`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time

import numpy as np

from .. import format as fmt
from ..format import ImageStatus
from ..layouts import SourceLayout, get_layout
from ..metadata import fingerprint
from ..pixels import codec
from ..store.validate import attr_value, check_identity
from .config import BuildConfig, BuildResult
from .finish import finish
from .lock import build_lock
from .outpath import check_out
from .presence import check_presence
from .resume import check_same_content, copy_for_extension, open_partial_attrs, pending_rows, read_attrs
from .signals import interruptible
from .space import check_space, estimate_bytes, space_errors
from .stage_images import fill_images
from .stage_metadata import start_partial

__all__ = ["build"]

log = logging.getLogger("bioscan_h5.build")


def build(cfg: BuildConfig) -> BuildResult:
    """Build (or resume, or extend) a store. See the module docstring for the stages.

    Raises
    ------
    MetadataError
        Bad metadata (the message names file, row, column and value).
    ResumeMismatchError
        A partial or existing store made with other content arguments or metadata.
    BuildLockedError
        Another builder holds the output.
    InsufficientSpaceError
        Not enough free disk space (``check_space=False`` skips the check).
    BuildInterrupted
        SIGINT/SIGTERM; rerun the same command to resume.
    """
    t0 = time.monotonic()
    layout = get_layout(cfg.dataset)
    target_splits = [] if cfg.no_images else layout.explode(cfg.splits)
    meta_path = layout.find_metadata(cfg.root)
    if cfg.dry_run:
        return _dry_run(cfg, layout, target_splits)
    check_out(cfg.out, meta_path)  # only a store (or a new path) is ever written
    store, partial = cfg.out, fmt.partial_path(cfg.out)
    os.makedirs(os.path.dirname(store), exist_ok=True)
    with interruptible(store, partial), space_errors(store), build_lock(store):
        if cfg.overwrite:
            for p in (store, partial, fmt.report_path(store), fmt.spool_path(store)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
        source_fp = fingerprint(meta_path)
        extending = os.path.exists(store)
        if extending and (done := _up_to_date(cfg, source_fp, target_splits)) is not None:
            return done
        resumed, checked = _open_partial(cfg, layout, source_fp, target_splits, extending)
        kind = codec(cfg.pixels)
        kind.before_images(partial)
        pending = pending_rows(layout, partial, target_splits if checked is None else checked)
        if checked is None and target_splits:  # a resumed or extended build: check what it adds
            kept = check_presence(cfg, layout, pending.table, target_splits, pending.todo)
            if kept != target_splits:
                pending = pending_rows(layout, partial, kept)
        if resumed:
            log.info(
                "resuming %s: %d of %d images still to decode", partial, len(pending.todo), len(pending.rows)
            )
        need = kind.spool_copies * len(pending.todo) * kind.image_bytes(cfg)
        check_space(cfg, os.path.dirname(store), need)
        bad: dict[int, str] = {}
        tally = fill_images(cfg, layout, pending.table, partial, pending.todo, bad)
        kind.after_images(partial)
        result = finish(cfg, layout, partial, store, pending.splits, bad, pending.table)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fmt.spool_path(store))
    result.decoded_now = tally.get(ImageStatus.OK.name, 0)
    result.missing_now = tally.get(ImageStatus.MISSING.name, 0)
    result.bad_now = sum(tally.values()) - result.decoded_now - result.missing_now
    result.left_out = [s for s in target_splits if s not in pending.splits]
    result.resumed = resumed
    result.seconds = time.monotonic() - t0
    return result


def _up_to_date(cfg: BuildConfig, source_fp: dict, target_splits: list[str]) -> BuildResult | None:
    """The result of a build with nothing to do, if the store at ``cfg.out`` holds every split asked for."""
    store = cfg.out
    attrs = read_attrs(store)
    check_identity({k: attr_value(v) for k, v in attrs.items()}, store)  # a format-1 store is not extended
    check_same_content(
        attrs,
        cfg,
        source_fp,
        f"{store!r} already exists and was built differently",
        "Use --overwrite to rebuild it, or --out to write another file.",
    )
    built = set(json.loads(attrs.get(fmt.ATTR_SPLITS_BUILT, "[]")))
    if set(target_splits) <= built:
        log.info("%s is up to date", store)
        return BuildResult(store=store, n_rows=int(attrs[fmt.ATTR_N_ROWS]), up_to_date=True)
    log.info("extending %s with the images of %s", store, ", ".join(sorted(set(target_splits) - built)))
    return None


def _open_partial(
    cfg: BuildConfig, layout: SourceLayout, source_fp: dict, target_splits: list[str], extending: bool
) -> tuple[bool, list[str] | None]:
    """Make sure a partial file with this build's content exists: a copy of the store, a resumed one, or new.

    Returns whether it was resumed, and the splits stage 1 found images for (None: it did not run).
    """
    store, partial = cfg.out, fmt.partial_path(cfg.out)
    copied = extending and not (os.path.exists(partial) and open_partial_attrs(partial) is not None)
    if copied:
        copy_for_extension(cfg, store, partial)
    attrs = open_partial_attrs(partial) if os.path.exists(partial) else None
    if attrs is None:
        return False, start_partial(cfg, layout, partial, source_fp, target_splits)
    check_same_content(
        attrs,
        cfg,
        source_fp,
        f"A partial build {partial!r} exists with other arguments",
        "Rerun with the original arguments to resume it, or add --overwrite to start over.",
    )
    return not copied, None


def _dry_run(cfg: BuildConfig, layout: SourceLayout, target_splits: list[str]) -> BuildResult:
    table = layout.read(cfg.root, cfg.max_nucleotides)
    rows = layout.rows_for_splits(table, "+".join(target_splits)) if target_splits else np.zeros(0, np.int64)
    est = estimate_bytes(cfg, table.n_rows, len(rows))
    return BuildResult(
        store=cfg.out, n_rows=table.n_rows, dry_run=True, estimated_bytes=est, decoded_now=len(rows)
    )
