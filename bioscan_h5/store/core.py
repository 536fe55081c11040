"""The :class:`Store`: one store file, its arrays as numpy arrays, opened lazily per process."""

from __future__ import annotations

import functools
import json
import os
import stat
import weakref
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import NamedTuple

import h5py
import numpy as np

from .. import format as fmt
from .._hdf5 import open_readonly
from ..checksums import ChecksumAccess
from ..columns import StoredColumn, read_column
from ..errors import (
    REBUILD,
    InvalidArgumentError,
    ResourceLimitError,
    StoreChangedError,
    StoreFormatError,
    StoreNotFoundError,
    damage_error,
    damage_reported,
    out_of_descriptors,
)
from ..format import ImageStatus, Kind
from ..layouts import get_layout
from ..pixels import PixelCodec, codec_of
from .ranges import check_codes, check_lengths, check_offsets, check_rows, check_status, check_tokens
from .tables import LazyMapping, to_frame
from .validate import StoreHeader, attr_value, column_order, read_header

__all__ = ["Store", "open_store"]


def open_store(
    path: str | os.PathLike, *, allow_incomplete: bool = False, verify_reads: bool = False
) -> Store:
    """Open a store file (see :class:`Store`).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.h5`` file written by ``bioscan-h5 build``.
    allow_incomplete : bool, default=False
        Open a store whose build has not finished (a ``.partial`` file), e.g. to inspect it.
    verify_reads : bool, default=False
        Check every row the datasets serve from this store against its checksums, and raise
        :class:`~bioscan_h5.errors.ChecksumMismatchError` naming a damaged row.

    Raises
    ------
    StoreNotFoundError
        No file at ``path``.
    StoreFormatError
        Not a bioscan-h5 store, or damaged (``verify_reads=True`` on a store without checksums too).
    StoreVersionError
        Written by another format version (a newer one, or format 1).
    StoreIncompleteError
        The build has not finished.
    """
    return Store(path, allow_incomplete=allow_incomplete, verify_reads=verify_reads)


def reads(what):
    """Decorator for a store reader method: damage in the file becomes a :class:`StoreFormatError`.

    ``what`` is a description, or a callable ``(self, *args) -> description`` (only called on
    failure: the decorated readers are on per-sample paths).
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:
                err = damage_error(self.path, what(self, *args, **kwargs) if callable(what) else what, exc)
                if err is None:
                    raise
                raise err from exc

        return wrapper

    return decorate


#: Arrays up to this size are read into memory by :meth:`Store.array`; larger ones are mapped.
IN_MEMORY_BYTES = 64 << 20

#: The caches a store makes from its open file, dropped (with every cached property) on a reopen.
_CACHES = ("_maps", "_raw", "_columns", "_checksums", "_kinds", "_tokens_checked")


def _open_validated(path: str, allow_incomplete: bool) -> tuple[h5py.File, StoreHeader]:
    """Open ``path`` read-only and validate it as a store (see :func:`.validate.read_header`)."""
    if not os.path.exists(path):
        raise _missing_store_error(path)
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the open forever
        raise StoreFormatError(
            f"{path!r} is not a regular file (a directory, pipe or device). Pass the .h5 file"
            " written by `bioscan-h5 build`."
        )
    try:
        f = open_readonly(path)
    except OSError as exc:
        if out_of_descriptors(exc):
            raise ResourceLimitError(
                f"{path!r} could not be opened: this process has too many open files ({exc}). The store is"
                " not damaged: close other files, or raise the limit (`ulimit -n`), and open it again."
            ) from None
        raise StoreFormatError(
            f"{path!r} is not a readable HDF5 file ({exc}). It may be truncated or damaged. {REBUILD}"
        ) from None
    try:
        with damage_reported(path, "its attributes and dataset headers"):
            return f, read_header(f, path, allow_incomplete)
    except BaseException:
        f.close()
        raise


def _missing_store_error(path: str) -> StoreNotFoundError:
    partial = fmt.partial_path(path)
    hint = (
        f" A build is in progress or was interrupted ({partial!r} exists): rerun the build to finish it."
        if os.path.exists(partial)
        else " Build it with `bioscan-h5 build --root ROOT` (see `bioscan-h5 build --help`)."
    )
    return StoreNotFoundError(f"No store file at {path!r}.{hint}")


class FileIdentity(NamedTuple):
    """Device, inode, size and modification time of an open file: has it changed in place?

    A rename over a store (``os.replace``) is harmless: the descriptor keeps the old file. A
    store written over in place (``cp``, ``truncate``) would mix two files or ``SIGBUS`` a map.
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, fd: int) -> FileIdentity:
        st = os.fstat(fd)
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def same_file(self, other: FileIdentity) -> bool:
        """Whether ``other`` is this file (device and inode), whatever its contents."""
        return (self.dev, self.ino) == (other.dev, other.ino)

    def check(self, now: FileIdentity, path: str) -> None:
        """Raise :class:`StoreChangedError` if ``now`` (the same file) has another size or mtime."""
        if now.size == self.size and now.mtime_ns == self.mtime_ns:
            return
        how = (
            f"its size went from {self.size} to {now.size} bytes"
            if now.size != self.size
            else "it was written to (its modification time changed)"
        )
        raise StoreChangedError(
            f"{path!r} was changed in place while it was open ({how}), as `cp` or `truncate` onto an"
            " open store does: reading on would mix two files. Open it again (a new dataset or"
            " open_store) to read the new file. To update a store that is being read, write the new"
            " file elsewhere and rename it over the old one (`os.replace`, `mv`), as"
            " `bioscan-h5 build` does: readers keep the file they opened."
        )


class Store(ChecksumAccess):
    """A bioscan-h5 store: the whole dataset as numpy arrays, row ``i`` = metadata row ``i``.

    Large uncompressed arrays are memory maps of the file; compressed pixels are read through
    h5py. The file is opened read-only without locking, reopened after a fork; a store pickles
    as its path.

    Attributes
    ----------
    path : str
    attrs : dict
        The root attributes (see :mod:`bioscan_h5.format`).
    dataset : str
        ``"bioscan5m"`` or ``"bioscan1m"``.
    labels : Mapping[str, numpy.ndarray]
        Per rank, the int32 label indices (-1 = missing); equal to ``bioscan-dataset``'s
        ``<rank>_index``.
    vocab : Mapping[str, list of str]
        Per rank, the sorted label names: ``vocab[rank][labels[rank][i]]``.
    verify_reads : bool
        Whether the datasets check each row they serve against its checksums
        (:meth:`verify_rows`).

    Arrays that index something are checked against their bounds on first use (:mod:`.ranges`).
    """

    def __init__(
        self, path: str | os.PathLike, *, allow_incomplete: bool = False, verify_reads: bool = False
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.allow_incomplete = allow_incomplete
        self.verify_reads = bool(verify_reads)
        self._pid: int | None = None
        self._file: h5py.File | None = None
        self._open()
        if self.verify_reads:
            self._require_checksums("verify_reads=True")

    # ------------------------------------------------------------ opening
    def _open(self) -> None:
        f, header = _open_validated(self.path, self.allow_incomplete)
        self.attrs = header.attrs
        self.dataset = header.dataset
        self.schema = header.schema
        self.n_rows = header.n_rows
        self.image_size = header.image_size
        self._file = f
        self._pid = os.getpid()
        self._identity = FileIdentity.of(f.id.get_vfd_handle())

    @property
    def file(self) -> h5py.File:
        """The open h5py file (reopened after a fork or unpickling)."""
        if self._file is None or self._pid != os.getpid():
            # A fork or a reopen after close(): validated as at first. Extending a store renames
            # a new file over it, so nothing made from the old one is kept.
            f, header = _open_validated(self.path, self.allow_incomplete)
            was = (self.dataset, self.n_rows, self.image_size)
            if (header.dataset, header.n_rows, header.image_size) != was:
                f.close()
                raise StoreFormatError(
                    f"{self.path!r} was replaced by another store ({header.dataset}, {header.n_rows} rows,"
                    f" {header.image_size} px; this one was opened as {self.dataset}, {self.n_rows} rows,"
                    f" {self.image_size} px). Open it again."
                )
            now = FileIdentity.of(f.id.get_vfd_handle())
            if now.same_file(self._identity):  # not renamed over: the same file, maybe rewritten
                try:
                    self._identity.check(now, self.path)
                except BaseException:
                    f.close()
                    raise
            self._file, self._pid, self.attrs, self._identity = f, os.getpid(), header.attrs, now
            self._forget_file_data()
        return self._file

    def _forget_file_data(self) -> None:
        """Drop everything read from the file (maps, columns, cached properties): it is read again."""
        for cached in (*_CACHES, *_CACHED_PROPERTIES):
            self.__dict__.pop(cached, None)

    @property
    def _map_source(self):
        """The file HDF5 has open, as a file object to map (never the path, which a rename may repoint)."""
        f = self.file
        raw = self.__dict__.get("_raw")
        if raw is None:
            raw = self.__dict__["_raw"] = open(os.dup(f.id.get_vfd_handle()), "rb")  # noqa: SIM115 - lives with the store
            weakref.finalize(self, raw.close)  # closed with the store, without a ResourceWarning
        return raw

    def check_unchanged(self) -> None:
        """Raise :class:`~bioscan_h5.errors.StoreChangedError` if the open file was changed in place (one ``fstat``).

        The datasets call it around each read: a store written over is never served as a mix of two files.
        """
        self._identity.check(FileIdentity.of(self._map_source.fileno()), self.path)

    def close(self) -> None:
        """Close the file (arrays already returned stay valid; a later read opens it again, afresh)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
            raw = self.__dict__.pop("_raw", None)
            if raw is not None:
                raw.close()
            block = self.__dict__.get("pixel_block")
            if block is not None:  # its own descriptor of the file, closed now rather than at collection
                block.close()
        self._file = None
        self._forget_file_data()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {key: getattr(self, key) for key in ("path", "allow_incomplete", "verify_reads")}

    def __setstate__(self, state: dict) -> None:
        Store.__init__(self, **state)

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        what = (
            f"{self.attrs.get(fmt.ATTR_IMAGE_PACKAGE)} at {self.image_size}px"
            if self.has_images
            else "no images"
        )
        return f"<Store {os.path.basename(self.path)!r}: {self.dataset}, {self.n_rows} rows, {what}>"

    # ------------------------------------------------------------ images
    @property
    def has_images(self) -> bool:
        """False for a store of a DNA-only dataset (no image arrays at all)."""
        return self.schema.has_images

    @cached_property
    @reads("the pixel array")
    def images(self):
        """``(N, S, S, 3)`` uint8 pixels, sliceable like a numpy array (the codec's: a memory map, or decoded rows)."""
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

    @cached_property
    @reads("the tables of the encoded images")
    def pixel_block(self):
        """The encoded images, read per row: the codec's (a JPEG store's :class:`~bioscan_h5.pixels.jpeg.JpegBlock`)."""
        return self.codec.block(self)

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
        check_status(self.path, status)
        return status

    @property
    def image_ok(self) -> np.ndarray:
        """True where the image was decoded."""
        return self.image_status == ImageStatus.OK

    @cached_property
    def image_source_size(self) -> np.ndarray:
        return self.array(fmt.IMAGE_SOURCE_SIZE)

    # ------------------------------------------------------------ barcodes
    @cached_property
    def dna_codes(self) -> np.ndarray:
        """``(N, W)`` uint8 ASCII barcode letters, 0-padded."""
        return self.array(fmt.DNA_CODES)

    @cached_property
    def dna_lengths(self) -> np.ndarray:
        """``(N,)`` stored barcode lengths, -1 where missing (each within the barcodes' width)."""
        lengths = self.array(fmt.DNA_LENGTHS)
        check_lengths(self.path, lengths, self.file[fmt.DNA_CODES].shape[1])
        return lengths

    @cached_property
    def dna_full_lengths(self) -> np.ndarray:
        return self.array(fmt.DNA_FULL_LENGTHS)

    @property
    def max_nucleotides(self) -> int | None:
        """The width of :attr:`dna_codes`, the ``max_nucleotides`` of the build (None: the longest barcode)."""
        v = int(self.attrs[fmt.ATTR_MAX_NUCLEOTIDES])
        return None if v < 0 else v

    @cached_property
    @reads("the whole-barcode block")
    def dna_tail(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(codes, offsets)`` of the letters beyond :attr:`dna_codes`, or None (see :mod:`bioscan_h5.format`)."""
        if fmt.DNA_TAIL_OFFSETS not in self.file:
            return None
        codes, offsets = self.array(fmt.DNA_TAIL_CODES), self.array(fmt.DNA_TAIL_OFFSETS)
        check_offsets(self.path, fmt.DNA_TAIL_OFFSETS, offsets, len(codes))
        return codes, offsets

    @property
    def full_barcodes(self) -> bool:
        """Whether the store holds every barcode whole (a whole-barcode block, or no truncation)."""
        return self.max_nucleotides is None or self.dna_tail is not None

    @cached_property
    @reads("the whole-barcode lengths")
    def longest_barcode(self) -> int:
        """The length of the longest barcode in the metadata file (0 if none), checked against
        the letters held (it sets the width of whole-barcode batches)."""
        full = np.asarray(self.dna_full_lengths, dtype=np.int64)
        tail = self.dna_tail
        if tail is not None and len(full):
            held = np.asarray(self.dna_lengths, dtype=np.int64) + np.diff(tail[1].astype(np.int64))
            bad = np.flatnonzero(full > np.maximum(held, 0))
            if len(bad):
                row = int(bad[0])
                raise StoreFormatError(
                    f"{self.path!r} is damaged: '/{fmt.DNA_FULL_LENGTHS}' says row {row}'s barcode has"
                    f" {int(full[row])} letters, but the store holds {max(int(held[row]), 0)} for it (and"
                    f" {len(bad)} rows are like it). {REBUILD}"
                )
        return int(np.max(full, initial=0))

    def barcode_codes(self, rows, max_nucleotides: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Barcodes of ``rows`` as uint8 ASCII codes (0-padded) and int64 lengths (-1: missing).

        Cut to ``max_nucleotides`` (None: whole) where the store holds the letters
        (:attr:`full_barcodes`), else at the stored width; every batch has the same width.
        """
        rows = np.asarray(rows, dtype=np.int64)
        fixed = int(self.dna_codes.shape[1])
        if max_nucleotides is not None and max_nucleotides <= fixed:
            width = max_nucleotides
        elif self.dna_tail is None:
            width = fixed
        else:
            longest = max(self.longest_barcode, fixed)
            width = longest if max_nucleotides is None else min(max_nucleotides, longest)
        lengths = np.asarray(self.dna_lengths[rows]).astype(np.int64)
        if width <= fixed:
            np.minimum(lengths, width, out=lengths)
            return np.array(self.dna_codes[rows][:, :width]), lengths
        codes = np.zeros((len(rows), width), dtype=np.uint8)
        codes[:, :fixed] = self.dna_codes[rows]
        tail, offsets = self.dna_tail
        start, end = offsets[rows], offsets[rows + 1]
        for i in np.flatnonzero(end > start):
            n = min(int(end[i] - start[i]), width - fixed)
            codes[i, fixed : fixed + n] = tail[start[i] : start[i] + n]
            lengths[i] += n
        return codes, lengths

    @reads("the barcodes")
    def barcodes(self, rows=None, max_nucleotides: int | None = None, *, whole: bool = False) -> list:
        """Barcodes as strings (``nan`` where missing), optionally truncated further.

        Parameters
        ----------
        rows : array_like of int, optional
            Default: every row.
        max_nucleotides : int, optional
            Cut each barcode to this many letters.
        whole : bool, default=False
            Read beyond :attr:`max_nucleotides` from the whole-barcode block (``full_barcodes``
            stores); by default barcodes are as wide as :attr:`dna_codes`.
        """
        from ..barcode_codes import decode_barcodes

        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows)
        if not whole:  # no wider than the stored codes
            fixed = int(self.dna_codes.shape[1])
            max_nucleotides = fixed if max_nucleotides is None else min(max_nucleotides, fixed)
        return decode_barcodes(*self.barcode_codes(rows, max_nucleotides))

    # ------------------------------------------------------------ raw arrays
    @reads(lambda self, name: f"dataset {name!r}")
    def array(self, name: str) -> np.ndarray:
        """A dataset as a read-only numpy array, made once per process and cached.

        Arrays up to :data:`IN_MEMORY_BYTES` (every per-row array) are read into memory: a map of
        a file changed in place could fault (``SIGBUS``). Larger contiguous ones are memory maps.
        """
        f = self.file  # reopened, and the cache dropped, after a fork
        maps = self.__dict__.setdefault("_maps", {})
        arr = maps.get(name)
        if arr is None:
            dset = f[name]
            offset = _contiguous_offset(dset)
            if offset is None or dset.size * dset.dtype.itemsize <= IN_MEMORY_BYTES:
                arr = dset[()]
                if isinstance(arr, np.ndarray):
                    arr.flags.writeable = False
                self.check_unchanged()  # not half of one file and half of another
            else:
                arr = np.memmap(self._map_source, dtype=dset.dtype, mode="r", offset=offset, shape=dset.shape)
            maps[name] = arr
        return arr

    # ------------------------------------------------------------ metadata columns
    @cached_property
    @reads("the column list")
    def columns(self) -> list[str]:
        """Every stored metadata column (the barcode column excepted), in source-file order."""
        return column_order(
            self.attrs, list(self.file[fmt.COLUMNS].keys()), self.schema.barcode_column, self.path
        )

    @reads(lambda self, name: f"column {name!r}")
    def column_kind(self, name: str) -> Kind:
        """How a metadata column is stored (:class:`~bioscan_h5.format.Kind`)."""
        kinds = self.__dict__.setdefault("_kinds", {})
        if name not in kinds:
            kinds[name] = Kind(attr_value(self.file[f"{fmt.COLUMNS}/{name}"].attrs["kind"]))
        return kinds[name]

    @reads(lambda self, name: f"column {name!r}")
    def column(self, name: str) -> StoredColumn:
        """One metadata column, its arrays memory-mapped (cached per process)."""
        self.file  # noqa: B018 - drops the cache after a fork
        cache = self.__dict__.setdefault("_columns", {})
        if name not in cache:

            def load(part: str):
                if part == "categories":
                    return self.file[fmt.column_path(name, part)].asstr()[()]
                return self.array(fmt.column_path(name, part))

            col = read_column(name, self.column_kind(name), load)
            if col.kind is Kind.CATEGORY:
                check_codes(self.path, name, col.category_codes, len(col.category_names))
            cache[name] = col
        return cache[name]

    @cached_property
    def labels(self) -> Mapping[str, np.ndarray]:
        return LazyMapping(self.schema.ranks, self.codes)

    @cached_property
    def vocab(self) -> Mapping[str, list[str]]:
        return LazyMapping(self.schema.ranks, self.categories)

    def codes(self, column: str) -> np.ndarray:
        """Category codes of a category column (-1 = missing), checked against its categories."""
        codes = self.column(column).codes
        if codes is None:
            raise KeyError(f"{column!r} is not a category column of the store")
        return codes

    def categories(self, column: str) -> list[str]:
        """Sorted category names of a category column."""
        return list(self.column(column).categories or ())

    @cached_property
    @reads("the token arrays")
    def tokenizations(self) -> list[str]:
        """Names of the token arrays precomputed with ``build --tokenize``."""
        return list(self.file[fmt.TOKENS].keys()) if fmt.TOKENS in self.file else []

    # ------------------------------------------------------------ rows and values
    @reads(lambda self, name: f"tokens {name!r}")
    def tokens(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Precomputed ``(ids, mask)`` arrays of a tokenizer (ids checked against its vocabulary)."""
        ids, mask = self.array(fmt.token_path(name, "ids")), self.array(fmt.token_path(name, "mask"))
        checked = self.__dict__.setdefault("_tokens_checked", set())
        if name not in checked:
            vocab = self.file[fmt.token_path(name, "ids")].attrs.get("vocab")
            check_tokens(self.path, name, ids, mask, len(json.loads(vocab)) if vocab is not None else None)
            checked.add(name)
        return ids, mask

    @reads(lambda self, name: f"partition {name!r}")
    def partition(self, name: str) -> np.ndarray | None:
        """The rows of a BIOSCAN-1M CLIBD partition file, in its order (None if absent)."""
        path = fmt.partition_path(name)
        if path not in self.file:
            return None
        rows = np.asarray(self.file[path][()], dtype=np.int64)
        check_rows(self.path, f"partition {name!r}", rows, self.n_rows)
        return rows

    @property
    def partition_names(self) -> list[str]:
        """The CLIBD partition files the store holds (BIOSCAN-1M)."""
        return list(self.file[fmt.PARTITIONS].keys()) if fmt.PARTITIONS in self.file else []

    def indices(self, split: str | None = "all", partitioning_version: str | None = None) -> np.ndarray:
        """Rows of a split or metasplit, in the order the datasets serve them (``int64``).

        Parameters
        ----------
        split : str
            As the datasets take it: ``"val"``, ``"pretrain+train"``, ``"seen"``, ``"all"``...
        partitioning_version : str, optional
            BIOSCAN-1M only (default ``"large_diptera_family"``).
        """
        return get_layout(self.dataset).split_rows(self, split, partitioning_version)

    @reads(lambda self, name, rows=None: f"column {name!r}")
    def column_values(self, name: str, rows=None) -> np.ndarray:
        """One column for some rows as an object array of Python values (``nan`` = missing)."""
        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows)
        if name == self.schema.barcode_column:
            return np.array(self.barcodes(rows), dtype=object)
        return self.column(name).objects(rows)

    def to_pandas(self, columns: Sequence[str] | None = None, rows=None):
        """Columns as a pandas DataFrame, index = row numbers.

        Categories are pandas categoricals over the whole file's categories (``.cat.codes`` are the
        label indices), text ``object``, integers ``Int64``, floats ``float64``; missing: NA/NaN.
        """
        return to_frame(self, columns, rows)

    def info(self) -> dict:
        """A summary: rows per split, images decoded, shape, size on disk, labelled fraction per rank."""
        return store_info(self)


def store_info(st) -> dict:
    """Rows per split, images decoded, shape, size on disk, labelled fraction per rank of a store."""
    disk = os.stat(st.path)
    status = np.asarray(st.image_status)
    counts = {
        s.name.lower(): int(c) for s, c in zip(ImageStatus, np.bincount(status, minlength=len(ImageStatus)))
    }
    split = st.column(st.schema.split_columns[0])
    split_codes = np.asarray(split.codes)
    per_split = {}
    for i, name in enumerate(split.categories):
        sel = split_codes == i
        per_split[name] = {"rows": int(sel.sum()), "images": int((status[sel] == ImageStatus.OK).sum())}
    n = max(st.n_rows, 1)
    labelled = {r: round(float((np.asarray(st.labels[r]) >= 0).sum()) / n, 4) for r in st.schema.ranks}
    images = st.has_images
    return {
        "path": st.path,
        "dataset": st.dataset,
        "format_version": int(st.attrs[fmt.ATTR_VERSION]),
        "rows": st.n_rows,
        "image_package": st.attrs.get(fmt.ATTR_IMAGE_PACKAGE) if images else None,
        "image_shape": [st.image_size, st.image_size, 3] if images else None,
        "fit": st.attrs.get(fmt.ATTR_FIT) if images else None,
        "compression": st.attrs.get(fmt.ATTR_COMPRESSION) or None,
        "memory_mapped": st.memory_mapped if images else False,
        "max_nucleotides": st.max_nucleotides,
        "full_barcodes": st.full_barcodes,
        "image_splits": json.loads(st.attrs.get(fmt.ATTR_SPLITS_BUILT, "[]")),
        "images": counts,
        "bad_images": int(sum(v for k, v in counts.items() if k not in ("ok", "pending"))),
        "rows_per_split": per_split,
        "labelled_fraction": labelled,
        "size_bytes": disk.st_size,
        "size_on_disk_bytes": disk.st_blocks * 512,
        "tokenizations": st.tokenizations,
        **_pixel_summary(st, counts["ok"]),
        "complete": bool(st.attrs.get(fmt.ATTR_COMPLETE)),
        "checksums": st.has_checksums,
    }


def _pixel_summary(st, n_ok: int) -> dict:
    """The store's kind, and the bytes its images take (in all, and per decoded image)."""
    if not st.has_images:  # a DNA-only store: no pixels of either kind
        return {"pixels": None, "jpeg_quality": None, "image_bytes": 0, "bytes_per_image": 0}
    kind = st.codec.summary(st, n_ok)
    return {
        "pixels": st.codec.name,
        **kind,
        "bytes_per_image": round(kind["image_bytes"] / n_ok) if n_ok else 0,
    }


_CACHED_PROPERTIES = tuple(n for n, v in vars(Store).items() if isinstance(v, cached_property))


def _contiguous_offset(dset: h5py.Dataset) -> int | None:
    if dset.chunks is not None or dset.compression is not None or dset.is_virtual or dset.external:
        return None
    if dset.size == 0 or dset.dtype.kind == "O":
        return None
    return dset.id.get_offset()
