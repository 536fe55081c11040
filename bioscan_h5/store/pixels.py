"""The pixel block of a store: a memory map when its chunks lie end to end, else the h5py dataset."""

from __future__ import annotations

import h5py
import numpy as np

from .. import format as fmt

__all__ = ["pixel_array", "pixel_block_offset"]


def pixel_block_offset(dset: h5py.Dataset, attrs: dict, n_rows: int, image_size: int) -> int | None:
    """The byte offset of row 0's pixels when the block lies end to end in the file, else None.

    An uncompressed store's chunks are allocated in row order when it is created, starting at
    the byte offset recorded in ``pixel_offset``; the offsets HDF5 reports for the first and
    the last chunk are checked against it. Compressed stores (and any other layout) give None.
    """
    off = int(attrs.get(fmt.ATTR_PIXEL_OFFSET, -1))
    n, s = n_rows, image_size
    if off < 0 or n < 1 or dset.compression is not None or dset.chunks != (1, s, s, 3):
        return None
    if dset.shape != (n, s, s, 3) or dset.dtype != np.uint8:
        return None
    first = dset.id.get_chunk_info_by_coord((0, 0, 0, 0)).byte_offset
    last = dset.id.get_chunk_info_by_coord((n - 1, 0, 0, 0)).byte_offset
    return off if first == off and last == off + (n - 1) * s * s * 3 else None


def pixel_array(dset: h5py.Dataset, attrs: dict, n_rows: int, image_size: int, map_source):
    """``(N, S, S, 3)`` uint8 pixels of an open store, sliceable like a numpy array.

    When the block lies end to end (:func:`pixel_block_offset`) it is one memory map of
    ``map_source`` (a file object of the open store); otherwise (compressed) the h5py dataset.
    """
    off = pixel_block_offset(dset, attrs, n_rows, image_size)
    if off is None:
        return dset
    s = image_size
    return np.memmap(map_source, dtype=np.uint8, mode="r", offset=off, shape=(n_rows, s, s, 3))
