"""What every dataset layout provides: its official root, how a row finds its image, and which
rows a split stands for, on any :class:`ColumnSource` (a metadata ``Table``, a ``Store``, or
a pandas frame via :class:`FrameSource`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .. import format as fmt
from ..columns import StoredColumn
from ..errors import StoreNotFoundError
from ..metadata import Table, metadata_error, read_table

__all__ = ["ColumnSource", "FrameSource", "SourceLayout", "refuse_unknown_splits", "rows_in"]


class ColumnSource(Protocol):
    """Rows with named columns: what a layout needs to find splits and image paths."""

    n_rows: int

    def column(self, name: str) -> StoredColumn:
        """One column by name."""
        ...  # pragma: no cover

    def partition(self, name: str) -> np.ndarray | None:
        """The rows listed in a named partition file, in its order (None if absent)."""
        ...  # pragma: no cover

    @property
    def partition_names(self) -> list[str]:
        """Names of the partition files the source holds."""
        ...  # pragma: no cover


class FrameSource:
    """A pandas DataFrame seen as a :class:`ColumnSource` (category columns only)."""

    def __init__(self, frame) -> None:
        self.frame = frame
        self.n_rows = len(frame)

    def column(self, name: str) -> StoredColumn:
        import pandas as pd

        codes, uniques = pd.factorize(self.frame[name], sort=True, use_na_sentinel=True)
        return StoredColumn(name, fmt.Kind.CATEGORY, codes=codes.astype(np.int32), categories=list(uniques))

    def partition(self, name: str) -> np.ndarray | None:
        return None

    @property
    def partition_names(self) -> list[str]:
        return []


def rows_in(source: ColumnSource, column: str, values: Iterable[str]) -> np.ndarray:
    """Rows whose category in ``column`` is one of ``values``, in file order (int64)."""
    col = source.column(column)
    cats = list(col.categories or ())
    wanted = [cats.index(v) for v in values if v in cats]
    return np.flatnonzero(np.isin(np.asarray(col.codes), wanted)).astype(np.int64)


def refuse_unknown_splits(
    table: Table, path: str, column: str, valid: Iterable[str], id_column: str, kind: str = "split"
) -> None:
    """Refuse a row whose split (in ``column``) is not one of ``valid``, or is missing (not a
    ``kind="partition"``): a :class:`MetadataError` naming the file, the first such row, the column
    and the value."""
    valid = tuple(valid)
    split = table.column(column)
    unknown = sorted(set(split.categories or ()) - set(valid))
    missing = np.flatnonzero(split.category_codes < 0)
    if unknown:
        row = int(np.flatnonzero(split.category_codes == split.category_names.index(unknown[0]))[0])
        value = unknown[0]
    elif missing.size and kind == "split":
        row, value = int(missing[0]), ""
    else:
        return
    id_value = table.column(id_column).value_array[row].decode()
    fix = f"Valid {kind} names are: {', '.join(valid)}."
    raise metadata_error(
        path, f"unknown {kind} name", fix, row=row, column=column, value=value, id_value=id_value
    )


@dataclass(frozen=True)
class SourceLayout:
    """How one dataset's official root is laid out, and what its split names stand for."""

    schema: fmt.DatasetSchema
    metadata_relpath: str
    sep: str
    #: Columns needed to find each row's image and split (read back from a partial store).
    path_columns: tuple[str, ...]
    #: The dataset's folder under the root (default: the dataset name).
    folder: str = ""
    #: Applied to each chunk of the metadata file before it is parsed (:func:`~bioscan_h5.metadata.read_table`).
    prepare: Callable[[Any], Any] | None = None
    #: The split names a row may carry in its ``split`` column.
    splits: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.schema.name

    def dataset_dir(self, root: str) -> str:
        """The dataset's folder in ``root`` (``<root>/bioscan5m``, ...)."""
        return os.path.join(root, self.folder or self.name)

    def metadata_path(self, root: str) -> str:
        """Where the metadata file of ``root`` is."""
        return os.path.join(self.dataset_dir(root), self.metadata_relpath)

    def image_dir(self, root: str, image_package: str) -> str:
        """The folder of one image package."""
        return os.path.join(self.dataset_dir(root), "images", image_package)

    def store_dir(self, root: str) -> str:
        """The folder of the root's stores (``<dataset folder>/h5``)."""
        return os.path.join(self.dataset_dir(root), fmt.STORE_DIRNAME)

    def store_path(self, root: str, *name: Any, **kinds: Any) -> str:
        """Where ``bioscan-h5 build`` writes a store of this root by default (``name`` and ``kinds``:
        the arguments of :func:`~bioscan_h5.format.store_filename` after ``dataset``; a DNA-only
        dataset has one store per root, :func:`~bioscan_h5.format.dna_store_filename`)."""
        if not self.schema.has_images:
            return os.path.join(self.store_dir(root), fmt.dna_store_filename(self.name))
        return os.path.join(self.store_dir(root), fmt.store_filename(self.name, *name, **kinds))

    def metadata_store_dirs(self, metadata_path: str | os.PathLike) -> list[str]:
        """Where the stores built from the metadata file ``metadata_path`` are (its ``<dataset folder>/h5``)."""
        dataset_dir = os.path.abspath(metadata_path)
        for _ in self.metadata_relpath.split(os.sep):
            dataset_dir = os.path.dirname(dataset_dir)
        return [os.path.join(dataset_dir, fmt.STORE_DIRNAME)]

    def find_metadata(self, root: str) -> str:
        """The metadata file of ``root``; :class:`StoreNotFoundError` saying how to get it."""
        path = self.metadata_path(root)
        if not os.path.isfile(path):
            raise StoreNotFoundError(
                f"No {self.name} metadata file at {path!r}. Point --root at the folder that holds"
                f" {self.folder or self.name}/ (the layout of bioscan-dataset), or download it with"
                f" `bioscan-h5 download --dataset {self.name} --root ROOT`."
            )
        return path

    def read(self, root: str, max_nucleotides: int | None, full_barcodes: bool = False) -> Table:
        """Read and validate the metadata file of a root (see :func:`~bioscan_h5.metadata.read_table`)."""
        path = self.find_metadata(root)
        table = read_table(
            path,
            self.schema,
            sep=self.sep,
            max_nucleotides=max_nucleotides,
            prepare=self.prepare,
            full_barcodes=full_barcodes,
        )
        self.validate(table, path)
        return table

    def rows_for_splits(self, source: ColumnSource, splits: str) -> np.ndarray:
        """Rows of a build's ``--splits`` (any union of split names), in file order."""
        tokens = self.explode(splits)
        if tokens == ["all"]:
            return np.arange(source.n_rows, dtype=np.int64)
        mask = np.zeros(source.n_rows, dtype=bool)
        for token in tokens:
            mask[self.token_rows(source, token)] = True
        return np.flatnonzero(mask)

    # ------------------------------------------------------------ per dataset
    # By default a ``split`` column names each row's split (BIOSCAN-5M, Canadian Invertebrates).
    def metasplit(self, name: str | None) -> set[str]:  # pragma: no cover - overridden
        """The splits a (meta)split name stands for; ``ValueError`` listing the valid names."""
        raise NotImplementedError

    def image_relpaths(self, source: ColumnSource, rows: np.ndarray) -> list[str]:  # pragma: no cover
        """Each row's image path, relative to the image package folder."""
        raise NotImplementedError

    def validate(self, table: Table, path: str) -> None:
        """Refuse metadata this layout cannot serve (unknown split names, unsafe paths)."""
        refuse_unknown_splits(table, path, "split", self.splits, self.schema.id_column)

    def explode(self, splits: str) -> list[str]:
        """The canonical split tokens a build's ``--splits`` stands for (``["all"]`` for all)."""
        return sorted(self.metasplit(splits))

    def token_rows(self, source: ColumnSource, token: str) -> np.ndarray:
        """The rows of one canonical token of :meth:`explode`."""
        return rows_in(source, "split", [token])

    def split_rows(
        self, source: ColumnSource, split: str | None, partitioning_version: str | None = None
    ) -> np.ndarray:
        """The rows of a dataset's ``split``, in the order the dataset serves them."""
        return rows_in(source, "split", self.metasplit(split))
