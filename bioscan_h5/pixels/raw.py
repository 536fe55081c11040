"""Raw stores: decoded pixels, one ``(N, S, S, 3)`` uint8 block read by the read engine (:mod:`.rows`).

:class:`RawCodec` is the kind; :class:`PixelWriter` is its build stage 2 (rows marked done once
their pixels are durable); ``Store.images`` is a memory map when the block is contiguous.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np

from .. import format as fmt
from .._files import copy_sparse, pwrite_all
from .._hdf5 import create_preallocated
from ..checksums import image_crc, pixels_crc
from ..errors import InvalidArgumentError
from .base import PixelCodec
from .rows import RowReader, pixel_block_offset
from .writer import RowWriter

__all__ = ["PixelWriter", "RawCodec"]


class RawCodec(PixelCodec):
    """Decoded pixels: ``/images``, ``(N, S, S, 3)`` uint8, contiguous (compressed: a chunk a row)."""

    name = "raw"

    def check_arguments(self, quality: object, compression: str | None) -> None:
        if quality is not None:
            raise InvalidArgumentError(
                f"jpeg_quality={quality!r} needs pixels='jpeg' (--pixels jpeg): a raw store keeps decoded pixels."
            )

    def datasets(self, n_rows: int, image_size: int, complete: bool) -> dict[str, tuple]:
        return {fmt.IMAGES: ("u1", (n_rows, image_size, image_size, 3))}

    def unwritten_row_bytes(self, image_size: int) -> int:
        return image_size**2 * 3

    def create_block(self, f: h5py.File, n_rows: int, cfg: Any) -> int:
        """The pixel array last: what stage 2 rewrites lies before it; the file never grows past it."""
        s = cfg.image_size
        if not cfg.compression:
            return int(create_preallocated(f, fmt.IMAGES, (n_rows, s, s, 3)).id.get_offset())
        opts: dict[str, Any] = {"compression": cfg.compression}
        if cfg.compression == "gzip":
            opts["compression_opts"] = 4
        f.create_dataset(
            fmt.IMAGES, shape=(n_rows, s, s, 3), dtype=fmt.IMAGE_DTYPE, chunks=(1, s, s, 3), **opts
        )
        return -1

    def image_bytes(self, cfg: Any) -> int:
        return cfg.image_size**2 * 3

    def writer(self, partial: str, cfg: Any) -> PixelWriter:
        return PixelWriter(partial, cfg.image_size)

    def results(self, cfg: Any, jobs: list, image_dir: str, writer: Any, pool: Any) -> Iterator[tuple]:
        direct = (writer.path, writer.pixel_offset) if writer.pixel_offset >= 0 else None
        return pool.decode_batches(
            jobs, cfg.image_size, cfg.fit, cfg.draft, image_dir, cfg.workers, cfg.batch_size, direct=direct
        )

    def copy_store(self, store: str, partial: str) -> None:
        copy_sparse(store, partial)

    def reader(self, store: Any) -> RowReader:
        return RowReader(store)

    def images(self, store: Any) -> Any:
        """A memory map of the file HDF5 has open when the block is contiguous, else the dataset."""
        dset, n, s = store.file[fmt.IMAGES], store.n_rows, store.image_size
        off = pixel_block_offset(dset, n, s)
        if off is None:
            return dset
        return np.memmap(store._map_source, dtype=np.uint8, mode="r", offset=off, shape=(n, s, s, 3))

    def checksum_bytes(self, store: Any) -> None:
        return None

    def checksum_blame(self, image_checksums: str) -> str:
        return f"{fmt.IMAGES} (its pixels, or its checksum in {image_checksums})"

    def summary(self, store: Any, n_ok: int) -> dict:
        return {"jpeg_quality": None, "image_bytes": n_ok * store.image_size**2 * 3}

    def describe(self, info: dict) -> str:
        return "memory-mapped" if info["memory_mapped"] else "compressed: " + str(info["compression"])

    def check_row(self, store: Any, row: int, path: str, real: str) -> tuple[int, bool, str]:
        from ..images import decode_image

        a = store.attrs
        got, pixels, _, _ = decode_image(
            path, store.image_size, a[fmt.ATTR_FIT], bool(a[fmt.ATTR_DRAFT]), real
        )
        differs = pixels is not None and not np.array_equal(np.asarray(store.images[row]), pixels)
        return int(got), differs, "pixels differ from a fresh decode of the source"


class PixelWriter(RowWriter):
    """Writes decoded pixels into the partial store's block (``pwrite``, or through HDF5 when compressed)."""

    def __init__(self, path: str, image_size: int) -> None:
        self.size = image_size
        self.nbytes = image_size * image_size * 3
        super().__init__(path)
        if self.pixel_offset < 0:  # compressed: pixels go through HDF5
            self.h5 = h5py.File(path, "r+", locking=False)
            self.images = self.h5[fmt.IMAGES]

    def _open(self, f: h5py.File) -> None:
        offset = pixel_block_offset(f[fmt.IMAGES], f[fmt.IMAGES].shape[0], self.size)
        self.pixel_offset = -1 if offset is None else offset

    def write(
        self,
        row: int,
        status: int,
        pixels: np.ndarray | None,
        size: tuple[int, int],
        pixel_crc: int | None = None,
    ) -> None:
        """Write the pixels of ``row`` (None for a bad image); its status goes with a later sync.

        ``pixel_crc``: the CRC-32 of pixels a decoding worker wrote (else computed here). A bad
        image's row is set to zeros (an interrupted run may have written it), covered by its checksum.
        """
        crc = 0
        if pixels is None and pixel_crc is None and self.crc_offset is not None:
            pixels = np.zeros((self.size, self.size, 3), dtype=np.uint8)
        if self.crc_offset is not None:
            if pixel_crc is None:
                assert pixels is not None  # a bad image's row was set to zeros just above
                pixel_crc = pixels_crc(pixels)
            crc = image_crc(pixel_crc, status, size)
        if pixels is not None:
            if self.h5 is not None:
                self.images[row] = pixels
            else:  # straight from the decoder's buffer, no copy
                pwrite_all(self.fd, np.ascontiguousarray(pixels), self.pixel_offset + row * self.nbytes)
        self.pending.append((row, status, size[0], size[1], crc))
        self._after_write()
