"""Metadata columns: one codec per column kind (category, string, float, int), text to store and back.

A column is one HDF5 group (:data:`bioscan_h5.format.COLUMN_PARTS`); in memory a
:class:`StoredColumn`, whether parsed, memory-mapped or read back; no other module branches
on the kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from . import format as fmt
from .cells import INT64_MAX, INT64_MIN, first_control, parse_ints
from .format import Kind

__all__ = ["ColumnValueError", "StoredColumn", "codec_for", "read_column"]

#: Reads one part (``"codes"``, ``"values"``, ...) of a stored column: a numpy array, with
#: ``"categories"`` as a sequence of ``str``.
PartLoader = Callable[[str], Any]

_T = TypeVar("_T")


class ColumnValueError(ValueError):
    """A text value a column of this kind cannot hold, at ``position`` in a chunk (the metadata
    reader turns it into a :class:`~bioscan_h5.errors.MetadataError` naming the file and row)."""

    def __init__(self, position: int, value: object, what: str, fix: str) -> None:
        super().__init__(what)
        self.position = position
        self.value = value
        self.what = what
        self.fix = fix


@dataclass
class StoredColumn:
    """One metadata column: its kind and the arrays it is stored as."""

    name: str
    kind: Kind
    codes: np.ndarray | None = None  #: int32, category
    categories: list[str] | None = None  #: sorted, category
    values: np.ndarray | None = None  #: S<w> / float64 / int64
    missing: np.ndarray | None = None  #: bool, int
    _lookup: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def codec(self) -> _Codec:
        return _CODECS[self.kind]

    def objects(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        """The values of ``rows`` as an object array; ``nan`` = missing."""
        return self.codec.objects(self, np.asarray(rows))

    def series(self, rows: np.ndarray):
        """The values of ``rows`` as a pandas Series indexed by ``rows``."""
        return self.codec.series(self, np.asarray(rows))

    @property
    def category_codes(self) -> np.ndarray:
        """The int32 codes of a category column (``-1`` = missing)."""
        return _required(self, self.codes, "codes")

    @property
    def category_names(self) -> list[str]:
        """The sorted categories of a category column."""
        return _required(self, self.categories, "categories")

    @property
    def value_array(self) -> np.ndarray:
        """The values of a string, float or int column."""
        return _required(self, self.values, "values")

    @property
    def missing_mask(self) -> np.ndarray:
        """Which rows of an int column are missing (bool)."""
        return _required(self, self.missing, "missing")

    def category_lookup(self) -> np.ndarray:
        """The categories as an object array with ``nan`` appended: index it with codes."""
        if self._lookup is None:
            self._lookup = np.asarray([*(self.categories or ()), np.nan], dtype=object)
            self._lookup.flags.writeable = False
        return self._lookup


def _required(col: StoredColumn, part: _T | None, name: str) -> _T:
    """``part`` of ``col``; a clear error where its kind does not store one."""
    if part is None:
        raise TypeError(f"column {col.name!r} ({col.kind.value} kind) has no {name!r} part")
    return part


class _Codec:
    """How one kind of column is parsed, merged, written, read and presented."""

    kind: Kind

    def parse(self, series) -> Any:  # pragma: no cover - overridden
        """A chunk of text values (a pandas Series; NA = empty field) -> this kind's piece."""
        raise NotImplementedError

    def merge(self, name: str, pieces: list) -> StoredColumn:  # pragma: no cover - overridden
        """The pieces of every chunk, in file order -> the whole column."""
        raise NotImplementedError

    def from_parts(self, name: str, load: PartLoader) -> StoredColumn:
        """The column from its stored parts (:data:`bioscan_h5.format.COLUMN_PARTS`)."""
        parts = {part: load(part) for part in fmt.COLUMN_PARTS[self.kind]}
        if "categories" in parts:
            parts["categories"] = list(parts["categories"])
        return StoredColumn(name, self.kind, **parts)

    def objects(self, col: StoredColumn, rows: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def series(self, col: StoredColumn, rows: np.ndarray):
        import pandas as pd

        return pd.Series(self.objects(col, rows), index=rows, dtype=object)

    def write(self, group, col: StoredColumn) -> None:
        """Write the column's parts into an h5py group (its ``kind`` attribute included)."""
        import h5py

        group.attrs["kind"] = self.kind.value
        for part, code in fmt.COLUMN_PARTS[self.kind].items():
            data = getattr(col, part)
            if code == "O":
                text = np.array(list(data or ()), dtype=object)
                group.create_dataset(part, data=text, dtype=h5py.string_dtype("utf-8"))
            else:  # the stored dtype ("S": the values' own width)
                group.create_dataset(part, data=data if code == "S" else np.asarray(data).astype(code))


class _CategoryCodec(_Codec):
    kind = Kind.CATEGORY

    def parse(self, series):
        import pandas as pd

        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        uniques = [str(u) for u in uniques]
        bad = first_control(uniques)  # each distinct value once
        if bad is not None:
            raise _control_error(int(np.flatnonzero(codes == bad)[0]), uniques[bad])
        return codes.astype(np.int32), uniques

    def merge(self, name, pieces):
        import pandas as pd

        cats = sorted(set().union(*[set(u) for _, u in pieces])) if pieces else []
        index = pd.Index(cats, dtype=object)
        codes = []
        for c, u in pieces:
            remap = np.append(index.get_indexer(pd.Index(u, dtype=object)), -1).astype(np.int32)
            codes.append(remap[c])  # -1 (missing) indexes the appended -1
        merged = np.concatenate(codes) if codes else np.zeros(0, np.int32)
        return StoredColumn(name, self.kind, codes=merged, categories=cats)

    def objects(self, col, rows):
        return col.category_lookup()[np.asarray(col.codes)[rows]]

    def series(self, col, rows):
        import pandas as pd

        cat = pd.Categorical.from_codes(np.asarray(col.codes)[rows], categories=col.categories)
        return pd.Series(cat, index=rows)


class _StringCodec(_Codec):
    kind = Kind.STRING

    def parse(self, series):
        values = series.to_numpy(dtype=object, na_value=None)
        bad = first_control(values)
        if bad is not None:
            raise _control_error(bad, values[bad])
        return values

    def merge(self, name, pieces):
        vals = np.concatenate(pieces) if pieces else np.zeros(0, object)
        enc = [v.encode("utf-8") if isinstance(v, str) else b"" for v in vals]
        width = max([len(e) for e in enc] + [1])
        return StoredColumn(name, self.kind, values=np.array(enc, dtype=f"S{width}"))

    def objects(self, col, rows):
        vals = np.asarray(col.values)[rows]
        return np.array([v.decode("utf-8") if v else np.nan for v in vals], dtype=object)


class _FloatCodec(_Codec):
    kind = Kind.FLOAT

    def parse(self, series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)

    def merge(self, name, pieces):
        return StoredColumn(name, self.kind, values=np.concatenate(pieces) if pieces else np.zeros(0))

    def objects(self, col, rows):
        return np.asarray(col.values)[rows].astype(object)

    def series(self, col, rows):
        import pandas as pd

        return pd.Series(np.asarray(np.asarray(col.values)[rows]), index=rows)


class _IntCodec(_Codec):
    kind = Kind.INT

    def parse(self, series):
        # Text -> int64 exactly (values may be written "150502.0"), no float64 round trip.
        values, missing, bad = parse_ints(series)
        if bad is not None:
            r, reason = bad
            raise ColumnValueError(
                r,
                series.iloc[r],
                reason,
                f"This column holds integers (like 3 or 150502.0) from {INT64_MIN} to {INT64_MAX}, or nothing.",
            )
        return values, missing

    def merge(self, name, pieces):
        vals = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, np.int64)
        miss = np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0, bool)
        return StoredColumn(name, self.kind, values=vals, missing=miss)

    def objects(self, col, rows):
        out = np.asarray(col.values)[rows].astype(object)
        out[np.asarray(col.missing)[rows]] = np.nan
        return out

    def series(self, col, rows):
        import pandas as pd

        vals = np.asarray(np.asarray(col.values)[rows])
        miss = np.asarray(np.asarray(col.missing)[rows])
        return pd.Series(pd.arrays.IntegerArray(vals, miss), index=rows)


def _control_error(position: int, value: str) -> ColumnValueError:
    return ColumnValueError(
        position,
        value,
        "a control character (NUL or another; tab and line breaks are allowed) inside a text value",
        "Labels and identifiers hold printable text only: remove the character from the metadata file.",
    )


_CODECS: dict[Kind, _Codec] = {
    c.kind: c for c in (_CategoryCodec(), _StringCodec(), _FloatCodec(), _IntCodec())
}


def codec_for(kind: Kind) -> _Codec:
    """The codec of a column kind."""
    return _CODECS[Kind(kind)]


def read_column(name: str, kind: Kind, load: PartLoader) -> StoredColumn:
    """A stored column from its parts (``load(part)`` returns each one)."""
    return codec_for(kind).from_parts(name, load)
