"""JPEG stores (``build --pixels jpeg``): encoded bytes, decoded when read.

:class:`JpegCodec` is the kind; :class:`JpegBlock` reads rows into ``(S, S, 3)`` buffers the
caller owns with the raw builder's own decode (so the pixels equal a raw store's), or returns
the stored image itself (:meth:`JpegBlock.pil`); :class:`JpegImages` is ``Store.images``.
Tables that disagree with the block, and bytes no decoder reads, end in a named error.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from .. import format as fmt
from .._forksafe import fork_lock
from ..errors import REBUILD, BioscanH5Error, ImageUnavailableError, InvalidArgumentError, StoreFormatError
from .base import PixelCodec
from .descriptors import Descriptor, own_descriptor

if TYPE_CHECKING:
    from .jpeg_decode import RowDecoder

__all__ = ["JpegBlock", "JpegCodec", "JpegImages", "check_tables", "decoded", "header_size"]

_open_lock = fork_lock()  # one descriptor per process, however many threads read at once
#: Typical bytes of one source file per image package (BIOSCAN-5M), for a build's estimates.
_SOURCE_BYTES = {"cropped_256": 8_000, "original_256": 12_000, "cropped": 80_000, "original_full": 700_000}


class JpegCodec(PixelCodec):
    """Encoded images: ``/jpeg/bytes`` and its row tables (:mod:`bioscan_h5.format.jpeg_layout`)."""

    name = "jpeg"
    stored_pil = True
    spool_copies = 2  # the bytes are in the spool, then in the store, for a moment
    gpu_decode = True
    image_arrays = (fmt.JPEG_OFFSETS, fmt.JPEG_LENGTHS, fmt.JPEG_SIZES, fmt.JPEG_MODES)

    def check_arguments(self, quality: object, compression: str | None) -> None:
        if compression:
            raise InvalidArgumentError(
                f"compression={compression!r} does not apply to a JPEG store (its bytes are compressed"
                " already); leave --compression out with --pixels jpeg."
            )
        if quality is None:
            return
        if not isinstance(quality, int) or isinstance(quality, bool) or not 1 <= quality <= 100:
            raise InvalidArgumentError(
                f"jpeg_quality must be an integer from 1 to 100 or None, got {quality!r}."
            )

    def file_suffix(self, quality: int | None, crop: bool) -> str:
        if not quality:
            return "_jpeg"
        return f"_jpeg{quality}" + ("crop" if crop else "")

    def datasets(self, n_rows: int, image_size: int, complete: bool) -> dict[str, tuple]:
        """The row tables, and ``/jpeg/bytes`` once the last stage wrote it (``complete``)."""
        out: dict[str, tuple] = {
            fmt.JPEG_OFFSETS: ("i8", (n_rows,)),
            fmt.JPEG_LENGTHS: ("i8", (n_rows,)),
            fmt.JPEG_SIZES: ("i4", (n_rows, 2)),
            fmt.JPEG_MODES: ("S", (n_rows,)),
        }
        if complete:
            out[fmt.JPEG_BYTES] = ("u1", (None,))
        return out

    def create_tables(self, f: h5py.File, n_rows: int, cfg: Any) -> None:
        from .jpeg_build import create_jpeg_rows

        create_jpeg_rows(f, n_rows, cfg.jpeg_quality)

    def unwritten_row_bytes(self, image_size: int) -> int:
        return 0  # no bytes yet

    def image_bytes(self, cfg: Any) -> int:
        raw = cfg.image_size**2 * 3
        if cfg.jpeg_quality:
            return raw // 4  # well above a JPEG at any quality below 100
        return _SOURCE_BYTES.get(cfg.image_package, raw)

    def writer(self, partial: str, cfg: Any) -> Any:
        from .jpeg_build import JpegWriter

        return JpegWriter(partial)

    def results(self, cfg: Any, jobs: list, image_dir: str, writer: Any, pool: Any) -> Iterator[tuple]:
        from ..images import ingest

        reader = functools.partial(
            ingest,
            image_dir_real=os.path.realpath(image_dir),
            size=cfg.image_size,
            fit=cfg.fit,
            draft=cfg.draft,
            quality=cfg.jpeg_quality,
            crop=cfg.jpeg_crop,
        )
        return ((*row, None) for row in pool.read_batches(jobs, reader, cfg.workers, cfg.batch_size))

    def before_images(self, partial: str) -> None:
        from .jpeg_build import prepare_spool

        prepare_spool(partial)

    def after_images(self, partial: str) -> None:
        from .jpeg_build import assemble

        assemble(partial)

    def copy_store(self, store: str, partial: str) -> None:
        from .jpeg_build import copy_for_jpeg_extension

        copy_for_jpeg_extension(store, partial)

    def reader(self, store: Any) -> JpegBlock:
        return store.pixel_block

    def images(self, store: Any) -> JpegImages:
        return JpegImages(store.pixel_block)

    def block(self, store: Any) -> JpegBlock:
        return JpegBlock(store)

    def pil(self, store: Any) -> Callable[[int], Any]:
        return store.pixel_block.pil

    def encoded(self, store: Any) -> Callable[[int], bytes]:
        return store.pixel_block.encoded

    def gpu_decoder(self, store: Any, device: Any) -> Any:
        from .gpu_jpeg import GpuJpegDecoder

        return GpuJpegDecoder(store.pixel_block, device)

    def checksum_bytes(self, store: Any) -> Callable[[int], bytes]:
        return store.pixel_block.encoded

    def checksum_blame(self, image_checksums: str) -> str:
        return f"{fmt.JPEG_BYTES} (its bytes, or its checksum in {image_checksums})"

    def summary(self, store: Any, n_ok: int) -> dict:
        return {"jpeg_quality": store.pixel_block.quality, "image_bytes": store.pixel_block.nbytes}

    def describe(self, info: dict) -> str:
        q = info["jpeg_quality"]
        return f"JPEG store ({f're-encoded at quality {q}' if q else 'the source bytes'}, decoded when read)"

    def structure_checks(self, store: Any) -> list[Callable[[], object]]:
        return [lambda: _check_headers(store)]

    def check_row(self, store: Any, row: int, path: str, real: str) -> tuple[int, bool, str]:
        from ..images import ingest

        a, block = store.attrs, store.pixel_block
        crop = bool(json.loads(a.get(fmt.ATTR_BUILD_ARGS) or "{}").get("jpeg_crop", False))
        fit, draft = a[fmt.ATTR_FIT], bool(a[fmt.ATTR_DRAFT])
        got, payload, _, _ = ingest(path, real, store.image_size, fit, draft, block.quality or None, crop)
        differs = payload is not None and payload[0] != block.encoded(row)
        return (
            int(got),
            differs,
            "bytes differ from the source file" + (" re-encoded" if block.quality else ""),
        )


def _check_headers(store: Any) -> None:
    """Each row's frame header against the tables (checked as the block opened)."""
    block = store.pixel_block
    bad = []
    for row in np.flatnonzero(block.lengths > 0).tolist():
        declared = header_size(block.encoded(row))
        if declared is not None and declared != tuple(block.sizes[row].tolist()):
            bad.append(row)
    if bad:
        raise StoreFormatError(
            f"{store.path!r} is damaged: the JPEG headers of {len(bad)} rows (row {bad[0]} first) declare"
            f" another size than '/{fmt.JPEG_SIZES}': they would not be decoded. {REBUILD}"
        )


class JpegBlock:
    """The encoded images of an open JPEG store (``Store.pixel_block``), read and decoded per row.

    Row ``i``'s bytes are ``lengths[i]`` bytes at ``offsets[i]`` of the block; ``sizes`` (``(N, 2)``
    width, height) and ``modes`` (Pillow's, ``S8``) describe the stored image; ``quality`` is 0
    for the source files' bytes; :meth:`read_one` writes ``row_shape`` (``(S, S, 3)``). The tables
    are checked against the block here, once (a :class:`StoreFormatError`).
    """

    positional = True

    def __init__(self, store) -> None:
        self._decoder: RowDecoder | None = None
        self._fd: Descriptor | None = None
        self.store = store
        self.n_rows = store.n_rows
        s = store.image_size
        self.row_shape = (s, s, 3)
        self.row_bytes = s * s * 3
        a = store.attrs
        self.fit, self.draft = str(a[fmt.ATTR_FIT]), bool(a.get(fmt.ATTR_DRAFT, True))
        self.quality = int(a.get(fmt.ATTR_JPEG_QUALITY, 0))
        self.offsets = np.asarray(store.array(fmt.JPEG_OFFSETS))
        self.lengths = np.asarray(store.array(fmt.JPEG_LENGTHS))
        self.sizes = store.array(fmt.JPEG_SIZES)
        self.modes = store.array(fmt.JPEG_MODES)
        block = store.file[fmt.JPEG_BYTES]
        self.nbytes = int(block.shape[0])
        start = block.id.get_offset() if self.nbytes else 0
        if start is None:  # chunked (or not allocated): no one place in the file to read rows from
            raise StoreFormatError(
                f"{store.path!r} is damaged: '/{fmt.JPEG_BYTES}' is not stored as one contiguous block, as"
                f" `bioscan-h5 build --pixels jpeg` writes it. {REBUILD}"
            )
        self.start = start
        check_tables(store.path, self.offsets, self.lengths, self.sizes, store.image_status, self.nbytes)

    def __reduce__(self):
        return (JpegBlock, (self.store,))

    def __repr__(self) -> str:
        what = f"re-encoded at quality {self.quality}" if self.quality else "source bytes"
        return f"<JpegBlock {os.path.basename(self.store.path)!r}: {self.n_rows} rows, {self.nbytes} bytes, {what}>"

    # ------------------------------------------------------------ bytes
    def _descriptor(self) -> int:
        fd = self._fd
        if fd is None or fd.pid != os.getpid():
            with _open_lock:
                fd = self._fd
                if fd is None or fd.pid != os.getpid():
                    if fd is not None:
                        fd.drop_inherited()
                    fd = self._fd = own_descriptor(self.store.file.id.get_vfd_handle())
        return fd.fd

    def encoded(self, row: int) -> bytes:
        """The stored bytes of ``row`` (``b""`` where the row has no image)."""
        if not 0 <= row < self.n_rows:
            raise IndexError(f"row {row!r} is out of range for a store of {self.n_rows} rows")
        return self._bytes(row, int(self.offsets[row]), int(self.lengths[row]))

    def _bytes(self, row: int, offset: int, n: int) -> bytes:
        if not n:
            return b""
        at = self.start + offset
        data = os.pread(self._descriptor(), n, at)
        while len(data) < n:  # a short read: go on where it stopped
            more = os.pread(self._descriptor(), n - len(data), at + len(data))
            if not more:
                raise StoreFormatError(f"{self.store.path!r} ended while reading the bytes of row {row}.")
            data += more
        return data

    # ------------------------------------------------------------ decoded
    def pil(self, row: int):
        """The stored image of ``row``, decoded by Pillow (mode and size as stored)."""
        from ..images import open_encoded

        img = open_encoded(self.encoded(row))
        img.load()
        return img

    @property
    def decoder(self):
        """The :class:`~.jpeg_decode.RowDecoder` of :meth:`read_one`."""
        if self._decoder is None:
            from .jpeg_decode import RowDecoder

            self._decoder = RowDecoder(self.row_shape[0], self.fit, self.draft)
        return self._decoder

    def read_one(self, row: int, out: np.ndarray) -> np.ndarray:
        """Decode ``row`` into ``out`` (``(S, S, 3)`` uint8) as a raw store holds it; zeros without an image."""
        data = self.encoded(row)
        if not data:
            out[...] = 0
            return out
        w, h = self.sizes[row].tolist()
        with decoded(self.store.path, row, data, (w, h)):
            return self.decoder.into(data, bytes(self.modes[row]), (w, h), out)

    def read(self, rows, out: np.ndarray, nogil: bool = False) -> np.ndarray:
        """Decode the images of ``rows`` into ``out[i]`` for ``rows[i]`` (``nogil``: as :meth:`RowReader.read`'s; unused)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if out.shape != (len(rows), *self.row_shape) or out.dtype != np.uint8:
            raise ValueError(
                f"out must be a uint8 array of shape {(len(rows), *self.row_shape)}, got {out.dtype} {out.shape}"
            )
        if len(rows) and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f"rows out of range for a store of {self.n_rows} rows")
        offsets, lengths, sizes = self.offsets[rows], self.lengths[rows], self.sizes[rows]
        modes = self.modes[rows].tolist()
        dec = self.decoder
        crops = dec.crops(sizes, modes)
        if crops is None:
            crops = np.full((len(rows), 2), -1)
        row_of, offset_of, length_of = rows.tolist(), offsets.tolist(), lengths.tolist()
        size_of, crop_of = sizes.tolist(), crops.tolist()
        contiguous = out.flags.c_contiguous
        for k in np.argsort(offsets, kind="stable").tolist():  # in file order
            data = self._bytes(row_of[k], offset_of[k], length_of[k])
            (w, h), (top, left) = size_of[k], crop_of[k]
            if not data:
                out[k] = 0
                continue
            with decoded(self.store.path, row_of[k], data, (w, h)):
                if top < 0 or not contiguous or not dec.crop_into(data, w, h, top, left, out[k]):
                    dec.into(data, modes[k], (w, h), out[k])
        return out

    def close(self) -> None:
        """Close this process's descriptor (a later read reopens it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fd.close()


class JpegImages:
    """``Store.images`` of a JPEG store: ``(N, S, S, 3)`` uint8, decoded on indexing.

    ``images[i]``, ``images[a:b]`` and ``images[array_of_rows]`` return numpy arrays equal to a
    raw store's (zeros where a row has no image).
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, block: JpegBlock) -> None:
        self.block = block
        self.shape = (block.n_rows, *block.row_shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            row = int(key) + (self.shape[0] if key < 0 else 0)
            return self.block.read_one(row, np.empty(self.block.row_shape, dtype=np.uint8))
        rows = np.arange(self.shape[0])[key]
        return self.block.read(rows, np.empty((len(rows), *self.block.row_shape), dtype=np.uint8))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"<JpegImages {self.shape} uint8, decoded from {self.block.nbytes} bytes>"


def _refuse(path: str, what: str, rows: np.ndarray) -> StoreFormatError:
    row = int(rows[0])
    return StoreFormatError(f"{path!r} is damaged: {what} (row {row}; {len(rows)} rows in all). {REBUILD}")


def check_tables(path: str, offsets, lengths, sizes, status, nbytes: int) -> None:
    """Raise :class:`StoreFormatError` where a JPEG store's tables cannot be trusted."""
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if not len(offsets):
        return
    bad = np.flatnonzero((offsets < 0) | (lengths < 0) | (offsets > nbytes) | (lengths > nbytes))
    if not len(bad):  # each term is at most nbytes now: the sum cannot overflow
        bad = np.flatnonzero(offsets + lengths > nbytes)
    if len(bad):
        raise _refuse(path, f"its JPEG tables point outside the {nbytes}-byte block '/{fmt.JPEG_BYTES}'", bad)
    ok = np.asarray(status) == fmt.ImageStatus.OK
    bad = np.flatnonzero(ok & (lengths == 0))
    if len(bad):
        raise _refuse(path, f"a row marked OK has no bytes in '/{fmt.JPEG_LENGTHS}'", bad)
    wh = np.asarray(sizes, dtype=np.int64).reshape(len(offsets), 2)
    w, h = wh[:, 0], wh[:, 1]
    bad = np.flatnonzero((lengths > 0) & ((w < 1) | (h < 1) | (w * h > fmt.MAX_SOURCE_PIXELS)))
    if len(bad):
        r = int(bad[0])
        raise _refuse(
            path,
            f"'/{fmt.JPEG_SIZES}' gives an image of {int(w[r])} x {int(h[r])} px (at least 1 x 1 and at most"
            f" {fmt.MAX_SOURCE_PIXELS} px are valid)",
            bad,
        )


def header_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's frame header, or None (not a JPEG, or no frame header)."""
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 9 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


@contextlib.contextmanager
def decoded(path: str, row: int, data: bytes, size: tuple[int, int]) -> Iterator[None]:
    """One row's decode: a header that disagrees with the table, or a decoder error, is an :class:`ImageUnavailableError`."""
    declared = header_size(data)
    if declared is not None and declared != tuple(size):
        raise ImageUnavailableError(
            f"The image of row {row} of {path!r} declares {declared[0]} x {declared[1]} px but the store's"
            f" table says {size[0]} x {size[1]}: its bytes are damaged (or crafted), and it is not decoded."
            " `bioscan-h5 verify --full` lists every such row; rebuild the store with `bioscan-h5 build"
            " --overwrite`."
        )
    try:
        yield
    except BioscanH5Error:
        raise
    except Exception as exc:  # PIL's UnidentifiedImageError, DecompressionBombError, a truncated file...
        raise ImageUnavailableError(
            f"The image of row {row} of {path!r} could not be decoded ({type(exc).__name__}: {exc}): its"
            " bytes are damaged. `bioscan-h5 verify --full` lists every such row; rebuild the store with"
            " `bioscan-h5 build --overwrite`."
        ) from exc
