"""The builder's output path: only a store (or a new path) is ever written or replaced.

``--out`` that names a symbolic link, a device, a pipe, a folder, or an existing file that is
not a bioscan-h5 store (a user's file, the root's metadata file or a source image) is refused
before anything is written, with or without ``--overwrite``: ``--overwrite`` replaces a store
(or the unreadable remains of one: an HDF5 file h5py cannot open), nothing else.
"""

from __future__ import annotations

import os
import stat

from .. import format as fmt
from ..errors import InvalidArgumentError

__all__ = ["check_out"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_FIX = "Choose another --out: a new path, or an existing store to extend or (with --overwrite) replace."


def check_out(path: str, metadata: str) -> None:
    """Raise :class:`InvalidArgumentError` unless ``path`` (absolute, not resolved) is new or holds a store.

    ``metadata`` is the root's metadata file, named in the message when ``path`` is it.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    what = _not_a_store(path, st, metadata)
    if what is not None:
        raise InvalidArgumentError(
            f"--out {path!r} is {what}: it is not a store, and is never written. {_FIX}"
        )


def _not_a_store(path: str, st: os.stat_result, metadata: str) -> str | None:
    """What ``path`` is when it is not a store (or the remains of one), else None."""
    if stat.S_ISLNK(st.st_mode):
        return f"a symbolic link (to {os.readlink(path)!r})"
    if stat.S_IFMT(st.st_mode) != stat.S_IFREG:
        kinds = {stat.S_IFDIR: "a folder", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}
        return kinds.get(stat.S_IFMT(st.st_mode), "a pipe or socket")
    if os.path.exists(metadata) and os.path.samefile(path, metadata):
        return "the root's metadata file"
    with open(path, "rb") as fh:
        head = fh.read(len(_HDF5_SIGNATURE))
    if head != _HDF5_SIGNATURE:
        return "an existing file that is not an HDF5 store (a source image, the user's own file?)"
    import h5py

    try:
        with h5py.File(path, "r", locking=False) as f:
            name = f.attrs.get(fmt.ATTR_FORMAT)
    except Exception:  # an HDF5 file h5py cannot open: the remains of a store (replaced with --overwrite)
        return None
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    if name != fmt.FORMAT_NAME:
        return f"an HDF5 file that is not a bioscan-h5 store (its 'format' attribute is {name!r})"
    return None
