"""Completion markers: what shows that an archive's content is in place, and the fetch lock.

``<root>/<dataset>/.downloads/<file>.complete`` is written last, after a verified extraction,
with the fingerprints of the archive's check files; ``<file>.extracting`` marks an extraction
under way, ``<file>.lock`` keeps two processes from fetching the same archive at once.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

from .. import __version__
from .network import say
from .table import Archive
from .transfer import md5_file

__all__ = [
    "COMPLETE_SUFFIX",
    "EXTRACTING_SUFFIX",
    "abs_path",
    "is_complete",
    "locked",
    "marker_base",
    "write_marker",
]

#: Folder (under ``<root>/<dataset>/``) of the markers and locks.
MARKER_DIRNAME = ".downloads"
#: Suffix of the marker of an archive whose content is in place.
COMPLETE_SUFFIX = ".complete"
#: Suffix of the marker of an extraction under way.
EXTRACTING_SUFFIX = ".extracting"


def marker_base(archive: Archive, root: str) -> str:
    return os.path.join(root, archive.dataset, MARKER_DIRNAME, archive.filename)


def _fingerprint(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def abs_path(root: str, rel: str) -> str:
    return os.path.join(root, *rel.split("/")) if rel else root


def write_marker(archive: Archive, root: str) -> None:
    base = marker_base(archive, root)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    record = {
        "format": 1,
        "dataset": archive.dataset,
        "name": archive.name,
        "filename": archive.filename,
        "md5": archive.md5,
        "paths": list(archive.paths),
        "check": {rel: _fingerprint(abs_path(root, rel)) for rel, _ in archive.check},
        "completed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "package_version": __version__,
    }
    tmp = base + COMPLETE_SUFFIX + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1)
    os.replace(tmp, base + COMPLETE_SUFFIX)


def _checks_pass(archive: Archive, root: str, rels: Iterable[str]) -> bool:
    wanted = dict(archive.check)
    return all(
        os.path.isfile(path := abs_path(root, rel)) and md5_file(path).hexdigest() == wanted[rel]
        for rel in rels
    )


def is_complete(archive: Archive, root: str, *, verify: bool) -> bool:
    """Whether the archive's content is in place (marker, or the files of ``check``)."""
    base = marker_base(archive, root)
    if os.path.exists(base + EXTRACTING_SUFFIX):
        return False  # an extraction of ours was interrupted: never trust what is there
    if not all(os.path.exists(abs_path(root, rel)) for rel in archive.paths):
        return False
    try:
        with open(base + COMPLETE_SUFFIX, encoding="utf-8") as fh:
            marker = json.load(fh)
    except (OSError, ValueError):
        marker = None
    if isinstance(marker, dict) and marker.get("md5") == archive.md5:
        recorded = marker.get("check") or {}
        changed = [rel for rel, _ in archive.check if recorded.get(rel) != _fingerprint(abs_path(root, rel))]
        if not changed or not verify:
            return all(os.path.isfile(abs_path(root, rel)) for rel in changed)
    elif archive.check:  # no marker of ours: adopt content put in place otherwise (e.g. by bioscan-dataset)
        changed = [rel for rel, _ in archive.check]
    else:
        return False
    if not _checks_pass(archive, root, changed):
        return False
    write_marker(archive, root)
    return True


@contextlib.contextmanager
def locked(path: str, label: str, progress: bool) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` so two processes never fetch the same archive at once."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no inter-process lock
        yield
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"Waiting for another process that is downloading {label} ...", progress)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except OSError:  # a file system without locks (some network mounts): go on unlocked
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
