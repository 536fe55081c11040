"""A store file's own descriptor for positional reads, one per process.

A new open file description of the file HDF5 has open, advised ``POSIX_FADV_RANDOM``, closed
by the process that opened it and never by a forked child.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["Descriptor", "own_descriptor"]


class Descriptor:
    """A file descriptor closed by the process that opened it (a fork's copy is closed apart)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.pid = fd, os.getpid()

    def close(self, _getpid=os.getpid, _close=os.close) -> None:  # also __del__: at interpreter exit
        # the module's globals may already be None, so the two calls are bound here
        if self.fd >= 0 and self.pid == _getpid():
            try:  # noqa: SIM105 - no module lookups (contextlib) at interpreter exit either
                _close(self.fd)
            except OSError:  # pragma: no cover - closed behind our back
                pass
        self.fd = -1

    def drop_inherited(self) -> None:
        """In a forked child: close the copy of the parent's descriptor."""
        if self.fd >= 0 and self.pid != os.getpid():
            with contextlib.suppress(OSError):  # already closed
                os.close(self.fd)
        self.fd = -1

    __del__ = close


def own_descriptor(vfd: int) -> Descriptor:
    """A new open file description (through ``/proc/self/fd``) of the file open as ``vfd``, advised for random reads.

    Where that is not possible, a duplicate of ``vfd`` without advice (it shares the maps' readahead).
    """
    want = os.fstat(vfd)
    try:
        fd = os.open(f"/proc/self/fd/{vfd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return Descriptor(os.dup(vfd))
    got = os.fstat(fd)
    if (got.st_dev, got.st_ino) != (want.st_dev, want.st_ino):  # pragma: no cover - not Linux's /proc
        os.close(fd)
        return Descriptor(os.dup(vfd))
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    return Descriptor(fd)
