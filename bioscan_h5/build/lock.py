"""The build lock: one builder at a time per output file."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from .. import format as fmt
from ..errors import BuildLockedError
from .space import space_errors

__all__ = ["build_lock"]


@contextlib.contextmanager
def build_lock(store: str) -> Iterator[None]:
    """Hold the lock file of ``store`` (``flock``) for the block; unlink it at the end.

    Raises :class:`BuildLockedError` if another builder holds it.
    """
    path = fmt.lock_path(store)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BuildLockedError(
                f"Another build is writing {store!r} (its lock {path!r} is held). Wait for it to finish,"
                " or choose another --out."
            ) from None
        # A finishing builder unlinks the lock file: a lock won on that unlinked file would
        # exclude nobody (the next builder creates a new file), so take it on the file at the path.
        with contextlib.suppress(FileNotFoundError):
            st, held = os.stat(path), os.fstat(fd)
            if (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino):
                break
        os.close(fd)
    try:
        with space_errors(store, f"Writing the build lock {path!r}", ""):  # for people looking at it
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
