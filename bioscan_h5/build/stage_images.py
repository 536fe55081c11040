"""Stage 2: read the pending rows' images and write them into the partial store.

The pixel kind's workers (:mod:`.pool`) and writer (:mod:`bioscan_h5.pixels`) do the work; rows
are marked done only once their images are durable, so a rerun redoes exactly the rows still pending.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterator

import numpy as np

import bioscan_h5.build.pool as pool

from ..errors import MetadataError
from ..format import ImageStatus
from ..layouts import SourceLayout
from ..metadata import Table
from ..pixels import codec
from .config import BuildConfig
from .space import space_errors

__all__ = ["fill_images"]


def fill_images(
    cfg: BuildConfig, layout: SourceLayout, table: Table, partial: str, todo: np.ndarray, bad: dict[int, str]
) -> dict[str, int]:
    """Decode the images of rows ``todo`` into ``partial``; return the rows done per image status name.

    The details of bad images go into ``bad`` (row -> detail). What is durable is kept on any error
    (an interrupt, a full disk, a bad image with ``cfg.strict``: :class:`MetadataError`).
    """
    from tqdm.auto import tqdm

    if not len(todo):
        return {}
    image_dir = layout.image_dir(cfg.root, cfg.image_package)
    writer = codec(cfg.pixels).writer(partial, cfg)
    progress = tqdm(
        total=len(todo), desc="decoding images", unit="img", disable=not cfg.progress, smoothing=0.05
    )
    with space_errors(partial, f"Writing {partial!r}", " to resume; the work done so far is kept"):
        try:
            done = dict(_decode_rows(cfg, layout, table, image_dir, todo, writer, progress, bad))
            writer.close()  # the last sync can fail too (a full disk)
        except BaseException:  # an interrupt, a full disk, --strict: keep what is durable, release the file
            with contextlib.suppress(Exception):
                writer.close()
            raise
        finally:
            progress.close()
    return done


def _decode_rows(cfg, layout, table, image_dir, rows, writer, progress, bad) -> dict[str, int]:
    rel = layout.image_relpaths(table, rows)
    jobs = [(int(r), os.path.join(image_dir, p)) for r, p in zip(rows, rel)]
    done: Counter[str] = Counter()
    results: Iterator[tuple] = codec(cfg.pixels).results(cfg, jobs, image_dir, writer, pool)
    for row, status, pixels, size, detail, crc in results:
        if status != ImageStatus.OK and cfg.strict:
            # The bad row stays pending, so a rerun with --strict checks its file again.
            writer.sync()
            path = dict(jobs)[row]
            raise MetadataError(
                f"{path}: {ImageStatus(status).reason}{': ' + detail if detail else ''}. "
                "--strict stops at the first bad image; fix or remove the file, or build without --strict "
                "to flag the row and continue.",
                path=path,
                row=row,
            )
        writer.write(row, status, pixels, size, crc)
        if status != ImageStatus.OK:
            bad[row] = detail
        done[ImageStatus(status).name] += 1
        progress.update(1)
    return done
