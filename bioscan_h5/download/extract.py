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

from tqdm.auto import tqdm

from ..errors import DownloadError
from .transfer import CHUNK_SIZE, _check_space

__all__ = ["safe_extract"]

_TMP_PREFIX = ".bioscan-h5-extract-"


def _member_parts(info: zipfile.ZipInfo, drop_prefix: str | None) -> list[str] | None:
    """The path components a zip member extracts to, or ``None`` for nothing; refuse unsafe ones."""
    name = info.filename
    normalized = name.replace("\\", "/")
    mode = info.external_attr >> 16
    if "\x00" in name:
        raise DownloadError(f"Refusing to extract zip member {name!r}: its name holds a NUL character.")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        raise DownloadError(f"Refusing to extract zip member {name!r}: it has an absolute path.")
    parts = [p for p in normalized.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DownloadError(
            f"Refusing to extract zip member {name!r}: its path leaves the target folder ('..')."
        )
    if stat.S_ISLNK(mode):
        raise DownloadError(f"Refusing to extract zip member {name!r}: it is a symbolic link.")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise DownloadError(f"Refusing to extract zip member {name!r}: it is not a regular file or folder.")
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


def _merge_tree(src: str, dst: str) -> None:
    """Move the content of ``src`` into ``dst``, renaming whole folders where ``dst`` has none."""
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.is_dir(follow_symlinks=False):
            if os.path.isdir(target):
                _merge_tree(entry.path, target)
                continue
            if os.path.lexists(target):
                os.remove(target)
        elif os.path.isdir(target) and not os.path.islink(target):
            raise DownloadError(f"Cannot extract {target}: a folder is in the way of a file of the archive.")
        _move(entry.path, target)


def _refuse_duplicates(plan: list) -> None:
    """Refuse a central directory that lists one path more than once (each copy would be written)."""
    counts = collections.Counter("/".join(parts) for info, parts in plan if not info.is_dir())
    name, n = counts.most_common(1)[0] if counts else ("", 1)
    if n > 1:
        raise DownloadError(
            f"Refusing to extract the archive: its member {name!r} is listed {n} times (a zip written once"
            " lists each file once; repeated entries can make a small archive write many times its size)."
            " Delete the archive and download it again."
        )


def safe_extract(
    zip_path: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    drop_prefix: str | None = None,
    progress: bool = False,
) -> list[str]:
    """Extract a zip into ``dest`` without ever writing outside it.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    symbolic links and special files are refused. The members are extracted into a temporary
    folder inside ``dest`` and then moved into place (merging with folders already there), so
    an interrupted extraction never leaves a partial file under its final name.

    Parameters
    ----------
    zip_path : str or path-like
    dest : str or path-like
        The folder to extract into (created if missing).
    drop_prefix : str, optional
        A leading folder dropped from the member paths (``"bioscan"`` for the BIOSCAN-1M zips).
    progress : bool, default=False
        Show a progress bar.

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
            plan = []
            for info in zf.infolist():
                parts = _member_parts(info, drop_prefix)
                if parts is not None:
                    plan.append((info, parts))
            _refuse_duplicates(plan)
            os.makedirs(dest, exist_ok=True)
            _check_space(dest, sum(info.file_size for info, _ in plan), f"extract {label}")
            tmp = tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{label}-", dir=dest)
            written: list[str] = []
            try:
                with tqdm(
                    total=sum(info.file_size for info, _ in plan),
                    desc=f"extracting {label}",
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    disable=not progress,
                ) as bar:
                    for info, parts in plan:
                        target = os.path.join(tmp, *parts)
                        if info.is_dir():
                            os.makedirs(target, exist_ok=True)
                            continue
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        with zf.open(info) as source, open(target, "wb") as out:
                            while chunk := source.read(CHUNK_SIZE):
                                out.write(chunk)
                                bar.update(len(chunk))
                        written.append("/".join(parts))
                _merge_tree(tmp, dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise DownloadError(
            f"{zip_path} is not a valid zip archive ({exc}); delete it and download it again."
        ) from None
    return written


def _remove_stale_extractions(folder: str, filename: str) -> None:
    prefix = f"{_TMP_PREFIX}{filename}-"
    stale: list[str] = []
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        stale = [e.path for e in it if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
