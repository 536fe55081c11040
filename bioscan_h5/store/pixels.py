"""A store's images: the pixel block of a raw store, the encoded images of a JPEG store.

:class:`ImageArrays` (a part of :class:`~bioscan_h5.store.Store`) serves both kinds as
``Store.images``. A raw store's pixel block is a memory map when its chunks lie end to end
(:func:`pixel_array`), else the h5py dataset; a JPEG store's images are decoded when indexed
(:class:`~.jpeg.JpegImages`). A store of a DNA-only dataset has none.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import h5py
import numpy as np

from .. import format as fmt
from ..errors import InvalidArgumentError
from ..format import ImageStatus
from .damage import reads
from .jpeg import JpegBlock, JpegImages

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
        return self.array(fmt.IMAGE_STATUS)

    @property
    def image_ok(self) -> np.ndarray:
        return self.image_status == ImageStatus.OK

    @cached_property
    def image_source_size(self) -> np.ndarray:
        return self.array(fmt.IMAGE_SOURCE_SIZE)


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
