"""The pixel block of a store: a memory map when its chunks lie end to end, else the h5py dataset."""

from __future__ import annotations

import h5py
import numpy as np

from .. import format as fmt

__all__ = ["pixel_array"]


def pixel_array(dset: h5py.Dataset, attrs: dict, n_rows: int, image_size: int, map_source):
    """``(N, S, S, 3)`` uint8 pixels of an open store, sliceable like a numpy array.

    An uncompressed store's chunks are allocated in row order when it is created, starting at
    the byte offset recorded in ``pixel_offset``: then the whole block is one memory map of
    ``map_source`` (a file object of the open store). Otherwise (compressed) the h5py dataset.
    """
    off = int(attrs.get(fmt.ATTR_PIXEL_OFFSET, -1))
    n, s = n_rows, image_size
    if off >= 0 and dset.compression is None and dset.chunks == (1, s, s, 3):
        first = dset.id.get_chunk_info_by_coord((0, 0, 0, 0)).byte_offset
        last = dset.id.get_chunk_info_by_coord((n - 1, 0, 0, 0)).byte_offset
        if first == off and last == off + (n - 1) * s * s * 3:
            return np.memmap(map_source, dtype=np.uint8, mode="r", offset=off, shape=(n, s, s, 3))
    return dset
