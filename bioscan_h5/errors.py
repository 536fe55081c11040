"""Error classes of bioscan-h5, the hint that ends every message about a damaged store, and
:func:`damage_reported`, which turns low-level read failures on a damaged store into them.

Every error derives from :class:`BioscanH5Error` and from the builtin a caller would catch.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterable, Iterator

__all__ = [
    "REBUILD",
    "BioscanH5Error",
    "BuildInterrupted",
    "BuildLockedError",
    "ChecksumError",
    "ChecksumMismatchError",
    "DownloadChecksumError",
    "DownloadError",
    "ImageUnavailableError",
    "IndexRangeError",
    "IndexTypeError",
    "InsufficientSpaceError",
    "InvalidArgumentError",
    "KeptBatchWarning",
    "MetadataError",
    "ResizedImagesWarning",
    "ResourceLimitError",
    "ResumeMismatchError",
    "SourceFileNotFoundError",
    "SplitNotBuiltError",
    "StoreChangedError",
    "StoreFormatError",
    "StoreIncompleteError",
    "StoreNotFoundError",
    "StoreVersionError",
    "check_choice",
    "damage_error",
    "damage_reported",
    "out_of_descriptors",
    "rebuild_hint",
]


def rebuild_hint(purpose: str = "(or copy it again)") -> str:
    """The sentence that ends every message about a damaged or outdated store; ``purpose`` ends it."""
    return f"Rebuild it with `bioscan-h5 build --overwrite` {purpose}."


#: :func:`rebuild_hint` for a damaged store (the same sentence in every such message).
REBUILD = rebuild_hint()


class BioscanH5Error(Exception):
    """Base class of every error raised by bioscan-h5."""


class InvalidArgumentError(BioscanH5Error, ValueError):
    """An argument value that is not valid (an option string, a split name, a size)."""


def check_choice(name: str, value: object, valid: Iterable[object]) -> None:
    """Raise :class:`InvalidArgumentError` unless ``value`` is one of ``valid`` (booleans by identity)."""
    choices = tuple(valid)
    if value not in choices or (isinstance(value, bool) and not any(v is value for v in choices)):
        raise InvalidArgumentError(
            f"Unknown {name}: {value!r}. Valid values are: {', '.join(repr(v) for v in choices)}."
        )


class IndexTypeError(BioscanH5Error, TypeError):
    """A dataset index that is not an integer (a float, a bool, a string), as ``ds[i]`` refuses it."""


class IndexRangeError(BioscanH5Error, IndexError):
    """A dataset index outside the dataset (an unsigned value beyond int64 among them)."""


class ResourceLimitError(BioscanH5Error, OSError):
    """A read failed for want of a resource of this process (file descriptors), not a damaged file."""


class StoreNotFoundError(BioscanH5Error, FileNotFoundError):
    """No store file (and no raw data to build one from) where one was looked for."""


class StoreFormatError(BioscanH5Error, ValueError):
    """A file is not a bioscan-h5 store, or is damaged (missing dataset, wrong shape/dtype)."""


class StoreChangedError(StoreFormatError):
    """The store file was changed in place (``cp`` over it, ``truncate``) while it was open: open it again."""


class StoreVersionError(StoreFormatError):
    """The store was written in a format version this package does not read (newer, or format 1)."""


class ChecksumError(BioscanH5Error):
    """Bytes do not match their recorded checksum (a store's CRC-32s, or a download's MD5)."""


class ChecksumMismatchError(ChecksumError, StoreFormatError):
    """Store contents do not match their checksums (format 2): the file is damaged.

    Attributes
    ----------
    row : int or None
        The first damaged row found (None when a whole array, such as a vocabulary, is).
    arrays : list of str
        The damaged arrays, as far as the block checksums tell.
    """

    def __init__(self, message: str, *, row: int | None = None, arrays=()) -> None:
        super().__init__(message)
        self.row = row
        self.arrays = list(arrays)


class StoreIncompleteError(BioscanH5Error, RuntimeError):
    """The store is still being built, or its build was interrupted."""


class MetadataError(BioscanH5Error, ValueError):
    """The metadata file has a missing column, bad value, duplicate id, ...

    Attributes
    ----------
    path, column : str or None
        The metadata file, and the column holding the bad value.
    row : int or None
        0-based data row (the header is not counted), as pandas numbers it.
    value : object
        The bad value itself.
    """

    def __init__(self, message: str, *, path=None, row=None, column=None, value=None) -> None:
        super().__init__(message)
        self.path = path
        self.row = row
        self.column = column
        self.value = value


class ImageUnavailableError(BioscanH5Error, OSError):
    """The image of a row could not be decoded at build time (the builder flagged it).

    An ``OSError``, as the peer's errors for the same files, so ``except OSError:`` skips it with either.
    """


class SplitNotBuiltError(BioscanH5Error, RuntimeError):
    """Images were requested for rows whose images the store does not hold yet."""


class BuildLockedError(BioscanH5Error, RuntimeError):
    """Another builder is writing the same output file."""


class ResumeMismatchError(BioscanH5Error, ValueError):
    """A partial or existing store was made with other arguments or another metadata file."""


class InsufficientSpaceError(BioscanH5Error, OSError):
    """The disk has less free space than the store is estimated to need."""


class DownloadError(BioscanH5Error, OSError):
    """A download failed (network error, HTTP error status, refused archive)."""


class DownloadChecksumError(ChecksumError, DownloadError):
    """A downloaded file does not match its published checksum (MD5)."""


class BuildInterrupted(BioscanH5Error):
    """The build was stopped by SIGINT/SIGTERM; rerunning the same command resumes it."""


class SourceFileNotFoundError(BioscanH5Error, FileNotFoundError):
    """A file of the dataset root that a split needs (``all_keys.txt``) was absent at build time."""


class ResizedImagesWarning(UserWarning):
    """A full-resolution image package is served at the store's one size (``image_size=`` silences it)."""


class KeptBatchWarning(UserWarning):
    """A batch of :func:`~bioscan_h5.batch_loader` was kept past the reuse of its buffers.

    It stays intact, at the cost of an allocation; ``copy=True`` gives each batch its own buffers.
    """


#: What h5py, numpy and the decoders raise on a damaged file (a KeyError for an absent name passes).
_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, UnicodeDecodeError)


def damage_error(path: str, what: str, exc: BaseException) -> BioscanH5Error | None:
    """The :class:`StoreFormatError` (or :class:`ResourceLimitError`) for a read failure, or None."""
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
    """Report damage in the file as a :class:`StoreFormatError` naming ``what``."""
    try:
        yield
    except Exception as exc:
        err = damage_error(path, what, exc)
        if err is None:
            raise
        raise err from exc
