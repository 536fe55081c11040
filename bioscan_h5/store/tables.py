"""Reading a store's metadata columns whole, and the lazy per-rank mappings of :class:`Store`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import h5py
import numpy as np

from .. import format as fmt
from ..columns import read_column
from ..errors import damage_reported
from ..format import Kind
from ..metadata import Table
from .validate import attr_value

__all__ = ["LazyMapping", "load_table_columns", "to_frame"]


class LazyMapping(Mapping):
    """Read-only mapping ``name -> value`` over a fixed list of names, each made on first use."""

    def __init__(self, names: Sequence[str], getter: Callable) -> None:
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


def _part_reader(group: h5py.Group):
    def load(part: str):
        if fmt.COLUMN_PARTS[Kind(attr_value(group.attrs["kind"]))][part] == "O":
            return [c.decode("utf-8") if isinstance(c, bytes) else c for c in group[part][()]]
        return group[part][()]

    return load


def load_table_columns(f: h5py.File, names: Sequence[str]) -> Table:
    """The named columns of an open store file, read whole, as a :class:`~bioscan_h5.metadata.Table`.

    Enough to find image paths and splits (the builder reads a partial store back this way).
    """
    table = Table(n_rows=int(f.attrs[fmt.ATTR_N_ROWS]))
    for name in names:
        g = f[f"{fmt.COLUMNS}/{name}"]
        table.columns[name] = read_column(name, Kind(attr_value(g.attrs["kind"])), _part_reader(g))
    if fmt.PARTITIONS in f:
        table.partitions = {k: v[()] for k, v in f[fmt.PARTITIONS].items()}
    return table


def to_frame(st, columns: Sequence[str] | None = None, rows=None):
    """Columns of a store as a pandas DataFrame, index = row numbers (see ``Store.to_pandas``)."""
    import pandas as pd

    rows = np.arange(st.n_rows) if rows is None else np.asarray(rows)
    barcode = st.schema.barcode_column
    names = list(columns) if columns is not None else [*st.columns, barcode]
    data = {}
    for name in names:
        if name == barcode:
            data[name] = pd.Series(st.barcodes(rows), index=rows, dtype=object)
            continue
        if name not in st.columns:
            valid = ", ".join(repr(c) for c in [*st.columns, barcode])
            raise KeyError(f"No column {name!r} in the store. Valid columns are: {valid}.")
        with damage_reported(st.path, f"column {name!r}"):
            data[name] = st.column(name).series(rows)
    return pd.DataFrame(data, index=rows)
