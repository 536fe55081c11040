"""Turning low-level read failures on a damaged store into :class:`StoreFormatError`."""

from __future__ import annotations

import contextlib
import errno
import functools
from collections.abc import Iterator

from ..errors import REBUILD, BioscanH5Error, ResourceLimitError, StoreFormatError

__all__ = ["damage_error", "damage_reported", "out_of_descriptors", "reads"]

#: What h5py, numpy and the decoders raise on a damaged file. A KeyError for a name that is
#: simply absent (HDF5 says "doesn't exist" or "component not found") is passed on as it is.
_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, UnicodeDecodeError)


def damage_error(path: str, what: str, exc: BaseException) -> BioscanH5Error | None:
    """The :class:`StoreFormatError` for a low-level read failure, or None to let ``exc`` through.

    Running out of file descriptors is no damage: a :class:`ResourceLimitError` says so.
    """
    if isinstance(exc, BioscanH5Error) or not isinstance(exc, _READ_ERRORS):
        return None
    if out_of_descriptors(exc):
        return ResourceLimitError(
            f"Reading {what} of {path!r} failed: this process has too many open files ({exc}). The store"
            " is not damaged: close other files, or raise the limit (`ulimit -n`), and read again."
        )
    if isinstance(exc, KeyError) and ("doesn't exist" in str(exc) or "component not found" in str(exc)):
        return None
    return StoreFormatError(
        f"{path!r} is damaged: reading {what} failed ({type(exc).__name__}: {exc}). {REBUILD}"
    )


def out_of_descriptors(exc: BaseException) -> bool:
    """Whether ``exc`` says the process (or the system) has no file descriptor left."""
    return isinstance(exc, OSError) and (
        exc.errno in (errno.EMFILE, errno.ENFILE) or "Too many open files" in str(exc)
    )


@contextlib.contextmanager
def damage_reported(path: str, what: str) -> Iterator[None]:
    """Context manager: damage in the file is reported as a :class:`StoreFormatError` naming ``what``."""
    try:
        yield
    except Exception as exc:
        err = damage_error(path, what, exc)
        if err is None:
            raise
        raise err from exc


def reads(what):
    """Decorator for a store reader method: damage in the file becomes a :class:`StoreFormatError`.

    ``what`` is a description, or a callable ``(self, *args) -> description`` (only called on
    failure: the decorated readers are on per-sample paths).
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:
                err = damage_error(self.path, what(self, *args, **kwargs) if callable(what) else what, exc)
                if err is None:
                    raise
                raise err from exc

        return wrapper

    return decorate
