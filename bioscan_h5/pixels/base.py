"""The interface of a pixel kind: what the builder, the store, the datasets, verify and info ask of it.

A kind is one :class:`PixelCodec` subclass in its own module, registered in
:data:`bioscan_h5.pixels.CODECS`; no code outside :mod:`bioscan_h5.pixels` branches on its name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import StoreFormatError

if TYPE_CHECKING:
    import h5py

__all__ = ["PixelCodec"]


class PixelCodec(ABC):
    """How a store keeps its images: format, build stages, reading, checksums, summary, checks.

    Attributes
    ----------
    name : str
        The value of the root attribute ``pixels`` (and of ``--pixels``).
    stored_pil : bool
        PIL samples are the stored images themselves (decoded by Pillow), not store rows.
    spool_copies : int
        How many times a build holds the new images' bytes at once (for the disk-space check).
    gpu_decode : bool
        :meth:`gpu_decoder` decodes batches on a GPU (``batch_loader(..., decode="cuda")``).
    image_arrays : tuple of str
        This kind's per-row tables written with each image, covered by the image checksums.
    """

    name: str = ""
    stored_pil: bool = False
    spool_copies: int = 1
    gpu_decode: bool = False
    image_arrays: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # ------------------------------------------------------------ format and arguments
    def check_arguments(self, quality: object, compression: str | None) -> None:  # noqa: B027
        """Raise :class:`~bioscan_h5.errors.InvalidArgumentError` for build arguments this kind refuses."""

    def file_suffix(self, quality: int | None, crop: bool) -> str:
        """What this kind adds to a store's default file name (before ``.h5``)."""
        return ""

    @abstractmethod
    def datasets(self, n_rows: int, image_size: int, complete: bool) -> dict[str, tuple]:
        """The image datasets a store of this kind has (as :func:`~bioscan_h5.format.expected_datasets`)."""

    # ------------------------------------------------------------ build
    def create_tables(self, f: h5py.File, n_rows: int, cfg: Any) -> None:  # noqa: B027
        """Stage 1, before the checksums: this kind's root attributes and per-row tables."""

    @abstractmethod
    def unwritten_row_bytes(self, image_size: int) -> int:
        """How many zero bytes a row's image checksum covers before its image is written."""

    def create_block(self, f: h5py.File, n_rows: int, cfg: Any) -> int:
        """Stage 1, last: the image block; returns its byte offset (-1: none, or not one contiguous block)."""
        return -1

    @abstractmethod
    def image_bytes(self, cfg: Any) -> int:
        """The bytes one image takes in a store built with ``cfg`` (an estimate where not fixed)."""

    @abstractmethod
    def writer(self, partial: str, cfg: Any) -> Any:
        """Stage 2's writer into the partial store (``write``, ``sync``, ``close``, ``path``, ``pixel_offset``)."""

    @abstractmethod
    def results(self, cfg: Any, jobs: list, image_dir: str, writer: Any, pool: Any) -> Iterator[tuple]:
        """Stage 2's rows ``(row, status, image, size, detail, crc)`` for ``jobs`` ``(row, path)``.

        ``pool`` is the builder's :mod:`bioscan_h5.build.pool` (the pixel package never imports the builder).
        """

    def before_images(self, partial: str) -> None:  # noqa: B027
        """Before stage 2 goes on (a resumed build)."""

    def after_images(self, partial: str) -> None:  # noqa: B027
        """After stage 2, before the finish."""

    @abstractmethod
    def copy_store(self, store: str, partial: str) -> None:
        """Copy a finished store to ``partial`` so that a build can add images to it (never writing ``store``)."""

    # ------------------------------------------------------------ read
    @abstractmethod
    def reader(self, store: Any) -> Any:
        """The reader of rows into a caller's buffer (``row_shape``, ``read``, ``read_one``)."""

    @abstractmethod
    def images(self, store: Any) -> Any:
        """``Store.images``: ``(N, S, S, 3)`` uint8, sliceable like a numpy array."""

    def block(self, store: Any) -> Any:
        """``Store.pixel_block``: the encoded images of ``store``, read per row (made once per open file)."""
        raise StoreFormatError(
            f"{store.path!r} is a {self.name} store: it has no encoded images. Use Store.images, or build a"
            " JPEG store with `bioscan-h5 build --pixels jpeg`."
        )

    def pil(self, store: Any) -> Callable[[int], Any]:
        """row -> its stored image as Pillow decodes it (kinds with ``stored_pil``)."""
        raise NotImplementedError(f"a {self.name} store serves PIL images from its rows")

    def encoded(self, store: Any) -> Callable[[int], bytes]:
        """row -> its encoded bytes (``batch_loader(..., decode="cuda")``)."""
        raise NotImplementedError(f"a {self.name} store holds no encoded images")

    def gpu_decoder(self, store: Any, device: Any) -> Any:
        """A callable ``(encoded, rows) -> (B, 3, S, S)`` tensor on ``device`` (kinds with ``gpu_decode``)."""
        raise NotImplementedError(f"a {self.name} store is not decoded on a GPU")

    # ------------------------------------------------------------ checksums
    @abstractmethod
    def checksum_bytes(self, store: Any) -> Callable[[int], Any] | None:
        """row -> the bytes its image checksum covers; None: the row of ``store.images``."""

    @abstractmethod
    def checksum_blame(self, image_checksums: str) -> str:
        """What a damaged image row names when no per-row table is to blame."""

    # ------------------------------------------------------------ summary, info, verify
    @abstractmethod
    def summary(self, store: Any, n_ok: int) -> dict:
        """``{"jpeg_quality": ..., "image_bytes": ...}`` for :meth:`Store.info` (in this order)."""

    @abstractmethod
    def describe(self, info: dict) -> str:
        """How ``bioscan-h5 info`` words this kind (after the image shape)."""

    def structure_checks(self, store: Any) -> list[Callable[[], object]]:
        """Checks ``bioscan-h5 verify`` runs over every row of this kind's tables."""
        return []

    @abstractmethod
    def check_row(self, store: Any, row: int, path: str, real: str) -> tuple[int, bool, str]:
        """``(status from the source, differs, what)``: a row against its source file (``verify --sources``)."""
