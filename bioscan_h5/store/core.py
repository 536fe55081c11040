"""The :class:`Store`: one store file, its arrays as numpy arrays, opened lazily per process."""

from __future__ import annotations

import os
import stat
import weakref
from collections.abc import Mapping, Sequence
from functools import cached_property

import h5py
import numpy as np

from .. import format as fmt
from .._hdf5 import open_readonly
from ..checksums import ChecksumAccess
from ..columns import StoredColumn, read_column
from ..errors import REBUILD, ResourceLimitError, StoreFormatError, StoreNotFoundError
from ..format import Kind
from ..layouts import get_layout
from .barcodes import BarcodeArrays
from .damage import damage_reported, out_of_descriptors, reads
from .identity import FileIdentity
from .image_arrays import ImageArrays
from .ranges import CheckedArrays, check_codes
from .summary import store_info
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
        Check every row the datasets serve from this store against its checksums (format 2),
        and raise :class:`~bioscan_h5.errors.ChecksumMismatchError` naming a damaged row. It
        costs about 60 us per 196 KB image row and 10-20 us per row of metadata.

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


#: Arrays up to this size are read into memory by :meth:`Store.array`; larger ones are mapped.
IN_MEMORY_BYTES = 64 << 20

#: What a store makes from its open file: dropped when the file is opened again.
_PER_FILE = (
    "_maps",
    "_raw",
    "_columns",
    "_checksums",
    "_kinds",
    "_tokens_checked",
    "images",
    "image_status",
    "image_source_size",
    "dna_codes",
    "dna_lengths",
    "dna_full_lengths",
    "columns",
    "labels",
    "vocab",
    "tokenizations",
    "codec",
    "jpeg",
)


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


class Store(ImageArrays, BarcodeArrays, CheckedArrays, ChecksumAccess):
    """A bioscan-h5 store: the whole dataset as numpy arrays, row ``i`` = metadata row ``i``.

    Uncompressed arrays are numpy memory maps of the file (zero-copy, shared by every process
    through the page cache); compressed pixel arrays are read through h5py. The file is opened
    read-only without HDF5 file locking, reopened after a fork, and a store pickles as its path.

    Attributes
    ----------
    path : str
    attrs : dict
        The root attributes (see :mod:`bioscan_h5.format`).
    dataset : str
        ``"bioscan5m"`` or ``"bioscan1m"``.
    images : numpy.ndarray or h5py.Dataset
        ``(N, S, S, 3)`` uint8; a memory map when uncompressed.
    image_status : numpy.ndarray
        ``(N,)`` :class:`~bioscan_h5.format.ImageStatus` codes.
    image_ok : numpy.ndarray of bool
        True where the image was decoded.
    labels : Mapping[str, numpy.ndarray]
        Per rank, the int32 label indices (-1 = missing); equal to ``bioscan-dataset``'s
        ``<rank>_index``.
    vocab : Mapping[str, list of str]
        Per rank, the sorted label names: ``vocab[rank][labels[rank][i]]``.
    verify_reads : bool
        Whether the datasets check each row they serve against its checksums
        (:meth:`verify_rows`).

    Arrays that index something are checked against their bounds on first use
    (:class:`~.ranges.CheckedArrays`).
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
            # A fork (a DataLoader worker) or a reopen after close(): open the path again,
            # validated as at first. Extending a store renames a new file over it, so this may
            # be another file than before: nothing made from the old one is kept.
            f, header = _open_validated(self.path, self.allow_incomplete)
            if (header.dataset, header.n_rows, header.image_size) != (
                self.dataset,
                self.n_rows,
                self.image_size,
            ):
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
            for cached in _PER_FILE:
                self.__dict__.pop(cached, None)
        return self._file

    @property
    def _map_source(self):
        """The file HDF5 has open, as a Python file object to make memory maps from.

        Maps are never made from the path: if the store is replaced (``os.replace``) while it
        is open, every array keeps coming from the file that was opened and validated.
        """
        f = self.file
        raw = self.__dict__.get("_raw")
        if raw is None:
            raw = self.__dict__["_raw"] = open(os.dup(f.id.get_vfd_handle()), "rb")  # noqa: SIM115 - lives with the store
            weakref.finalize(self, raw.close)  # closed with the store, without a ResourceWarning
        return raw

    def check_unchanged(self) -> None:
        """Raise :class:`~bioscan_h5.errors.StoreChangedError` if the open file was changed in place.

        One ``fstat``. The datasets call it before and after each read, so that a store written
        over while it is read is never served as a mix of two files.
        """
        self._identity.check(FileIdentity.of(self._map_source.fileno()), self.path)

    def close(self) -> None:
        """Close the file (arrays already returned stay valid)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
            raw = self.__dict__.pop("_raw", None)
            if raw is not None:
                raw.close()
        self._file = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {
            "path": self.path,
            "allow_incomplete": self.allow_incomplete,
            "verify_reads": self.verify_reads,
        }

    def __setstate__(self, state: dict) -> None:
        Store.__init__(
            self,
            state["path"],
            allow_incomplete=state["allow_incomplete"],
            verify_reads=state.get("verify_reads", False),
        )

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        what = (
            f"{self.attrs.get(fmt.ATTR_IMAGE_PACKAGE)} at {self.image_size}px"
            if self.has_images
            else "no images"
        )
        return f"<Store {os.path.basename(self.path)!r}: {self.dataset}, {self.n_rows} rows, {what}>"

    # ------------------------------------------------------------ raw arrays
    @reads(lambda self, name: f"dataset {name!r}")
    def array(self, name: str) -> np.ndarray:
        """A dataset as a read-only numpy array, made once per process and cached.

        Arrays of up to :data:`IN_MEMORY_BYTES` (every per-row array of a store: labels,
        lengths, offsets, status) are read into memory: a memory map of a file changed in place
        could fault (``SIGBUS``). Larger ones stored contiguously are memory maps.
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

        Category columns become pandas categoricals over the whole file's categories (so
        ``.cat.codes`` are the global label indices), text columns ``object``, integers
        nullable ``Int64``, floats ``float64``; missing values are NA/NaN.
        """
        return to_frame(self, columns, rows)

    def info(self) -> dict:
        """A summary: rows per split, images decoded, shape, size on disk, labelled fraction per rank."""
        return store_info(self)


def _contiguous_offset(dset: h5py.Dataset) -> int | None:
    if dset.chunks is not None or dset.compression is not None or dset.is_virtual or dset.external:
        return None
    if dset.size == 0 or dset.dtype.kind == "O":
        return None
    return dset.id.get_offset()
