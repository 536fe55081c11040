"""Small HDF5 helpers shared by the writer and the readers (no format knowledge here)."""

from __future__ import annotations

import os

import h5py

__all__ = ["LIBVER", "clear_status_flags", "create_preallocated", "open_readonly"]

#: Writer format bounds: HDF5 1.10 file format (fixed-array chunk index, readable by HDF5 >= 1.10).
LIBVER = ("v110", "v110")


def open_readonly(path: str | os.PathLike) -> h5py.File:
    """Open a file read-only without HDF5 file locking (safe for many reader processes)."""
    return h5py.File(path, "r", locking=False)


#: lookup3's ``mix`` and ``final`` as steps over ``v = [a, b, c]``; ``mix``: ``v[x] -= v[z]``,
#: ``v[x] ^= rot(v[z], k)``, ``v[z] += v[y]``; ``final``: ``v[x] ^= v[z]``, ``v[x] -= rot(v[z], k)``.
_MIX = tuple(zip((0, 1, 2) * 2, (1, 2, 0) * 2, (2, 0, 1) * 2, (4, 6, 8, 16, 19, 4)))
_FINAL = tuple(zip((2, 0, 1, 2, 0, 1, 2), (1, 2, 0, 1, 2, 0, 1), (14, 11, 25, 16, 4, 14, 24)))


def _lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle``, the checksum HDF5 uses for superblock v2/v3."""
    m = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & m

    def add_words(v: list[int], chunk: bytes) -> None:
        for j in range(3):
            v[j] = (v[j] + int.from_bytes(chunk[4 * j : 4 * j + 4], "little")) & m

    n = len(data)
    v = [(0xDEADBEEF + n + initval) & m] * 3
    i = 0
    while n > 12:
        add_words(v, data[i : i + 12])
        for x, y, z, k in _MIX:
            v[x] = ((v[x] - v[z]) & m) ^ rot(v[z], k)
            v[z] = (v[z] + v[y]) & m
        n -= 12
        i += 12
    if n == 0:
        return v[2]
    add_words(v, data[i : i + n] + bytes(12 - n))
    for x, z, k in _FINAL:
        v[x] = ((v[x] ^ v[z]) - rot(v[z], k)) & m
    return v[2]


def clear_status_flags(path: str | os.PathLike) -> bool:
    """Clear the "open for write" flags a killed writer leaves in a v2/v3 superblock (``h5clear -s``).

    Only the builder calls it, on its own temporary file, holding the build lock. Returns
    whether flags were set and have been cleared.
    """
    with open(path, "r+b") as fh:
        head = bytearray(fh.read(48))
        if len(head) < 48 or head[:8] != b"\x89HDF\r\n\x1a\n" or head[8] not in (2, 3) or head[9] != 8:
            return False
        end = 12 + 4 * head[9]
        if head[11] == 0 or _lookup3(bytes(head[:end])) != int.from_bytes(head[end : end + 4], "little"):
            return False
        head[11] = 0
        head[end : end + 4] = _lookup3(bytes(head[:end])).to_bytes(4, "little")
        fh.seek(0)
        fh.write(head[: end + 4])
        fh.flush()
        os.fsync(fh.fileno())
    return True


def create_preallocated(group: h5py.Group, name: str, shape: tuple[int, ...]) -> h5py.Dataset:
    """An uncompressed, contiguous uint8 dataset whose storage is all allocated now.

    Fill values are never written, so the file stays sparse until data is written.
    """
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.CONTIGUOUS)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
    space = h5py.h5s.create_simple(shape)
    dsid = h5py.h5d.create(group.id, name.encode(), h5py.h5t.NATIVE_UINT8, space, dcpl=dcpl)
    return h5py.Dataset(dsid)
