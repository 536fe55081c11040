"""Declared shapes against the file: no reader may allocate more than the file could hold.

HDF5 lets a dataset declare any shape, whatever the file holds, so at open every dataset's
storage is checked against the size of the file, from its header alone (:func:`check_storage`).
"""

from __future__ import annotations

import os

import h5py

from .. import format as fmt
from ..errors import REBUILD, StoreFormatError

__all__ = ["check_storage"]


def check_storage(f: h5py.File, path: str, header, seen: dict | None = None) -> None:
    """Refuse a store whose datasets declare more than the file holds.

    A contiguous dataset (every per-row array, the pixel block) must have its bytes allocated
    inside the file, as many as its shape and dtype declare; an uncompressed chunked one may
    declare no more bytes than the file holds, a compressed one only chunks under HDF5's 4 GiB.
    Every per-row array but the pixels is contiguous (so ``n_rows`` is bounded by the file), and
    a vocabulary has at most one category per row.

    ``seen`` maps each dataset's path to ``(dataset, dtype, shape)`` when the caller has
    opened them already (:func:`.validate.read_header`); by default the file is walked.

    Raises
    ------
    StoreFormatError
        Naming the dataset, what it declares and the file's size.
    """
    size = os.fstat(f.id.get_vfd_handle()).st_size
    if seen is None:
        seen = {}

        def collect(name: str, obj) -> None:  # returning a value would stop visititems
            if isinstance(obj, h5py.Dataset):
                seen[name] = (obj, obj.dtype, obj.shape)

        f.visititems(collect)
    for name, (dset, dtype, shape) in seen.items():
        _check_one(name, dset, dtype, shape, size, path)
    per_row = set(fmt.expected_datasets(header.schema, header.n_rows, header.image_size)) - {fmt.IMAGES}
    for name in sorted(per_row):
        if seen[name][0].id.get_create_plist().get_layout() != h5py.h5d.CONTIGUOUS:
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} is chunked; a store keeps it in one contiguous"
                f" block. {REBUILD}"
            )
    for name, (_, _, shape) in seen.items():
        if name.startswith(fmt.COLUMNS + "/") and name.endswith("/categories") and shape[0] > header.n_rows:
            raise StoreFormatError(
                f"{path!r} is damaged: {name!r} declares {shape[0]} categories for {header.n_rows} rows"
                f" (a category is only kept when a row holds it). {REBUILD}"
            )


def _check_one(name: str, dset: h5py.Dataset, dtype, shape: tuple, size: int, path: str) -> None:
    count = _prod(shape)
    declared = count * dtype.itemsize
    plist = dset.id.get_create_plist()
    layout = plist.get_layout()
    if layout == h5py.h5d.CONTIGUOUS:
        if count == 0:
            return
        offset = dset.id.get_offset()
        stored = dset.id.get_storage_size()
        vlen = dtype.kind == "O"
        if offset is None or offset + stored > size or (not vlen and stored != declared):
            where = "is not allocated" if offset is None else f"takes {stored} bytes from byte {offset}"
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} declares shape {shape} ({declared} bytes) but"
                f" {where}, and the file is {size} bytes long. {REBUILD}"
            )
    elif layout == h5py.h5d.CHUNKED:
        if not plist.get_nfilters() and declared > size:
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} declares shape {shape} ({declared} bytes), more"
                f" than the file's {size} bytes. {REBUILD}"
            )
        if dtype.itemsize * _prod(plist.get_chunk()) >= 1 << 32:
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} declares chunks of {plist.get_chunk()}, over HDF5's"
                f" 4 GiB. {REBUILD}"
            )
    elif declared > size:  # compact: kept in its header, never more than 64 KB
        raise StoreFormatError(f"{path!r} is damaged: dataset {name!r} declares {declared} bytes. {REBUILD}")


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for n in shape:
        out *= int(n)
    return out
