"""A store's images: the pixel block of a raw store, the encoded images of a JPEG store.

:class:`ImageArrays` (a part of :class:`~bioscan_h5.store.Store`) serves both kinds as
``Store.images``. A store of a DNA-only dataset has none. A JPEG store's images are decoded
when indexed (:class:`~.jpeg.JpegImages`).

A raw store's pixel block is a memory map when its rows lie end to end in the file
(:func:`pixel_array`), else the h5py dataset. Nothing about the layout is taken on trust
before the block is memory-mapped:

- format 2 writes the uncompressed pixels as one contiguous HDF5 dataset, so there is one
  offset, the dataset's own (HDF5 reads the same bytes), and no chunk offsets to trust;
- format 1 wrote them as chunks of one row, allocated in row order from the offset saved in
  ``pixel_offset``: the offset of **every** chunk is checked (about 1 s per million rows).
  The verdict is kept per file (device, inode, size, modification time), so a process and
  the DataLoader workers it forks check a file once. A store whose chunks lie elsewhere is
  read through h5py, which follows the chunk index: slower, but the right pixels.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import cached_property
from typing import Any

import h5py
import numpy as np

from .. import format as fmt
from .._hdf5 import chunk_offsets_contiguous
from ..errors import InvalidArgumentError
from ..format import ImageStatus
from .damage import reads
from .jpeg import JpegBlock, JpegImages
from .ranges import check_status

__all__ = ["ImageArrays", "pixel_array", "pixel_block_offset"]


class ImageArrays:
    """The image arrays of a :class:`~bioscan_h5.store.Store`.

    The store supplies ``array``, ``file``, ``attrs``, ``schema``, ``n_rows``, ``image_size``,
    ``path``, ``dataset`` and ``_map_source``.
    """

    # supplied by the Store (annotations only)
    array: Callable[[str], np.ndarray]
    file: h5py.File
    attrs: dict[str, Any]
    schema: fmt.DatasetSchema
    n_rows: int
    image_size: int
    path: str
    dataset: str
    _map_source: Any

    @property
    def has_images(self) -> bool:
        """False for a store of a DNA-only dataset (no image arrays at all)."""
        return self.schema.has_images

    @cached_property
    @reads("the pixel array")
    def images(self):
        """``(N, S, S, 3)`` uint8 pixels, sliceable like a numpy array (a memory map when uncompressed).

        On a JPEG store, an array-like that decodes the rows it is indexed with.
        """
        if not self.has_images:
            raise InvalidArgumentError(f"{self.path!r} is a store of {self.dataset}, which has no images.")
        if self.pixels == "jpeg":
            return JpegImages(self.jpeg)
        return pixel_array(self.file[fmt.IMAGES], self.attrs, self.n_rows, self.image_size, self._map_source)

    pixels = property(lambda self: fmt.pixel_kind(self.attrs), doc='``"raw"`` or ``"jpeg"``: the kind.')
    jpeg = cached_property(reads("the JPEG tables")(JpegBlock))  #: a JPEG store's :class:`~.jpeg.JpegBlock`

    @property
    def memory_mapped(self) -> bool:
        """True when :attr:`images` is a memory map (uncompressed store)."""
        return isinstance(self.images, np.memmap)

    @cached_property
    def image_status(self) -> np.ndarray:
        """``(N,)`` :class:`~bioscan_h5.format.ImageStatus` codes (all pending in a DNA-only store)."""
        if not self.has_images:
            return np.zeros(self.n_rows, dtype=fmt.STATUS_DTYPE)
        status = self.array(fmt.IMAGE_STATUS)
        check_status(self.path, status)  # each code a known status, checked on first use
        return status

    @property
    def image_ok(self) -> np.ndarray:
        return self.image_status == ImageStatus.OK

    @cached_property
    def image_source_size(self) -> np.ndarray:
        return self.array(fmt.IMAGE_SOURCE_SIZE)


log = logging.getLogger("bioscan_h5.store")

#: (device, inode, size, mtime_ns) of a format-1 file -> its verified pixel offset (or None).
_CHUNKED_VERDICTS: dict[tuple[int, int, int, int], int | None] = {}


def pixel_block_offset(dset: h5py.Dataset, attrs: dict, n_rows: int, image_size: int) -> int | None:
    """The byte offset of row 0's pixels when every row lies end to end in the file, else None.

    Parameters
    ----------
    dset : h5py.Dataset
        The store's ``/images``.
    attrs : dict
        The root attributes (unused: the offsets are read from the file itself).
    n_rows, image_size : int

    Returns
    -------
    int or None
        None for a compressed block, and for a chunked one whose chunks do not all follow
        each other in row order from ``pixel_offset``.
    """
    n, s = n_rows, image_size
    if n < 1 or dset.shape != (n, s, s, 3) or dset.dtype != np.uint8 or dset.compression is not None:
        return None
    if dset.is_virtual or dset.external:
        return None
    st = os.fstat(dset.file.id.get_vfd_handle())
    end_of_file = st.st_size
    if dset.chunks is None:  # format 2: one contiguous dataset
        offset = dset.id.get_offset()
    elif dset.chunks == (1, s, s, 3):
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in _CHUNKED_VERDICTS:
            found = chunk_offsets_contiguous(dset)
            if found < 0:
                log.warning(
                    "%s: the pixel chunks do not lie end to end in row order; reading them through"
                    " HDF5 (slower)",
                    dset.file.filename,
                )
            _CHUNKED_VERDICTS[key] = found if found >= 0 else None
        offset = _CHUNKED_VERDICTS[key]
    else:
        return None
    # A block that would end past the end of the file is not mapped (touching it would be SIGBUS).
    if offset is None or offset + n * s * s * 3 > end_of_file:
        return None
    return offset


def pixel_array(dset: h5py.Dataset, attrs: dict, n_rows: int, image_size: int, map_source):
    """``(N, S, S, 3)`` uint8 pixels of an open store, sliceable like a numpy array.

    When the block lies end to end (:func:`pixel_block_offset`) it is one memory map of
    ``map_source`` (a file object of the open store); otherwise (compressed, or chunks out of
    order) the h5py dataset.
    """
    off = pixel_block_offset(dset, attrs, n_rows, image_size)
    if off is None:
        return dset
    s = image_size
    return np.memmap(map_source, dtype=np.uint8, mode="r", offset=off, shape=(n_rows, s, s, 3))
