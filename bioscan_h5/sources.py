"""Official dataset roots: where the metadata and images are, and how a row finds its image.

Each dataset (BIOSCAN-5M, BIOSCAN-1M) is a :class:`SourceLayout`; the builder only talks to
this interface, so both datasets share one builder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import format as fmt
from .errors import StoreNotFoundError
from .metadata import Table, metadata_error, read_table
from .splits import explode_metasplit_5m

__all__ = ["SourceLayout", "Bioscan5MLayout", "get_layout", "LAYOUTS"]

_BAD_PARTS = {"", ".", ".."}


def check_path_component(path: str, value: str, row: int, column: str, id_value: str) -> None:
    """Refuse a metadata value that would address a file outside its folder."""
    if value in _BAD_PARTS or "/" in value or "\\" in value or "\x00" in value or os.path.isabs(value):
        raise metadata_error(
            path,
            row,
            column,
            value,
            "this value would address a file outside the image folder",
            "Ids, file names and chunk names must be plain names without '/', '\\' or '..'.",
            id_value=id_value,
        )


def unsafe_components(values: np.ndarray, allow_empty: bool = False) -> np.ndarray:
    """Rows of a bytes array whose value is not a plain file or folder name."""
    bad = np.isin(values, [b".", b".."] if allow_empty else [b"", b".", b".."])
    for ch in (b"/", b"\\"):
        bad |= np.strings.find(values, ch) >= 0
    # NUL bytes: numpy strips trailing NULs, also from a b"\x00" needle (which then matches
    # every value), so look for a zero byte before the end of each value instead.
    if values.size and values.dtype.itemsize:
        raw = values.view(np.uint8).reshape(len(values), values.dtype.itemsize)
        inside = np.arange(raw.shape[1]) < np.strings.str_len(values)[:, None]
        bad |= ((raw == 0) & inside).any(axis=1)
    return np.flatnonzero(bad)


@dataclass(frozen=True)
class SourceLayout:
    """How one dataset's official root is laid out (subclasses fill in the details)."""

    schema: fmt.DatasetSchema
    metadata_relpath: str
    sep: str
    #: Columns needed to find each row's image and split (read back from a partial store).
    path_columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.schema.name

    def metadata_path(self, root: str) -> str:
        return os.path.join(root, self.name, self.metadata_relpath)

    def image_dir(self, root: str, image_package: str) -> str:
        return os.path.join(root, self.name, "images", image_package)

    def find_metadata(self, root: str) -> str:
        path = self.metadata_path(root)
        if not os.path.isfile(path):
            raise StoreNotFoundError(
                f"No {self.name} metadata file at {path!r}. Point --root at the folder that holds"
                f" {self.name}/ (the layout of bioscan-dataset), or download it with"
                f" `bioscan-h5 download --dataset {self.name} --root ROOT`."
            )
        return path

    def read(self, root: str, max_nucleotides: int | None) -> Table:
        """Read and validate the metadata file of a root."""
        path = self.find_metadata(root)
        table = read_table(path, self.schema, sep=self.sep, max_nucleotides=max_nucleotides)
        self.validate(table, path)
        return table

    def validate(self, table: Table, path: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def image_relpaths(self, table: Table, rows: np.ndarray) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def rows_for_splits(self, table: Table, splits: str) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def explode(self, splits: str) -> list[str]:  # pragma: no cover
        raise NotImplementedError


def _strings(table: Table, name: str) -> np.ndarray:
    return table.columns[name].values


@dataclass(frozen=True)
class Bioscan5MLayout(SourceLayout):
    """``<root>/bioscan5m/metadata/csv/...csv`` and ``images/<package>/<split>/[<chunk>/]<id>.jpg``."""

    def validate(self, table: Table, path: str) -> None:
        split = table.columns["split"]
        unknown = sorted(set(split.categories) - set(fmt.BIOSCAN5M_SPLITS))
        missing = np.flatnonzero(split.codes < 0)
        if unknown or missing.size:
            if unknown:
                code = split.categories.index(unknown[0])
                row = int(np.flatnonzero(split.codes == code)[0])
                value = unknown[0]
            else:
                row, value = int(missing[0]), ""
            ids = _strings(table, "processid")
            raise metadata_error(
                path,
                row,
                "split",
                value,
                "unknown split name",
                f"Valid split names are: {', '.join(fmt.BIOSCAN5M_SPLITS)}.",
                id_value=ids[row].decode(),
            )
        ids = _strings(table, "processid")
        for column in ("processid", "chunk"):
            values = _strings(table, column)
            bad = unsafe_components(values, allow_empty=column == "chunk")
            if bad.size:
                r = int(bad[0])
                check_path_component(path, values[r].decode("utf-8"), r, column, ids[r].decode("utf-8"))

    def image_relpaths(self, table: Table, rows: np.ndarray) -> list[str]:
        ids = _strings(table, "processid")
        chunks = _strings(table, "chunk")
        split = table.columns["split"]
        out = []
        for r in rows:
            s = split.categories[split.codes[r]]
            c = chunks[r].decode("utf-8")
            pid = ids[r].decode("utf-8")
            out.append(f"{s}/{c}/{pid}.jpg" if c else f"{s}/{pid}.jpg")
        return out

    def explode(self, splits: str) -> list[str]:
        return sorted(explode_metasplit_5m(splits, verify=True))

    def rows_for_splits(self, table: Table, splits: str) -> np.ndarray:
        wanted = self.explode(splits)
        split = table.columns["split"]
        codes = [split.categories.index(s) for s in wanted if s in split.categories]
        return np.flatnonzero(np.isin(split.codes, codes))


BIOSCAN5M_LAYOUT = Bioscan5MLayout(
    schema=fmt.BIOSCAN5M,
    metadata_relpath=os.path.join("metadata", "csv", "BIOSCAN_5M_Insect_Dataset_metadata.csv"),
    sep=",",
    path_columns=("processid", "chunk", "split"),
)

LAYOUTS: dict[str, SourceLayout] = {"bioscan5m": BIOSCAN5M_LAYOUT}


def get_layout(dataset: str) -> SourceLayout:
    """The layout of ``"bioscan5m"`` or ``"bioscan1m"``."""
    if dataset == "bioscan1m" and dataset not in LAYOUTS:
        from .layout1m import BIOSCAN1M_LAYOUT

        LAYOUTS[dataset] = BIOSCAN1M_LAYOUT
    try:
        return LAYOUTS[dataset]
    except KeyError:
        raise ValueError(
            f"Unknown dataset {dataset!r}. Valid datasets are: {', '.join(map(repr, LAYOUTS))}."
        ) from None
