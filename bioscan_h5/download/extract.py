"""Safe zip extraction: every member checked before anything is written, then moved into place.

Absolute paths, ``..`` components, symbolic links and special files are refused (no
"zip slip"). Members are extracted into a temporary folder inside the target and then moved
(merged with folders already there), so an interrupted extraction never leaves a partial
file under its final name.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Collection

from tqdm.auto import tqdm

from ..errors import DownloadError
from .network import BYTE_BAR
from .transfer import CHUNK_SIZE, check_disk_space

__all__ = ["remove_stale_extractions", "safe_extract"]

_TMP_PREFIX = ".bioscan-h5-extract-"
#: Most path components of a member (deeper paths exhaust recursion and path-length limits).
_MAX_DEPTH = 64


def _member_parts(info: zipfile.ZipInfo, drop_prefix: str | None) -> list[str] | None:
    """The path components a zip member extracts to, or ``None`` for nothing; refuse unsafe ones."""
    name = info.filename
    normalized = name.replace("\\", "/")
    mode = info.external_attr >> 16
    parts = [p for p in normalized.split("/") if p not in ("", ".")]
    refusals = {
        "its name holds a NUL character": "\x00" in name,
        "it has an absolute path": normalized.startswith("/") or bool(re.match(r"^[A-Za-z]:", normalized)),
        "its path leaves the target folder ('..')": ".." in parts,
        "it is a symbolic link": stat.S_ISLNK(mode),
        "it is not a regular file or folder": stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR),
    }
    for why, refused in refusals.items():
        if refused:
            raise DownloadError(f"Refusing to extract zip member {name!r}: {why}.")
    if len(parts) > _MAX_DEPTH:
        raise DownloadError(
            f"Refusing to extract zip member {name[:120]!r}...: it is nested {len(parts)} folders deep (at most"
            f" {_MAX_DEPTH}; the BIOSCAN archives nest 6). Delete the archive and download it again."
        )
    if drop_prefix and parts and parts[0] == drop_prefix:
        parts = parts[1:]
    return parts or None


def _move(src: str, dst: str) -> None:
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(src, dst)  # the destination is on another file system (a link the user made)


def _merge_tree(src: str, dst: str, replace: frozenset[str] = frozenset()) -> None:
    """Move the content of ``src`` into ``dst``, renaming whole folders where ``dst`` has none."""
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.is_dir(follow_symlinks=False) and os.path.isdir(target):
            _merge_tree(entry.path, target, replace)
            continue
        if os.path.lexists(target) and target not in replace:  # appeared after _in_the_way checked
            raise DownloadError(
                f"Cannot extract {target}: something was created there during the extraction, and an"
                " archive never replaces what it did not write. Move it away and run the same command again."
            )
        _move(entry.path, target)


def _plan(zf: zipfile.ZipFile, drop_prefix: str | None, dest: str, replace: frozenset[str]) -> list:
    """``(info, parts)`` of each member to extract, every one checked (see :func:`safe_extract`)."""
    members = [(info, _member_parts(info, drop_prefix)) for info in zf.infolist()]
    plan = [(info, parts) for info, parts in members if parts is not None]
    # A central directory listing one path more than once would write each copy.
    counts = collections.Counter("/".join(parts) for info, parts in plan if not info.is_dir())
    name, n = counts.most_common(1)[0] if counts else ("", 1)
    if n > 1:
        raise DownloadError(
            f"Refusing to extract the archive: its member {name!r} is listed {n} times (a zip written once"
            " lists each file once; repeated entries can make a small archive write many times its size)."
            " Delete the archive and download it again."
        )
    return _in_the_way(plan, dest, replace)


def _in_the_way(plan: list, dest: str, replace: frozenset[str]) -> list:
    """``plan`` without the files already in place with the same bytes; refuse anything else there.

    An archive never replaces a file or folder it did not write (only those in ``replace``).
    """
    keep = []
    for info, parts in plan:
        for k in range(1, len(parts)):
            parent = os.path.join(dest, *parts[:k])
            if os.path.lexists(parent) and not os.path.isdir(parent):
                raise _in_the_way_error(info, parent, "a file where the archive has a folder")
        target = os.path.join(dest, *parts)
        if not os.path.lexists(target) or (target in replace and os.path.isfile(target)):
            keep.append((info, parts))
        elif info.is_dir():
            if not os.path.isdir(target):
                raise _in_the_way_error(info, target, "a file where the archive has a folder")
            keep.append((info, parts))
        elif os.path.islink(target) or not os.path.isfile(target):
            raise _in_the_way_error(
                info, target, "a folder, link or other non-file where the archive has a file"
            )
        elif not _same_bytes(target, info):
            raise _in_the_way_error(info, target, "a file with other content")
    return keep


def _same_bytes(path: str, info: zipfile.ZipInfo) -> bool:
    """Whether the file at ``path`` holds the member's bytes (size and CRC-32)."""
    if os.path.getsize(path) != info.file_size:
        return False
    crc = 0
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK_SIZE):
            crc = zlib.crc32(block, crc)
    return crc == info.CRC


def _in_the_way_error(info: zipfile.ZipInfo, path: str, what: str) -> DownloadError:
    return DownloadError(
        f"Refusing to extract {info.filename!r}: {path!r} is already there ({what}), and an archive never"
        " replaces a file or folder it did not write. Move it away (or delete it, if it is a stale copy of"
        " this archive's file) and run the same command again."
    )


def safe_extract(
    zip_path: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    drop_prefix: str | None = None,
    progress: bool = False,
    replace: Collection[str] = (),
) -> list[str]:
    """Extract a zip into ``dest`` (created if missing) without ever writing outside it.

    Every member is checked first (see the module notes), then extracted into a temporary
    folder inside ``dest`` and moved into place.

    Parameters
    ----------
    zip_path, dest : str or path-like
    drop_prefix : str, optional
        A leading folder dropped from the member paths (``"bioscan"`` for the BIOSCAN-1M zips).
    progress : bool, default=False
        Show a progress bar.
    replace : collection of str
        Files (relative to ``dest``, ``/`` separators) the archive may replace. Any other file
        or folder at a member's place is refused, unless it holds the member's very bytes.

    Returns
    -------
    list of str
        The extracted files, relative to ``dest`` with ``/`` separators.

    Raises
    ------
    DownloadError
        An unsafe member (named in the message) or a damaged zip.
    InsufficientSpaceError
        Less free space than the extracted files need.
    """
    zip_path, dest = os.fspath(zip_path), os.path.abspath(os.fspath(dest))
    label = os.path.basename(zip_path)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            replaceable = frozenset(os.path.join(dest, *rel.split("/")) for rel in replace)
            plan = _plan(zf, drop_prefix, dest, replaceable)
            os.makedirs(dest, exist_ok=True)
            total = sum(info.file_size for info, _ in plan)
            check_disk_space(dest, total, f"extract {label}")
            tmp = tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{label}-", dir=dest)
            written: list[str] = []
            try:
                with tqdm(total=total, desc=f"extracting {label}", disable=not progress, **BYTE_BAR) as bar:
                    for info, parts in plan:
                        target = os.path.join(tmp, *parts)
                        os.makedirs(target if info.is_dir() else os.path.dirname(target), exist_ok=True)
                        if info.is_dir():
                            continue
                        with zf.open(info) as source, open(target, "wb") as out:
                            while chunk := source.read(CHUNK_SIZE):
                                out.write(chunk)
                                bar.update(len(chunk))
                        written.append("/".join(parts))
                _merge_tree(tmp, dest, replaceable)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise DownloadError(
            f"{zip_path} is not a valid zip archive ({exc}); delete it and download it again."
        ) from None
    return written


def remove_stale_extractions(folder: str, filename: str) -> None:
    prefix = f"{_TMP_PREFIX}{filename}-"
    stale: list[str] = []
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        stale = [e.path for e in it if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
