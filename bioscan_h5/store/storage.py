"""Declared shapes against the file: no reader may allocate more than the file could hold.

HDF5 lets a dataset declare any shape, whatever the file holds: a crafted store declaring
10**12 rows would make ``dset[()]`` (or a memory map) ask for terabytes. At open, every
dataset's storage is checked against the size of the file, from its header alone:

- a contiguous dataset (every per-row array, the format-2 pixel block) must have its bytes
  allocated inside the file, as many as its shape and dtype declare;
- a chunked dataset without compression (a format-1 pixel block) may declare no more bytes
  than the file holds; a compressed one (pixels of ``--compression`` stores) only bounds the
  size of one row, which HDF5 keeps under 4 GiB;
- every per-row array of the format but the pixels is contiguous, so ``n_rows`` itself is
  bounded by the file (``/image_status`` holds a byte a row);
- a vocabulary has at most one category per row.
"""

from __future__ import annotations

import os

import h5py

from .. import format as fmt
from ..errors import StoreFormatError

__all__ = ["check_storage"]

_REBUILD = "Rebuild it with `bioscan-h5 build --overwrite`."


def check_storage(f: h5py.File, path: str, header) -> None:
    """Refuse a store whose datasets declare more than the file holds (see the module notes).

    Raises
    ------
    StoreFormatError
        Naming the dataset, what it declares and the file's size.
    """
    size = os.fstat(f.id.get_vfd_handle()).st_size
    datasets: dict[str, h5py.Dataset] = {}

    def collect(name: str, obj) -> None:  # returning a value would stop visititems
        if isinstance(obj, h5py.Dataset):
            datasets[name] = obj

    f.visititems(collect)
    for name, dset in datasets.items():
        _check_one(name, dset, size, path)
    per_row = set(fmt.expected_datasets(header.schema, header.n_rows, header.image_size)) - {fmt.IMAGES}
    for name in sorted(per_row):
        if datasets[name].chunks is not None or datasets[name].compression is not None:
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} is chunked; a store keeps it in one contiguous"
                f" block. {_REBUILD}"
            )
    for name, dset in datasets.items():
        if (
            name.startswith(fmt.COLUMNS + "/")
            and name.endswith("/categories")
            and dset.shape[0] > header.n_rows
        ):
            raise StoreFormatError(
                f"{path!r} is damaged: {name!r} declares {dset.shape[0]} categories for {header.n_rows} rows"
                f" (a category is only kept when a row holds it). {_REBUILD}"
            )


def _check_one(name: str, dset: h5py.Dataset, size: int, path: str) -> None:
    declared = dset.size * dset.dtype.itemsize
    if dset.chunks is None:
        if dset.size == 0:
            return
        offset = dset.id.get_offset()
        stored = dset.id.get_storage_size()
        vlen = dset.dtype.kind == "O"
        if offset is None or offset + stored > size or (not vlen and stored != declared):
            where = "is not allocated" if offset is None else f"takes {stored} bytes from byte {offset}"
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} declares shape {dset.shape} ({declared} bytes) but"
                f" {where}, and the file is {size} bytes long. {_REBUILD}"
            )
    elif dset.compression is None and not dset.id.get_create_plist().get_nfilters() and declared > size:
        raise StoreFormatError(
            f"{path!r} is damaged: dataset {name!r} declares shape {dset.shape} ({declared} bytes), more"
            f" than the file's {size} bytes. {_REBUILD}"
        )
    elif dset.chunks is not None and dset.dtype.itemsize * _prod(dset.chunks) >= 1 << 32:
        raise StoreFormatError(
            f"{path!r} is damaged: dataset {name!r} declares chunks of {dset.chunks}, over HDF5's 4 GiB."
            f" {_REBUILD}"
        )


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for n in shape:
        out *= int(n)
    return out
