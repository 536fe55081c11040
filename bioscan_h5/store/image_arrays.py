"""A store's images (a part of :class:`~bioscan_h5.store.Store`): its pixel kind and what it serves.

``Store.images`` and the readers come from the store's codec (:mod:`bioscan_h5.pixels`); a store
of a DNA-only dataset has none.
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
from ..pixels import PixelCodec, codec_of
from ..pixels.jpeg import JpegBlock
from .damage import reads
from .ranges import check_status

__all__ = ["ImageArrays"]


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
        return self.codec.images(self)

    @cached_property
    def codec(self) -> PixelCodec:
        """How the store keeps its images (``codec.name``: ``"raw"``, ``"jpeg"``, ...)."""
        return codec_of(self.attrs, self.path)

    def pixel_reader(self):
        """A new reader of rows into caller buffers (``read``, ``read_one``, ``row_shape``): the codec's."""
        return self.codec.reader(self)

    #: a JPEG store's :class:`~bioscan_h5.pixels.jpeg.JpegBlock`
    jpeg = cached_property(reads("the JPEG tables")(JpegBlock))

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
