"""The store API: open a store file and slice its arrays as numpy arrays.

>>> from bioscan_h5 import open_store
>>> with open_store("bioscan5m_cropped_256_256px.h5") as st:      # doctest: +SKIP
...     rows = st.indices("val")
...     imgs = st.images[rows[:16]]                  # (16, 256, 256, 3) uint8
...     species = st.vocab["species"]
...     names = [species[c] if c >= 0 else "" for c in st.labels["species"][rows[:16]]]

Uncompressed arrays are numpy memory maps of the file (zero-copy, shared by every process
through the page cache); compressed pixel arrays are read through h5py. The file is opened
read-only without HDF5 file locking, lazily in each process, and a :class:`Store` pickles as
its path.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import stat
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import h5py
import numpy as np

from . import format as fmt
from ._hdf5 import open_readonly
from .errors import (
    BioscanH5Error,
    StoreFormatError,
    StoreIncompleteError,
    StoreNotFoundError,
    StoreVersionError,
)
from .format import ImageStatus, Kind

if TYPE_CHECKING:
    from .metadata import Table

__all__ = ["Store", "open_store", "load_table_columns"]


def open_store(path: str | os.PathLike, *, allow_incomplete: bool = False) -> Store:
    """Open a store file (see :class:`Store`).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.h5`` file written by ``bioscan-h5 build``.
    allow_incomplete : bool, default=False
        Open a store whose build has not finished (a ``.partial`` file), e.g. to inspect it.

    Raises
    ------
    StoreNotFoundError
        No file at ``path``.
    StoreFormatError
        Not a bioscan-h5 store, or damaged.
    StoreVersionError
        Written by a newer format version.
    StoreIncompleteError
        The build has not finished.
    """
    return Store(path, allow_incomplete=allow_incomplete)


#: What h5py, numpy and the decoders raise on a damaged file. A KeyError for a name that is
#: simply absent (HDF5 says "doesn't exist" or "component not found") is passed on as it is.
_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, UnicodeDecodeError)


def _damage_error(path: str, what: str, exc: BaseException) -> StoreFormatError | None:
    """The :class:`StoreFormatError` for a low-level read failure, or None to let ``exc`` through."""
    if isinstance(exc, BioscanH5Error) or not isinstance(exc, _READ_ERRORS):
        return None
    if isinstance(exc, KeyError) and ("doesn't exist" in str(exc) or "component not found" in str(exc)):
        return None
    return StoreFormatError(
        f"{path!r} is damaged: reading {what} failed ({type(exc).__name__}: {exc})."
        " Rebuild it with `bioscan-h5 build --overwrite` (or copy it again)."
    )


@contextlib.contextmanager
def _damage_reported(path: str, what: str) -> Iterator[None]:
    """Context manager: damage in the file is reported as a :class:`StoreFormatError` naming ``what``."""
    try:
        yield
    except Exception as exc:
        err = _damage_error(path, what, exc)
        if err is None:
            raise
        raise err from exc


def _reads(what):
    """Decorator for a :class:`Store` reader: damage in the file becomes a :class:`StoreFormatError`.

    ``what`` is a description, or a callable ``(self, *args) -> description`` (only called on
    failure: the decorated readers are on per-sample paths).
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:
                err = _damage_error(self.path, what(self, *args, **kwargs) if callable(what) else what, exc)
                if err is None:
                    raise
                raise err from exc

        return wrapper

    return decorate


class _Columns(Mapping):
    """Lazy read-only mapping ``name -> array`` over the store's per-column arrays."""

    def __init__(self, store: Store, names: Sequence[str], getter) -> None:
        self._store = store
        self._names = list(names)
        self._get = getter
        self._cache: dict = {}

    def __getitem__(self, key: str):
        if key not in self._names:
            raise KeyError(f"{key!r} is not one of {self._names!r}")
        if key not in self._cache:
            self._cache[key] = self._get(key)
        return self._cache[key]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<{len(self._names)} arrays: {', '.join(self._names)}>"


class Store:
    """A bioscan-h5 store: the whole dataset as numpy arrays, row ``i`` = metadata row ``i``.

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
    """

    def __init__(self, path: str | os.PathLike, *, allow_incomplete: bool = False) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.allow_incomplete = allow_incomplete
        self._pid = None
        self._file: h5py.File | None = None
        self._open()

    # ------------------------------------------------------------ opening and validation
    def _open(self) -> None:
        if not os.path.exists(self.path):
            partial = fmt.partial_path(self.path)
            hint = (
                f" A build is in progress or was interrupted ({partial!r} exists): rerun the build to finish it."
                if os.path.exists(partial)
                else " Build it with `bioscan-h5 build --root ROOT` (see `bioscan-h5 build --help`)."
            )
            raise StoreNotFoundError(f"No store file at {self.path!r}.{hint}")
        if not stat.S_ISREG(os.stat(self.path).st_mode):  # a FIFO would block the open forever
            raise StoreFormatError(
                f"{self.path!r} is not a regular file (a directory, pipe or device). Pass the .h5 file"
                " written by `bioscan-h5 build`."
            )
        try:
            f = open_readonly(self.path)
        except OSError as exc:
            raise StoreFormatError(
                f"{self.path!r} is not a readable HDF5 file ({exc}). It may be truncated or damaged:"
                " rebuild it with `bioscan-h5 build --overwrite`."
            ) from None
        try:
            with _damage_reported(self.path, "its attributes and dataset headers"):
                self.attrs = {k: _attr(v) for k, v in f.attrs.items()}
                self._validate(f)
        except BaseException:
            f.close()
            raise
        self._file = f
        self._pid = os.getpid()

    def _validate(self, f: h5py.File) -> None:
        a = self.attrs
        if a.get(fmt.ATTR_FORMAT) != fmt.FORMAT_NAME:
            raise StoreFormatError(
                f"{self.path!r} is an HDF5 file but not a bioscan-h5 store (its 'format' attribute is"
                f" {a.get(fmt.ATTR_FORMAT)!r}, expected {fmt.FORMAT_NAME!r}). Build a store with `bioscan-h5 build`."
            )
        version = a.get(fmt.ATTR_VERSION)
        if not isinstance(version, (int, np.integer)) or version < 1:
            raise StoreFormatError(f"{self.path!r} has an invalid format version {version!r}.")
        if version > fmt.FORMAT_VERSION:
            raise StoreVersionError(
                f"{self.path!r} was written in store format version {version}, but this bioscan-h5 reads"
                f" versions up to {fmt.FORMAT_VERSION}. Upgrade bioscan-h5 (pip install -U bioscan-h5)."
            )
        if not a.get(fmt.ATTR_COMPLETE, False) and not self.allow_incomplete:
            raise StoreIncompleteError(
                f"{self.path!r} is incomplete: its build has not finished. Rerun the same `bioscan-h5 build`"
                " command to finish it (or pass allow_incomplete=True to inspect it)."
            )
        self.dataset = str(a.get(fmt.ATTR_DATASET))
        if self.dataset not in fmt.SCHEMAS:
            raise StoreFormatError(f"{self.path!r} holds an unknown dataset {self.dataset!r}.")
        self.schema = fmt.SCHEMAS[self.dataset]
        self.n_rows = int(a[fmt.ATTR_N_ROWS])
        # HDF5 does not checksum attribute values kept in dense storage: parse the JSON ones
        # now, so that a damaged one fails here (as StoreFormatError) rather than later.
        for name in (
            fmt.ATTR_SOURCE,
            fmt.ATTR_BUILD_ARGS,
            fmt.ATTR_SPLITS_BUILT,
            fmt.ATTR_COUNTS,
            fmt.ATTR_SOURCE_COLUMNS,
        ):
            if name in a:
                json.loads(a[name])
        for name, valid in ((fmt.ATTR_IMAGE_PACKAGE, fmt.IMAGE_PACKAGES), (fmt.ATTR_FIT, fmt.FITS)):
            if name in a and a[name] not in valid:
                raise StoreFormatError(
                    f"{self.path!r} is damaged: its {name!r} attribute is {a[name]!r}, not one of"
                    f" {', '.join(map(repr, valid))}. Rebuild it with `bioscan-h5 build --overwrite`."
                )
        self.image_size = int(a[fmt.ATTR_IMAGE_SIZE])
        _check_links(f, self.path)
        for name, (kind, shape) in fmt.expected_datasets(self.schema, self.n_rows, self.image_size).items():
            obj = f.get(name)
            if not isinstance(obj, h5py.Dataset):
                raise StoreFormatError(
                    f"{self.path!r} is damaged: the dataset {name!r} is missing. Rebuild it with"
                    " `bioscan-h5 build --overwrite`."
                )
            ok_kind = (
                obj.dtype.kind == kind[0] if kind != "O" else h5py.check_string_dtype(obj.dtype) is not None
            )
            if kind not in ("S", "O") and obj.dtype.itemsize != int(kind[1]):
                ok_kind = False
            ok_shape = len(obj.shape) == len(shape) and all(
                s is None or s == t for s, t in zip(shape, obj.shape)
            )
            if not (ok_kind and ok_shape):
                raise StoreFormatError(
                    f"{self.path!r} is damaged: dataset {name!r} has dtype {obj.dtype} and shape {obj.shape},"
                    f" expected {kind} and {tuple('any' if s is None else s for s in shape)}. Rebuild it with"
                    " `bioscan-h5 build --overwrite`."
                )

    @property
    def file(self) -> h5py.File:
        """The open h5py file (reopened after a fork or unpickling)."""
        if self._file is None or self._pid != os.getpid():
            self._file = open_readonly(self.path)
            self._pid = os.getpid()
            self.__dict__.pop("_maps", None)
            self.__dict__.pop("_raw", None)
        return self._file

    @property
    def _map_source(self):
        """The file HDF5 has open, as a Python file object to make memory maps from.

        Maps are never made from the path: if the store is replaced (``os.replace``) while it
        is open, every array keeps coming from the file that was opened and validated, and
        none from the new one.
        """
        f = self.file
        raw = self.__dict__.get("_raw")
        if raw is None:
            raw = self.__dict__["_raw"] = open(os.dup(f.id.get_vfd_handle()), "rb")
            weakref.finalize(self, raw.close)  # closed with the store, without a ResourceWarning
        return raw

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
        return {"path": self.path, "allow_incomplete": self.allow_incomplete}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"], allow_incomplete=state["allow_incomplete"])

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        return (
            f"<Store {os.path.basename(self.path)!r}: {self.dataset}, {self.n_rows} rows,"
            f" {self.attrs.get(fmt.ATTR_IMAGE_PACKAGE)} at {self.image_size}px>"
        )

    # ------------------------------------------------------------ raw arrays
    @_reads(lambda self, name: f"dataset {name!r}")
    def array(self, name: str) -> np.ndarray:
        """A dataset as a read-only numpy array: a memory map when it is stored contiguously.

        The array is made once per process and cached (per-sample reads call this).
        """
        f = self.file  # reopened, and the cache dropped, after a fork
        maps = self.__dict__.setdefault("_maps", {})
        arr = maps.get(name)
        if arr is None:
            dset = f[name]
            offset = _contiguous_offset(dset)
            if offset is None:
                arr = dset[()]
                if isinstance(arr, np.ndarray):
                    arr.flags.writeable = False
            else:
                arr = np.memmap(self._map_source, dtype=dset.dtype, mode="r", offset=offset, shape=dset.shape)
            maps[name] = arr
        return arr

    @cached_property
    @_reads("the pixel array")
    def images(self):
        """``(N, S, S, 3)`` uint8 pixels, sliceable like a numpy array."""
        dset = self.file[fmt.IMAGES]
        off = int(self.attrs.get(fmt.ATTR_PIXEL_OFFSET, -1))
        n, s = self.n_rows, self.image_size
        nbytes = s * s * 3
        if off >= 0 and dset.compression is None and dset.chunks == (1, s, s, 3):
            first = dset.id.get_chunk_info_by_coord((0, 0, 0, 0)).byte_offset
            last = dset.id.get_chunk_info_by_coord((n - 1, 0, 0, 0)).byte_offset
            if first == off and last == off + (n - 1) * nbytes:
                return np.memmap(self._map_source, dtype=np.uint8, mode="r", offset=off, shape=(n, s, s, 3))
        return dset

    @property
    def memory_mapped(self) -> bool:
        """True when :attr:`images` is a memory map (uncompressed store)."""
        return isinstance(self.images, np.memmap)

    @cached_property
    def image_status(self) -> np.ndarray:
        return self.array(fmt.IMAGE_STATUS)

    @property
    def image_ok(self) -> np.ndarray:
        return self.image_status == ImageStatus.OK

    @cached_property
    def image_source_size(self) -> np.ndarray:
        return self.array(fmt.IMAGE_SOURCE_SIZE)

    @cached_property
    def dna_codes(self) -> np.ndarray:
        """``(N, W)`` uint8 ASCII barcode letters, 0-padded."""
        return self.array(fmt.DNA_CODES)

    @cached_property
    def dna_lengths(self) -> np.ndarray:
        """``(N,)`` stored barcode lengths, -1 where missing."""
        return self.array(fmt.DNA_LENGTHS)

    @cached_property
    def dna_full_lengths(self) -> np.ndarray:
        return self.array(fmt.DNA_FULL_LENGTHS)

    @property
    def max_nucleotides(self) -> int | None:
        """The barcode truncation the store was built with (None: full length)."""
        v = int(self.attrs[fmt.ATTR_MAX_NUCLEOTIDES])
        return None if v < 0 else v

    @cached_property
    @_reads("the column list")
    def columns(self) -> list[str]:
        """Every stored metadata column (the barcode column excepted), in source-file order."""
        stored = list(self.file[fmt.COLUMNS].keys())
        if fmt.ATTR_SOURCE_COLUMNS not in self.attrs:
            return stored
        order = json.loads(self.attrs[fmt.ATTR_SOURCE_COLUMNS])
        if not isinstance(order, list) or set(order) != {*stored, self.schema.barcode_column}:
            raise StoreFormatError(
                f"{self.path!r} is damaged: its {fmt.ATTR_SOURCE_COLUMNS!r} attribute does not name the stored"
                " columns. Rebuild it with `bioscan-h5 build --overwrite`."
            )
        return [c for c in order if c != self.schema.barcode_column]

    @_reads(lambda self, name: f"column {name!r}")
    def column_kind(self, name: str) -> Kind:
        """How a metadata column is stored (:class:`~bioscan_h5.format.Kind`)."""
        kinds = self.__dict__.setdefault("_kinds", {})
        if name not in kinds:
            kinds[name] = Kind(_attr(self.file[f"{fmt.COLUMNS}/{name}"].attrs["kind"]))
        return kinds[name]

    @cached_property
    def labels(self) -> Mapping[str, np.ndarray]:
        return _Columns(self, self.schema.ranks, lambda r: self.codes(r))

    @cached_property
    def vocab(self) -> Mapping[str, list[str]]:
        return _Columns(self, self.schema.ranks, lambda r: self.categories(r))

    def codes(self, column: str) -> np.ndarray:
        """Category codes of a category column (-1 = missing)."""
        return self.array(fmt.column_path(column, "codes"))

    def categories(self, column: str) -> list[str]:
        """Sorted category names of a category column."""
        return list(self._category_objects(column)[:-1])

    @_reads(lambda self, column: f"the categories of {column!r}")
    def _category_objects(self, column: str) -> np.ndarray:
        """The category names as an object array with NaN appended (index it with codes; cached)."""
        cats = self.__dict__.setdefault("_cats", {})
        if column not in cats:
            names = self.file[fmt.column_path(column, "categories")].asstr()[()]
            cats[column] = np.asarray([*names, np.nan], dtype=object)
            cats[column].flags.writeable = False
        return cats[column]

    @cached_property
    @_reads("the token arrays")
    def tokenizations(self) -> list[str]:
        """Names of the token arrays precomputed with ``build --tokenize``."""
        return list(self.file[fmt.TOKENS].keys()) if fmt.TOKENS in self.file else []

    def tokens(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Precomputed ``(ids, mask)`` arrays of a tokenizer."""
        return self.array(fmt.token_path(name, "ids")), self.array(fmt.token_path(name, "mask"))

    # ------------------------------------------------------------ rows
    def indices(self, split: str | None = "all", partitioning_version: str | None = None) -> np.ndarray:
        """Rows of a split or metasplit, in metadata-file order (``int64``).

        Parameters
        ----------
        split : str
            As the datasets take it: ``"val"``, ``"pretrain+train"``, ``"seen"``, ``"all"``...
        partitioning_version : str, optional
            BIOSCAN-1M only (default ``"large_diptera_family"``).
        """
        from .splits import explode_metasplit_5m

        if self.dataset == "bioscan5m":
            wanted = explode_metasplit_5m(split, verify=True)
            return self._rows_in("split", wanted)
        from .layout1m import split_rows_1m

        return split_rows_1m(self, split, partitioning_version or "large_diptera_family")

    def _rows_in(self, column: str, values: Iterable[str]) -> np.ndarray:
        cats = self.categories(column)
        wanted = [cats.index(v) for v in values if v in cats]
        return np.flatnonzero(np.isin(self.codes(column), wanted)).astype(np.int64)

    @_reads("the barcodes")
    def barcodes(self, rows=None, max_nucleotides: int | None = None) -> list:
        """Barcodes as strings (``nan`` where missing), optionally truncated further."""
        from .dna import decode_barcodes

        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows)
        codes = self.dna_codes[rows]
        lengths = np.array(self.dna_lengths[rows])
        if max_nucleotides is not None:
            lengths = np.where(lengths > max_nucleotides, max_nucleotides, lengths)
        return decode_barcodes(codes, lengths)

    @_reads(lambda self, name, rows=None: f"column {name!r}")
    def column_values(self, name: str, rows=None) -> np.ndarray:
        """One column for some rows as an object array of Python values (``nan`` = missing)."""
        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows)
        if name == self.schema.barcode_column:
            return np.array(self.barcodes(rows), dtype=object)
        kind = self.column_kind(name)
        if kind is Kind.CATEGORY:
            return self._category_objects(name)[self.codes(name)[rows]]
        vals = self.array(fmt.column_path(name, "values"))[rows]
        if kind is Kind.STRING:
            return np.array([v.decode("utf-8") if v else np.nan for v in vals], dtype=object)
        if kind is Kind.FLOAT:
            return vals.astype(object)
        out = vals.astype(object)
        out[self.array(fmt.column_path(name, "missing"))[rows]] = np.nan
        return out

    def to_pandas(self, columns: Sequence[str] | None = None, rows=None):
        """Columns as a pandas DataFrame, index = row numbers.

        Category columns become pandas categoricals over the whole file's categories (so
        ``.cat.codes`` are the global label indices), text columns ``object``, integers
        nullable ``Int64``, floats ``float64``; missing values are NA/NaN.
        """
        import pandas as pd

        rows = np.arange(self.n_rows) if rows is None else np.asarray(rows)
        names = list(columns) if columns is not None else [*self.columns, self.schema.barcode_column]
        data = {}
        for name in names:
            if name == self.schema.barcode_column:
                data[name] = pd.Series(self.barcodes(rows), index=rows, dtype=object)
                continue
            if name not in self.columns:
                valid = ", ".join(repr(c) for c in [*self.columns, self.schema.barcode_column])
                raise KeyError(f"No column {name!r} in the store. Valid columns are: {valid}.")
            kind = self.column_kind(name)
            if kind is Kind.CATEGORY:
                with _damage_reported(self.path, f"column {name!r}"):
                    cat = pd.Categorical.from_codes(self.codes(name)[rows], categories=self.categories(name))
                data[name] = pd.Series(cat, index=rows)
            elif kind is Kind.FLOAT:
                data[name] = pd.Series(
                    np.asarray(self.array(fmt.column_path(name, "values"))[rows]), index=rows
                )
            elif kind is Kind.INT:
                vals = np.asarray(self.array(fmt.column_path(name, "values"))[rows])
                miss = np.asarray(self.array(fmt.column_path(name, "missing"))[rows])
                data[name] = pd.Series(pd.arrays.IntegerArray(vals, miss), index=rows)
            else:
                data[name] = pd.Series(self.column_values(name, rows), index=rows, dtype=object)
        return pd.DataFrame(data, index=rows)

    # ------------------------------------------------------------ summary
    def info(self) -> dict:
        """A summary: rows per split, images decoded, shape, size on disk, labelled fraction per rank."""
        st = os.stat(self.path)
        status = np.asarray(self.image_status)
        counts = {
            s.name.lower(): int(c)
            for s, c in zip(ImageStatus, np.bincount(status, minlength=len(ImageStatus)))
        }
        split_col = self.schema.split_columns[0]
        split_codes = np.asarray(self.codes(split_col))
        split_names = self.categories(split_col)
        per_split = {}
        for i, name in enumerate(split_names):
            sel = split_codes == i
            per_split[name] = {"rows": int(sel.sum()), "images": int((status[sel] == ImageStatus.OK).sum())}
        n = max(self.n_rows, 1)
        labelled = {
            r: round(float((np.asarray(self.labels[r]) >= 0).sum()) / n, 4) for r in self.schema.ranks
        }
        return {
            "path": self.path,
            "dataset": self.dataset,
            "format_version": int(self.attrs[fmt.ATTR_VERSION]),
            "rows": self.n_rows,
            "image_package": self.attrs.get(fmt.ATTR_IMAGE_PACKAGE),
            "image_shape": [self.image_size, self.image_size, 3],
            "fit": self.attrs.get(fmt.ATTR_FIT),
            "compression": self.attrs.get(fmt.ATTR_COMPRESSION) or None,
            "memory_mapped": self.memory_mapped,
            "max_nucleotides": self.max_nucleotides,
            "image_splits": json.loads(self.attrs.get(fmt.ATTR_SPLITS_BUILT, "[]")),
            "images": counts,
            "bad_images": int(sum(v for k, v in counts.items() if k not in ("ok", "pending"))),
            "rows_per_split": per_split,
            "labelled_fraction": labelled,
            "size_bytes": st.st_size,
            "size_on_disk_bytes": st.st_blocks * 512,
            "tokenizations": self.tokenizations,
            "complete": bool(self.attrs.get(fmt.ATTR_COMPLETE)),
        }


def _attr(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _contiguous_offset(dset: h5py.Dataset) -> int | None:
    if dset.chunks is not None or dset.compression is not None or dset.is_virtual or dset.external:
        return None
    if (
        dset.size == 0
        or dset.dtype.kind == "O"
        or h5py.check_string_dtype(dset.dtype)
        and dset.dtype.kind == "O"
    ):
        return None
    return dset.id.get_offset()


def _check_links(group: h5py.Group, path: str) -> None:
    """Refuse external/soft links, virtual and external-storage datasets (data outside the file)."""
    for key in group:
        link = group.get(key, getlink=True)
        where = f"{group.name.rstrip('/')}/{key}"
        if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
            raise StoreFormatError(
                f"{path!r} contains a link {where!r} ({type(link).__name__}); a store keeps all its data inside the"
                " file. It was not written by bioscan-h5: rebuild it with `bioscan-h5 build`."
            )
        obj = group[key]
        if isinstance(obj, h5py.Group):
            _check_links(obj, path)
        elif isinstance(obj, h5py.Dataset) and (obj.is_virtual or obj.external):
            raise StoreFormatError(
                f"{path!r}: dataset {where!r} reads data from outside the file (virtual or external storage);"
                " a store keeps all its data inside the file. Rebuild it with `bioscan-h5 build`."
            )


def load_table_columns(f: h5py.File, names: Sequence[str]) -> Table:
    """The named columns of a store as a :class:`Table` (enough for image paths and splits)."""
    n = int(f.attrs[fmt.ATTR_N_ROWS])
    from .metadata import StoredColumn, Table

    table = Table(n_rows=n)
    for name in names:
        g = f[f"{fmt.COLUMNS}/{name}"]
        kind = Kind(g.attrs["kind"])
        if kind is Kind.CATEGORY:
            cats = [c.decode("utf-8") if isinstance(c, bytes) else c for c in g["categories"][()]]
            table.columns[name] = StoredColumn(name, kind, codes=g["codes"][()], categories=cats)
        elif kind is Kind.INT:
            table.columns[name] = StoredColumn(name, kind, values=g["values"][()], missing=g["missing"][()])
        else:
            table.columns[name] = StoredColumn(name, kind, values=g["values"][()])
    if fmt.PARTITIONS in f:
        table.partitions = {k: v[()] for k, v in f[fmt.PARTITIONS].items()}
    return table
