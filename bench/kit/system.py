"""The machine's side of a measurement: page cache, bytes read from disk, memory (PSS).

Warm: the file's bytes are read once by another process (:func:`warm`). Cold: as root the
whole page cache is dropped (``sync; echo 3 > /proc/sys/vm/drop_caches``); elsewhere
``posix_fadvise(POSIX_FADV_DONTNEED)`` evicts each file's pages (:func:`make_cold`). Disk
bytes are the ``read_bytes`` that Linux counts per process (``/proc/self/io``, every thread)
plus those of reaped children (``getrusage(RUSAGE_CHILDREN).ru_inblock``, 512-byte units):
the readers' own I/O, not the rest of a shared machine's.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable

__all__ = [
    "can_drop_caches",
    "disk_read_bytes",
    "files_under",
    "make_cold",
    "pss_tree",
    "warm",
]

_DROP = "/proc/sys/vm/drop_caches"


def files_under(paths: Iterable[str]) -> list[str]:
    """Every regular file of ``paths`` (files, or folders walked recursively)."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            for d, _, names in os.walk(p):
                out.extend(os.path.join(d, n) for n in sorted(names))
        elif os.path.isfile(p):
            out.append(p)
    return out


def warm(paths: Iterable[str], block: int = 8 << 20) -> int:
    """Read every byte of ``paths`` (files or folders) once, so they sit in the page cache."""
    total = 0
    buf = bytearray(block)
    for f in files_under(paths):
        with open(f, "rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                total += n
    return total


def can_drop_caches() -> bool:
    """True when this process may write ``/proc/sys/vm/drop_caches`` (root, writable /proc)."""
    return os.geteuid() == 0 and os.access(_DROP, os.W_OK)


def make_cold(paths: Iterable[str]) -> str:
    """Evict ``paths`` from the page cache; returns the method used (``drop_caches`` or ``fadvise``)."""
    files = files_under(paths)
    if can_drop_caches():
        os.sync()
        try:
            with open(_DROP, "w") as fh:
                fh.write("3\n")
            return "drop_caches"
        except OSError:
            pass
    for f in files:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return "fadvise"


def _proc_read_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/io") as fh:
        for line in fh:
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    return 0


def disk_read_bytes() -> int:
    """Bytes this process (all its threads) and its reaped children have read from the device."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_inblock * 512
    return _proc_read_bytes() + children


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def pss_tree(pid: int | None = None) -> dict[str, int]:
    """PSS of a process and of all its descendants: ``{"main", "workers", "n_workers"}`` in bytes."""
    pid = os.getpid() if pid is None else pid
    todo, workers = _children(pid), []
    while todo:
        c = todo.pop()
        workers.append(c)
        todo.extend(_children(c))
    return {"main": _pss(pid), "workers": sum(_pss(w) for w in workers), "n_workers": len(workers)}
