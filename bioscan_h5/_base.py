"""Machinery shared by :class:`~bioscan_h5.BIOSCAN5M` and :class:`~bioscan_h5.BIOSCAN1M`.

A dataset is a list of store rows (its split, in file order, optionally de-duplicated) plus
the options that say what a sample holds. Options are checked once in ``__init__``;
``__getitem__`` only reads. The store is opened lazily in each process and never pickled.
"""

from __future__ import annotations

import glob
import os
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from . import format as fmt
from .errors import ImageUnavailableError, SplitNotBuiltError, StoreNotFoundError
from .format import ImageStatus
from .store import Store

__all__ = ["StoreDataset", "DNA_MODALITIES", "IMAGE_FORMATS"]

DNA_MODALITIES = ("dna", "dna_barcode", "barcode")
IMAGE_FORMATS = ("pil", "numpy", "tensor")
_BUILD_CHOICES = ("auto", True, False)
#: The datasets of this process, so that a build can first close the store handles they hold.
_LIVE_DATASETS: weakref.WeakSet = weakref.WeakSet()


def _release_store(path: str) -> None:
    """Close this process's dataset handles on the store at ``path``.

    HDF5 cannot open a file for writing while this process holds it open for reading, so a
    build that extends a store (the images of another split) needs them closed first; each
    dataset reopens its store on next use.
    """
    target = os.path.realpath(path)
    for ds in list(_LIVE_DATASETS):
        st = ds.__dict__.get("_store")
        if st is None or ds.__dict__.get("_store_pid") != os.getpid():
            continue
        if os.path.realpath(st.path) == target:
            st.close()
            ds._store = None


class _StandardTransformRepr:
    """torchvision's StandardTransform repr, without depending on torchvision."""

    def __init__(self, transform, target_transform) -> None:
        self.transform, self.target_transform = transform, target_transform

    @staticmethod
    def _lines(transform, head: str) -> list[str]:
        lines = repr(transform).splitlines()
        return [f"{head}{lines[0]}"] + ["{}{}".format(" " * len(head), line) for line in lines[1:]]

    def __repr__(self) -> str:
        body = [self.__class__.__name__.lstrip("_").replace("Repr", "")]
        if self.transform is not None:
            body += self._lines(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += self._lines(self.target_transform, "Target transform: ")
        return "\n".join(body)


#: The constructor arguments every dataset forwards to :meth:`StoreDataset._setup`.
SETUP_ARGS = (
    "modality",
    "image_package",
    "reduce_repeated_barcodes",
    "max_nucleotides",
    "target_type",
    "target_format",
    "output_format",
    "transform",
    "dna_transform",
    "target_transform",
    "store",
    "image_size",
    "image_format",
    "build",
    "drop_bad_images",
)


def setup_kwargs(arguments: dict) -> dict:
    """The :data:`SETUP_ARGS` among a constructor's arguments (pass ``locals()``)."""
    return {k: arguments[k] for k in SETUP_ARGS}


class StoreDataset(torch.utils.data.Dataset):
    """Base class: a split of a store, served as samples like ``bioscan-dataset``.

    Subclasses set :attr:`dataset_name`, :attr:`rank_aliases` and implement
    :meth:`_select_rows` and :meth:`_split_repr`.
    """

    dataset_name: str = ""
    base_folder: str = ""
    #: target_type aliases (the peer maps "uri" <-> "dna_bin")
    rank_aliases: dict[str, str] = {}
    _repr_indent = 4

    # ------------------------------------------------------------------ construction
    def _setup(
        self,
        root,
        *,
        modality,
        image_package: str,
        reduce_repeated_barcodes: bool,
        max_nucleotides: int | None,
        target_type,
        target_format: str,
        output_format: str,
        transform: Callable | None,
        dna_transform: Callable | None,
        target_transform: Callable | None,
        store,
        image_size: int | None,
        image_format: str,
        build,
        drop_bad_images: bool,
    ) -> None:
        _LIVE_DATASETS.add(self)
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        self.image_package = image_package
        self.reduce_repeated_barcodes = reduce_repeated_barcodes
        self.max_nucleotides = max_nucleotides
        self.transform = transform
        self.target_transform = target_transform
        self.dna_transform = dna_transform
        self.transforms = (
            _StandardTransformRepr(transform, target_transform) if (transform or target_transform) else None
        )
        self.output_format = "dict" if output_format == "dictionary" else output_format
        self.target_format = target_format
        self.image_format = image_format
        self.drop_bad_images = drop_bad_images
        self.modality = [modality] if isinstance(modality, str) else list(modality)
        tt = [target_type] if isinstance(target_type, str) else list(target_type)
        self.target_type = [self.rank_aliases.get(t, t) for t in tt]
        _check_option("image_package", image_package, fmt.IMAGE_PACKAGES)
        _check_option("target_format", target_format, ("index", "text"))
        _check_option("output_format", self.output_format, ("tuple", "dict"))
        _check_option("image_format", image_format, IMAGE_FORMATS)
        _check_option("build", build, _BUILD_CHOICES)
        if not self.target_type and target_transform is not None:
            raise RuntimeError("target_transform is specified but target_type is empty")
        if max_nucleotides is not None and (
            not isinstance(max_nucleotides, (int, np.integer)) or max_nucleotides < 0
        ):
            raise ValueError(
                f"max_nucleotides must be a non-negative integer or None, got {max_nucleotides!r}."
            )

        self._store: Store | None = store if isinstance(store, Store) else None
        self._store_pid = os.getpid() if self._store is not None else None
        self.store_path = self._find_store(store, image_size, build)
        st = self.store
        self.image_size = st.image_size
        self._check_columns(st)
        self._check_max_nucleotides(st)
        self._tokenizer = _as_code_tokenizer(dna_transform)
        self._stored_tokens = self._find_stored_tokens(st)
        rows = self._select_rows(st)
        if reduce_repeated_barcodes:
            from .dna import first_unique_rows

            keep = first_unique_rows(st.dna_codes, st.dna_lengths, max_nucleotides)
            rows = rows[np.isin(rows, keep)]
            self._after_reduce(st, keep)
        if "image" in self.modality:
            rows = self._ensure_images(st, rows, build)
        self._rows = np.ascontiguousarray(rows, dtype=np.int64)
        self._metadata = None

    #: Per rank, a map from global label index to this dataset's index (BIOSCAN-1M after
    #: de-duplication); empty when the store's global indices apply.
    _remap: dict[str, np.ndarray] = {}

    def _download(self, root, modality, image_package: str, mirror: str | None, splits: str) -> None:
        """``download=True``: fetch the metadata (and the images of ``splits``) into ``root``."""
        from .download import download

        if root is None:
            raise ValueError("download=True needs root=, the folder to download the dataset into.")
        images = "image" in ([modality] if isinstance(modality, str) else list(modality))
        download(
            self.dataset_name,
            os.path.expanduser(os.fspath(root)),
            splits,
            image_package,
            images=images,
            mirror=mirror,
        )

    def _after_reduce(self, st: Store, keep: np.ndarray) -> None:
        """Hook run after ``reduce_repeated_barcodes`` chose the rows ``keep`` (whole file)."""

    def label_codes(self, rank: str, rows: np.ndarray) -> np.ndarray:
        """Label indices of ``rank`` for store rows (int64, -1 = missing)."""
        codes = np.asarray(self.store.codes(rank)[rows]).astype(np.int64)
        remap = self._remap.get(rank)
        if remap is not None:
            codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        return codes

    def _find_store(self, store, image_size: int | None, build) -> str:
        if isinstance(store, Store):
            return store.path
        if store is not None:
            path = os.path.abspath(os.fspath(store))
            if not os.path.exists(path):
                raise StoreNotFoundError(f"No store file at {path!r} (the store= argument).")
            return path
        if self.root is None:
            raise ValueError("Give root= (the dataset root) or store= (a store file).")
        folder = fmt.store_dir(self.root, self.dataset_name)
        if image_size is not None:
            path = fmt.default_store_path(self.root, self.dataset_name, self.image_package, image_size)
            candidates = [path] if os.path.exists(path) else []
        else:
            pattern = os.path.join(folder, f"{self.dataset_name}_{self.image_package}_*px*.h5")
            candidates = sorted(glob.glob(pattern))
            default = fmt.default_store_path(
                self.root, self.dataset_name, self.image_package, fmt.DEFAULT_IMAGE_SIZE
            )
            if default in candidates:
                candidates = [default]
        if len(candidates) > 1:
            raise ValueError(
                f"Several stores for image_package={self.image_package!r} in {folder!r}: "
                f"{', '.join(os.path.basename(c) for c in candidates)}. Choose one with image_size= or store=."
            )
        if candidates:
            return candidates[0]
        size = image_size or fmt.DEFAULT_IMAGE_SIZE
        path = fmt.default_store_path(self.root, self.dataset_name, self.image_package, size)
        return self._build_missing(path, size, build)

    @staticmethod
    def _content_args(st: Store | None) -> dict:
        """The content arguments an existing store was built with (an extension must repeat them)."""
        if st is None:
            return {}
        import json

        return json.loads(st.attrs.get(fmt.ATTR_BUILD_ARGS, "{}"))

    def _build_cmd(self, splits: str, size: int, st: Store | None = None) -> str:
        """The ``bioscan-h5 build`` command that builds the store, or extends ``st`` (shell-quoted)."""
        import shlex

        content = self._content_args(st)
        package = content.get("image_package", self.image_package)
        fit = content.get("fit", "crop")
        args = ["bioscan-h5", "build", "--root", self.root, "--dataset", self.dataset_name]
        args += ["--image-package", package]
        if size != fmt.DEFAULT_IMAGE_SIZE:
            args += ["--image-size", str(size)]
        if fit != "crop":
            args += ["--fit", fit]
        max_nt = content.get("max_nucleotides", fmt.DEFAULT_MAX_NUCLEOTIDES)
        if max_nt != fmt.DEFAULT_MAX_NUCLEOTIDES:
            args += ["--max-nucleotides", "none" if max_nt is None else str(max_nt)]
        if content.get("compression"):
            args += ["--compression", content["compression"]]
        if content.get("draft") is False:
            args += ["--no-draft"]
        if content.get("tokenize"):
            args += ["--tokenize", ",".join(content["tokenize"])]
        if st is not None and st.path != fmt.default_store_path(
            self.root, self.dataset_name, package, size, fit
        ):
            args += ["--out", st.path]
        return shlex.join([*args, "--splits", splits])

    def _raw_metadata_path(self) -> str:
        from .sources import get_layout

        return get_layout(self.dataset_name).metadata_path(self.root)

    def _build_missing(self, path: str, size: int, build) -> str:
        import shlex

        splits = self._build_splits()
        meta = self._raw_metadata_path()
        if not os.path.isfile(meta):
            raise StoreNotFoundError(
                f"{type(self).__name__}: no store at {path!r} and no raw data to build one from (looked for the"
                f" metadata file {meta!r}). Download the dataset (download=True, or `bioscan-h5 download --dataset"
                f" {self.dataset_name} --root {shlex.quote(self.root)}`) or pass store= to point at an existing store."
            )
        if build is False:
            raise StoreNotFoundError(
                f"{type(self).__name__}: no store at {path!r}. Build it with:\n  {self._build_cmd(splits, size)}\n"
                "(or pass build='auto' to build it now)."
            )
        self._run_build(path, size, splits, no_images="image" not in self.modality)
        return path

    def _build_splits(self) -> str:
        return "all"

    def _run_build(
        self, path: str, size: int, splits: str, no_images: bool, content: dict | None = None
    ) -> None:
        from .builder import BuildConfig, build

        content = content or {}

        _release_store(path)
        t0 = time.monotonic()
        print(
            f"bioscan-h5: building {path} ({'metadata only' if no_images else 'images of ' + splits})",
            file=sys.stderr,
        )
        res = build(
            BuildConfig(
                root=self.root,
                dataset=self.dataset_name,
                image_package=content.get("image_package", self.image_package),
                image_size=size,
                fit=content.get("fit", "crop"),
                splits=splits,
                out=path,
                no_images=no_images,
                max_nucleotides=content.get("max_nucleotides", fmt.DEFAULT_MAX_NUCLEOTIDES),
                compression=content.get("compression"),
                draft=content.get("draft", True),
                tokenize=tuple(content.get("tokenize", ())),
            )
        )
        print(
            f"bioscan-h5: built {path} in {time.monotonic() - t0:.1f} s ({res.decoded_now} images decoded)",
            file=sys.stderr,
        )

    def _ensure_images(self, st: Store, rows: np.ndarray, build) -> np.ndarray:
        status = st.image_status
        pending = status[rows] == ImageStatus.PENDING
        if pending.any():
            splits = self._build_splits()
            if build is False or self.root is None or not os.path.isfile(self._raw_metadata_path()):
                raise SplitNotBuiltError(
                    f"{pending.sum()} of the {len(rows)} rows of split {self.split!r} have no image in"
                    f" {st.path!r} (their split was not built). Build them with:\n"
                    f"  {self._build_cmd(splits, st.image_size, st)}"
                )
            self._run_build(st.path, st.image_size, splits, no_images=False, content=self._content_args(st))
            st = self.store
            status = st.image_status
        if self.drop_bad_images:
            rows = rows[status[rows] == ImageStatus.OK]
        return rows

    def _check_columns(self, st: Store) -> None:
        valid = set(st.columns) | {st.schema.barcode_column, "image", "image_path", *DNA_MODALITIES}
        valid |= {f"{r}_index" for r in st.schema.ranks}
        for m in self.modality:
            if m not in valid:
                raise ValueError(
                    f"Unfamiliar modality: {m!r}. Valid modalities are 'image', 'dna' and the metadata columns: "
                    f"{', '.join(repr(c) for c in sorted(valid - {'image', *DNA_MODALITIES}))}."
                )
        for t in self.target_type:
            if t not in st.schema.ranks:
                raise ValueError(
                    f"Invalid target_type {t!r}. Valid target types are: {', '.join(repr(r) for r in st.schema.ranks)}."
                )

    def _check_max_nucleotides(self, st: Store, always: bool = False) -> None:
        if not always and not any(
            m in DNA_MODALITIES or m == st.schema.barcode_column for m in self.modality
        ):
            if not self.reduce_repeated_barcodes:
                return
        stored = st.max_nucleotides
        want = self.max_nucleotides
        if stored is None or (want is not None and want <= stored):
            return
        longest = int(np.max(st.dna_full_lengths, initial=0))
        if longest > stored:
            raise ValueError(
                f"max_nucleotides={want!r} asks for more than the store holds: {st.path!r} keeps the first"
                f" {stored} nucleotides and {int((np.asarray(st.dna_full_lengths) > stored).sum())} barcodes are"
                f" longer (up to {longest}). Use max_nucleotides<={stored}, or rebuild the store with"
                " `bioscan-h5 build --max-nucleotides none --overwrite` (or a larger value)."
            )

    def _find_stored_tokens(self, st: Store) -> str | None:
        """Name of precomputed tokens (``build --tokenize``) equal to what the tokenizer would give."""
        tok = self._tokenizer
        if tok is None or tok.name not in st.tokenizations:
            return None
        if self.max_nucleotides != st.max_nucleotides:
            return None  # the stored tokens saw a different truncation
        import json

        from .tokenizers import Tokenizer

        attrs = st.file[fmt.token_path(tok.name, "ids")].attrs
        try:
            stored = Tokenizer.from_config(json.loads(attrs["config"]))
        except (KeyError, ValueError, TypeError):
            return None
        return tok.name if stored == tok else None

    # ------------------------------------------------------------------ the store, per process
    @property
    def store(self) -> Store:
        """The open :class:`~bioscan_h5.store.Store` (opened lazily in each process)."""
        if self._store is None or self._store_pid != os.getpid():
            self._store = Store(self.store_path)
            self._store_pid = os.getpid()
        return self._store

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_store"] = None
        state["_store_pid"] = None
        state["_metadata"] = None
        return state

    # ------------------------------------------------------------------ size and rows
    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> np.ndarray:
        """The store rows of this dataset, in sample order."""
        return self._rows

    # ------------------------------------------------------------------ metadata
    @property
    def metadata(self):
        """The selected rows as a pandas DataFrame (built on first access, like the peer's)."""
        if self._metadata is None:
            self._metadata = self._build_metadata()
        return self._metadata

    def _build_metadata(self):
        st = self.store
        import json

        order = json.loads(st.attrs.get(fmt.ATTR_SOURCE_COLUMNS, "[]")) or [
            *st.columns,
            st.schema.barcode_column,
        ]
        cols = [c for c in order if c in st.columns or c == st.schema.barcode_column]
        bc = st.schema.barcode_column
        self._check_max_nucleotides(st, always=True)  # the frame holds barcodes even without "dna"
        df = st.to_pandas(cols, self._rows)
        if self.max_nucleotides is not None:
            df[bc] = df[bc].str[: self.max_nucleotides]
        for col in st.schema.split_columns:
            if col in df.columns:  # the peer reads split names as text, not categories
                df[col] = df[col].astype(object)
        self._add_metadata_columns(df)
        return df

    def _add_metadata_columns(self, df) -> None:
        for r in self.store.schema.ranks:
            if r in self._remap:
                df[r] = df[r].cat.set_categories(self._vocab(r))
            df[f"{r}_index"] = df[r].cat.codes
        df["image_path"] = self._image_paths(self._rows)

    def _image_paths(self, rows: np.ndarray) -> list[str]:
        """Image paths (relative to the package folder) of store rows, as the peer's ``image_path``."""
        from .metadata import StoredColumn, Table
        from .sources import get_layout

        st = self.store
        layout = get_layout(self.dataset_name)
        # the columns as the store's cached arrays (memory maps), not read whole for each call
        table = Table(n_rows=st.n_rows)
        for name in layout.path_columns:
            kind = st.column_kind(name)
            if kind is fmt.Kind.CATEGORY:
                col = StoredColumn(name, kind, codes=st.codes(name), categories=st.categories(name))
            elif kind is fmt.Kind.INT:
                col = StoredColumn(
                    name,
                    kind,
                    values=st.array(fmt.column_path(name, "values")),
                    missing=st.array(fmt.column_path(name, "missing")),
                )
            else:
                col = StoredColumn(name, kind, values=st.array(fmt.column_path(name, "values")))
            table.columns[name] = col
        return layout.image_relpaths(table, rows)

    # ------------------------------------------------------------------ labels
    def _column_for(self, column: str | None) -> str:
        if column is not None:
            return self.rank_aliases.get(column, column)
        if len(self.target_type) == 1:
            return self.target_type[0]
        raise ValueError("column must be specified if there isn't a single target_type")

    def _vocab(self, column: str) -> list[str]:
        cache = self.__dict__.setdefault("_vocab_cache", {})
        if column not in cache:
            st = self.store
            if column not in st.columns or st.column_kind(column) is not fmt.Kind.CATEGORY:
                valid = [c for c in st.columns if st.column_kind(c) is fmt.Kind.CATEGORY]
                raise KeyError(
                    f"No label column {column!r} in the store. Valid columns are: {', '.join(map(repr, valid))}."
                )
            vocab = st.categories(column)
            remap = self._remap.get(column)
            if remap is not None:
                vocab = [v for v, m in zip(vocab, remap) if m >= 0]
            cache[column] = vocab
        return cache[column]

    def index2label(self, index, column: str | None = None):
        """Convert target index (or indices) to text label(s); negative indices map to ``""``.

        Parameters
        ----------
        index : int or array_like of int
        column : str, optional
            The rank; by default the single ``target_type``.

        Returns
        -------
        str or numpy.ndarray of object
        """
        column = self._column_for(column)
        vocab = self._vocab(column)
        if not hasattr(index, "__len__"):
            return "" if index < 0 else vocab[index]
        if isinstance(index, str):
            raise TypeError(
                f"index must be an int or array-like of ints, not a string: {index!r}. Did you mean to call label2index?"
            )
        index = np.asarray(index)
        out = np.asarray(vocab, dtype=object)[index]
        out = np.asarray(out)
        out[index < 0] = ""
        return out

    def label2index(self, label, column: str | None = None):
        """Convert text label(s) to target index (indices); ``""`` and NaN map to -1.

        Unlike ``bioscan-dataset`` 1.3.0 under pandas >= 2, a list of labels returns an array.

        Raises
        ------
        KeyError
            A label is not in the column's vocabulary.
        """
        import pandas as pd

        column = self._column_for(column)
        lookup = self.__dict__.setdefault("_lookup_cache", {})
        if column not in lookup:
            lookup[column] = {v: i for i, v in enumerate(self._vocab(column))}
        table = lookup[column]
        if isinstance(label, str) or not hasattr(label, "__iter__"):
            if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
                raise TypeError(
                    f"label must be a string or list of strings, not an int: {label!r}. Did you mean to call index2label?"
                )
            if pd.isna(label) or label == "":  # pd.NA == "" is NA, whose truth value raises
                return -1
            try:
                return table[label]
            except KeyError:
                raise KeyError(f"Label {label!r} not found in metadata column {column!r}") from None
        out = []
        for lab in label:
            if isinstance(lab, str) and lab == "" or (not isinstance(lab, str) and pd.isna(lab)):
                out.append(-1)
                continue
            try:
                out.append(table[lab])
            except KeyError:
                raise KeyError(f"Label {lab!r} not found in metadata column {column!r}") from None
        return np.asarray(out, dtype=np.int64)

    # ------------------------------------------------------------------ samples
    def _image(self, st: Store, row: int, pixels: np.ndarray, private: bool = False):
        """The image of ``row`` in ``self.image_format``.

        ``private``: ``pixels`` is a copy of its own (no need to copy again); for tensor output
        it is then already CHW.
        """
        status = int(st.image_status[row])
        if status != ImageStatus.OK:
            pid = st.column_values(st.schema.id_column, [row])[0]
            raise ImageUnavailableError(
                f"The image of row {row} ({st.schema.id_column} {pid!r}) is not in the store: "
                f"{ImageStatus(status).reason} (recorded at build time; see the build report"
                f" {fmt.report_path(st.path)!r}). Pass drop_bad_images=True to leave such rows out of the split."
            )
        if self.image_format == "pil":
            from PIL import Image

            # PIL copies the pixels into its own storage: no intermediate numpy copy needed
            img = Image.frombuffer("RGB", (pixels.shape[1], pixels.shape[0]), pixels, "raw", "RGB", 0, 1)
        elif self.image_format == "numpy":
            img = pixels if private else np.array(pixels, copy=True)
        else:
            # contiguous CHW, copied by numpy (a torch copy may start its thread pool per sample)
            img = torch.from_numpy(pixels if private else np.ascontiguousarray(np.moveaxis(pixels, -1, 0)))
        if self.transform is not None:
            img = self.transform(img)
        return img

    def _dna(self, st: Store, row: int):
        length = int(st.dna_lengths[row])
        if self.max_nucleotides is not None and length > self.max_nucleotides:
            length = self.max_nucleotides
        if self._stored_tokens is not None:
            ids, _ = st.tokens(self._stored_tokens)
            return torch.from_numpy(np.asarray(ids[row], dtype=np.int64))
        if self._tokenizer is not None:
            return self._tokenizer.encode_codes(np.asarray(st.dna_codes[row]), length)
        if length < 0:
            value: Any = float("nan")
        else:
            value = st.dna_codes[row, :length].tobytes().decode("ascii")
        if self.dna_transform is not None:
            value = self.dna_transform(value)
        return value

    def _value(self, st: Store, name: str, row: int):
        if name.endswith("_index") and name[: -len("_index")] in st.schema.ranks:
            return int(self.label_codes(name[: -len("_index")], np.array([row]))[0])
        if name == "image_path":
            return self._image_paths(np.array([row]))[0]
        kind = st.column_kind(name)
        if kind is fmt.Kind.FLOAT:
            return st.array(fmt.column_path(name, "values"))[row]
        return st.column_values(name, [row])[0]

    def _sample(self, st: Store, row: int, pixels, private: bool = False) -> tuple | dict:
        values: list[tuple[str, Any]] = []
        for m in self.modality:
            if m == "image":
                x = self._image(st, row, pixels, private)
            elif m in DNA_MODALITIES or m == st.schema.barcode_column:
                x = self._dna(st, row)
            else:
                x = self._value(st, m, row)
            values.append((m, x))
        target = []
        for t in self.target_type:
            code = int(self.label_codes(t, np.array([row]))[0]) if self._remap else int(st.codes(t)[row])
            if self.target_format == "index":
                target.append(code)
            else:
                target.append(self._vocab(t)[code] if code >= 0 else float("nan"))
            if self.output_format == "dict":
                values.append((t, self._vocab(t)[code] if code >= 0 else float("nan")))
                values.append((f"{t}_index", code))
        if target:
            tgt: Any = tuple(target) if len(target) > 1 else target[0]
            if self.target_transform is not None:
                tgt = self.target_transform(tgt)
        else:
            tgt = None
        values.append(("target", tgt))
        if self.output_format == "tuple":
            return tuple(v for _, v in values)
        return dict(values)

    def __getitem__(self, index: int):
        """One sample, as ``bioscan-dataset`` returns it (see the class docstring)."""
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an integer, not {type(index).__name__}")
        row = int(self._rows[index])
        st = self.store
        pixels = st.images[row] if "image" in self.modality else None
        return self._sample(st, row, pixels)

    def __getitems__(self, indices: Sequence[int]) -> list:
        """A batch of samples, with the pixels of all of them read in one pass."""
        rows = self._rows[np.asarray(indices, dtype=np.int64)]
        st = self.store
        if "image" in self.modality:
            # read in row order (sequential in the file), once; sample i's pixels are pix[rank[i]],
            # a row of this batch's own copy (no second copy per sample)
            order = np.argsort(rows, kind="stable")
            images = st.images
            pix = (
                np.asarray(images)[rows[order]]
                if isinstance(images, np.ndarray)
                else _h5_take(images, rows[order])
            )
            if self.image_format == "tensor":
                # one CHW copy of the block: contiguous samples, as __getitem__ returns
                pix = np.ascontiguousarray(pix.transpose(0, 3, 1, 2))
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            return [self._sample(st, int(r), pix[k], private=True) for r, k in zip(rows, rank)]
        return [self._sample(st, int(r), None) for r in rows]

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:  # pragma: no cover - overridden
        return ""

    def __repr__(self) -> str:
        head = "Dataset " + self.__class__.__name__
        body = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            body.append(f"Root location: {self.root}")
        body += self.extra_repr().splitlines()
        if self.transforms is not None:
            body += [repr(self.transforms)]
        lines = [head] + [" " * self._repr_indent + line for line in body]
        return "\n".join(lines)

    def _common_extra_repr(self, split_lines: list[str]) -> str:
        xr = list(split_lines)
        xr.append(f"modality: {self.modality!r}")
        if "image" in self.modality:
            xr.append(f"image_package: {self.image_package!r}")
        if self.reduce_repeated_barcodes:
            xr.append(f"reduce_repeated_barcodes: {self.reduce_repeated_barcodes!r}")
        has_dna = any(m in DNA_MODALITIES for m in self.modality)
        if has_dna and self.max_nucleotides != 660:
            xr.append(f"max_nucleotides: {self.max_nucleotides!r}")
        xr.append(f"target_type: {self.target_type!r}")
        if self.target_type:
            xr.append(f"target_format: {self.target_format!r}")
        xr.append(f"output_format: {self.output_format!r}")
        if has_dna and self.dna_transform is not None:
            xr.append(f"dna_transform: {self.dna_transform!r}")
        if "image" in self.modality and self.image_format != "pil":
            xr.append(f"image_format: {self.image_format!r}")
        if self.drop_bad_images:
            xr.append("drop_bad_images: True (rows whose image could not be decoded are left out)")
        return "\n".join(xr)


def _check_option(name: str, value, valid: Iterable) -> None:
    valid = tuple(valid)
    if value not in valid or isinstance(value, bool) and not any(v is value for v in valid):
        raise ValueError(f"Unknown {name}: {value!r}. Valid values are: {', '.join(repr(v) for v in valid)}.")


def _h5_take(dset, rows: np.ndarray) -> np.ndarray:
    out = np.empty((len(rows), *dset.shape[1:]), dtype=dset.dtype)
    for i, r in enumerate(rows):
        dset.read_direct(out, np.s_[int(r)], np.s_[i])
    return out


def _as_code_tokenizer(dna_transform):
    """The tokenizer if ``dna_transform`` is one of ours (it then receives stored codes)."""
    if dna_transform is None:
        return None
    try:
        from .tokenizers import Tokenizer
    except ImportError:  # pragma: no cover
        return None
    return dna_transform if isinstance(dna_transform, Tokenizer) else None
