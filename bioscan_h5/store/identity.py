"""Which file a store has open, and whether it was changed in place since it was opened.

A store replaced by a rename (``os.replace``, as ``bioscan-h5 build`` does) is harmless: the
open descriptor keeps the old file. A store written over in place (``cp new.h5 store.h5``,
``truncate``) is the same file with new bytes: a read would mix the two files, and a memory
map's page past the new end is ``SIGBUS``. :class:`FileIdentity` tells it from ``fstat``.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from ..errors import StoreChangedError

__all__ = ["FileIdentity"]


class FileIdentity(NamedTuple):
    """Device, inode, size and modification time of an open file."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, fd: int) -> FileIdentity:
        """The identity of the open file ``fd``."""
        st = os.fstat(fd)
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def same_file(self, other: FileIdentity) -> bool:
        """Whether ``other`` is this file (device and inode), whatever its contents now."""
        return (self.dev, self.ino) == (other.dev, other.ino)

    def check(self, now: FileIdentity, path: str) -> None:
        """Raise :class:`StoreChangedError` if ``now`` (the same file) has another size or mtime."""
        if now.size == self.size and now.mtime_ns == self.mtime_ns:
            return
        how = (
            f"its size went from {self.size} to {now.size} bytes"
            if now.size != self.size
            else "it was written to (its modification time changed)"
        )
        raise StoreChangedError(
            f"{path!r} was changed in place while it was open ({how}), as `cp` or `truncate` onto an"
            " open store does: reading on would mix two files. Open it again (a new dataset or"
            " open_store) to read the new file. To update a store that is being read, write the new"
            " file elsewhere and rename it over the old one (`os.replace`, `mv`), as"
            " `bioscan-h5 build` does: readers keep the file they opened."
        )
