"""How big a store will be, and the checks that refuse a build the disk cannot hold."""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Iterator

from .._files import NO_SPACE_ERRNOS, require_free_space
from ..errors import BioscanH5Error, InsufficientSpaceError
from ..pixels import codec
from .config import BuildConfig

__all__ = ["check_file_size_limit", "check_space", "estimate_bytes", "human", "space_errors"]

#: errno values that mean "no room for the file": disk full, file-size limit, quota.


def estimate_bytes(cfg: BuildConfig, n_rows: int, n_images: int | None) -> int:
    """The store's size in bytes with ``n_rows`` rows and the pixels of ``n_images`` of them."""
    per_row_meta = 400 + (cfg.max_nucleotides or 1000) + 600 * len(cfg.tokenize)
    imgs = 0 if n_images is None else n_images * codec(cfg.pixels).image_bytes(cfg)
    return n_rows * per_row_meta + imgs


def check_file_size_limit(cfg: BuildConfig, n_rows: int, images: bool = True) -> None:
    """Refuse to start when the file-size limit (``ulimit -f``) is below the store's size.

    The uncompressed size is the bound even for a compressed store: HDF5 cannot close a file
    after a failed write (h5py then crashes the process). ``images=False``: a DNA-only store.
    """
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if not cfg.check_space or limit == resource.RLIM_INFINITY:
        return
    size = estimate_bytes(cfg, n_rows, n_rows if images else None)
    if size > limit:
        raise InsufficientSpaceError(
            f"The store will be about {human(size)} but this process may not write files larger than"
            f" {human(limit)} (the file-size limit, `ulimit -f`). Raise the limit, or build a smaller"
            " --image-size; --no-space-check tries anyway."
        )


def check_space(cfg: BuildConfig, directory: str, need: int) -> None:
    """Refuse to go on when ``directory`` has less than ``need`` bytes free (unless told not to check)."""
    if not cfg.check_space or need <= 0:
        return
    require_free_space(
        directory,
        need,
        lambda free: (
            f"The store needs about {human(need)} more but {directory!r} has {human(free)} free. Free some space,"
            " choose another --out, build fewer --splits or a smaller --image-size, or pass --no-space-check"
            " to try anyway."
        ),
    )


def human(n: float) -> str:
    """A byte count for people: ``"1.5 GB"`` (powers of 1000)."""
    if abs(n) < 1000:
        return f"{int(n)} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if abs(n) < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} TB"


@contextlib.contextmanager
def space_errors(store: str, what: str = "", then: str = "; the work done so far is kept") -> Iterator[None]:
    """A "no room" error (ENOSPC, EFBIG, EDQUOT) in the block becomes one :class:`InsufficientSpaceError`.

    Its message: ``what`` failed (default: writing the file the error names, or beside ``store``),
    how to go on, then ``then``. The stages word their own where they know more.
    """
    try:
        yield
    except OSError as exc:
        if isinstance(exc, BioscanH5Error) or exc.errno not in NO_SPACE_ERRNOS:
            raise
        where = f" {exc.filename!r}" if exc.filename else f" beside {store!r}"
        raise InsufficientSpaceError(
            f"{what or 'Writing' + where} failed: {os.strerror(exc.errno)}. Free some space (or raise the"
            f" file-size limit) and run the same command again{then}."
        ) from exc
