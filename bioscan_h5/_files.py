"""File helpers with no format knowledge: a sparse-aware copy, whole positional writes, durable syncs, free space."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable

from .errors import InsufficientSpaceError

__all__ = [
    "NO_SPACE_ERRNOS",
    "copy_range",
    "copy_sparse",
    "fsync_dir",
    "fsync_path",
    "pwrite_all",
    "require_free_space",
]

#: The errors of a write that found no room: a full disk, the file-size limit, the disk quota.
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)

_STEP = 1 << 30


def copy_sparse(src: str, dst: str) -> None:
    """Copy ``src`` to ``dst`` byte for byte, leaving the holes of a sparse file unwritten; ``dst`` is synced.

    Only the data extents are copied, with ``os.copy_file_range`` (which clones them on XFS, btrfs).
    """
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        fout.truncate(size)
        for start, end in _data_extents(fin.fileno(), size):
            copy_range(fin.fileno(), start, fout.fileno(), start, end - start)
        fout.flush()
        os.fsync(fout.fileno())


def _data_extents(fd: int, size: int):
    """``(start, end)`` of each data extent; the whole file where holes cannot be asked for."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos: the rest is a hole
                return
            yield pos, size  # SEEK_DATA unsupported: copy everything
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end
        pos = end


def copy_range(src: int, src_at: int, dst: int, dst_at: int, n: int) -> None:
    """Copy ``n`` bytes between two open files (``copy_file_range``, else reads and writes)."""
    done = 0
    while done < n:
        step = min(n - done, _STEP)
        try:
            got = os.copy_file_range(src, dst, step, src_at + done, dst_at + done)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            data = os.pread(src, min(step, 1 << 24), src_at + done)
            got = os.pwrite(dst, data, dst_at + done) if data else 0
        if got <= 0:
            raise OSError(errno.EIO, f"copying bytes stopped at {done} of {n}")
        done += got


def pwrite_all(fd: int, data, offset: int) -> None:
    """``os.pwrite`` every byte of ``data`` (any C-contiguous buffer) at ``offset``.

    A short write (disk or file-size limit reached) is continued, so the real error is raised.
    """
    view = memoryview(data).cast("B")
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:  # pragma: no cover - pwrite raises on errors; 0 would loop forever
            raise OSError(errno.EIO, f"pwrite wrote nothing at offset {offset}")
        view, offset = view[n:], offset + n


def fsync_path(path: str) -> None:
    """``fsync`` a file (or folder) by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """``fsync`` the folder holding ``path`` (makes a rename durable); errors are ignored."""
    with contextlib.suppress(OSError):
        fsync_path(os.path.dirname(path) or ".")


def require_free_space(folder: str, need: int, message: Callable[[int], str]) -> None:
    """Raise :class:`InsufficientSpaceError` (``message(free)``) if ``folder`` has under ``need`` bytes free.

    A folder whose free space cannot be read is not refused.
    """
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if need > free:
        raise InsufficientSpaceError(message(free))
