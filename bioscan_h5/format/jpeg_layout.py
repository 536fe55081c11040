"""The store format of JPEG stores (``build --pixels jpeg``); the kind itself is :mod:`bioscan_h5.pixels.jpeg`."""

from __future__ import annotations

import numpy as np

from .layout import partial_path

__all__ = [
    "JPEG_BYTES",
    "JPEG_LENGTHS",
    "JPEG_MODES",
    "JPEG_MODE_DTYPE",
    "JPEG_OFFSETS",
    "JPEG_OFFSET_DTYPE",
    "JPEG_SIZES",
    "SPOOL_SUFFIX",
    "spool_path",
]


# ---------------------------------------------------------------- JPEG stores (``build --pixels jpeg``)
# A JPEG store keeps each image as encoded bytes instead of decoded pixels: it has no
# ``/images``; its root attribute ``pixels`` is "jpeg". Every other dataset is as above.
#
#     /jpeg/bytes    uint8  (B,)     contiguous (one memory-mappable block, no variable-length
#                                    types): the images' bytes end to end
#     /jpeg/offsets  int64  (N,)     where row i's bytes start in /jpeg/bytes
#     /jpeg/lengths  int64  (N,)     how many bytes (0: none; the row's image_status says why)
#     /jpeg/sizes    int32  (N, 2)   (width, height) from the stored image's header
#     /jpeg/modes    S8     (N,)     its Pillow mode ("RGB", "L", "CMYK", ...), b"" where none
#
# ``jpeg_quality`` 0: the bytes are each source file's, unchanged (any format Pillow may open
# as a source, mostly JPEG). Q > 0: each source was decoded, converted to RGB, put through the
# resize step of ``fit`` at ``image_size`` (no crop or pad) and encoded once as a JPEG of
# quality Q. Readers apply ``fit`` at ``image_size`` when they decode. The attribute is
# optional for readers: a store without ``pixels`` is a raw store.

JPEG_BYTES = "jpeg/bytes"
JPEG_OFFSETS = "jpeg/offsets"
JPEG_LENGTHS = "jpeg/lengths"
JPEG_SIZES = "jpeg/sizes"
JPEG_MODES = "jpeg/modes"
JPEG_OFFSET_DTYPE = np.dtype(np.int64)
JPEG_MODE_DTYPE = np.dtype("S8")
SPOOL_SUFFIX = ".jpeg-spool"


def spool_path(store_path: str) -> str:
    """``<store>.partial.jpeg-spool``: a JPEG build appends the bytes here; its last stage copies them."""
    return partial_path(store_path) + SPOOL_SUFFIX
