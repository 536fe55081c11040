"""The ``metadata`` DataFrames of the datasets, assembled from a store as the peer's look.

:func:`peer_frame` gives the frame ``bioscan-dataset`` reads with pandas (each dataset module
names its :class:`FrameRules`): same columns, order, dtypes, values and ``<label>_index`` columns.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import format as fmt
from ..layouts import get_layout
from .labels import LabelSpace
from .options import check_barcode_length

__all__ = ["FrameRules", "file_columns", "peer_frame", "text_series"]


@dataclass(frozen=True)
class FrameRules:
    """How the peer reads one dataset's metadata file into a frame.

    ``dtypes`` of the columns (others inferred); ``usecols`` the dataset class reads (its loader
    function reads all); ``labels`` that get a ``<column>_index`` column, in order; ``image_path``
    (BIOSCAN-5M): a metadata frame -> each row's image file, for an ``image_path`` column last.
    """

    dtypes: Mapping[str, Any]
    usecols: tuple[str, ...]
    labels: tuple[str, ...]
    image_path: Callable[[Any], Any] | None = None


@functools.cache
def _text_dtype():
    """The dtype this pandas gives text read with ``dtype=str`` (``str`` in pandas 3, else object)."""
    import pandas as pd

    return pd.Series(["a"], dtype=str).dtype


def text_series(values: Sequence | np.ndarray, index) -> Any:
    """Text values (``nan`` = missing) as the peer's text column."""
    import pandas as pd

    return pd.Series(np.asarray(values, dtype=object), index=index, dtype=_text_dtype())


def file_columns(st) -> list[str]:
    """The metadata file's columns a store holds, in the file's order (the barcode included)."""
    bc = st.schema.barcode_column
    order = json.loads(st.attrs.get(fmt.ATTR_SOURCE_COLUMNS, "[]")) or [*st.columns, bc]
    return [c for c in order if c in st.columns or c == bc]


def peer_frame(
    st,
    rows: np.ndarray,
    rules: FrameRules,
    max_nucleotides: int | None,
    labels: LabelSpace,
    columns: Sequence[str] | None = None,
    index: np.ndarray | None = None,
):
    """The store ``rows`` (in order) as the peer's metadata frame, indexed by ``index`` (default ``rows``).

    ``columns``: the file's columns to hold (default ``rules.usecols``). Barcodes are cut to
    ``max_nucleotides`` (:class:`InvalidArgumentError` if the store holds fewer).
    """
    import pandas as pd

    rows = np.asarray(rows, dtype=np.int64)
    if columns is None:
        columns = [c for c in file_columns(st) if c in rules.usecols]
    data = {
        name: _column(st, name, rows, rules.dtypes.get(name), max_nucleotides, labels) for name in columns
    }
    df = pd.DataFrame(data, index=rows)
    for name in rules.labels:
        df[f"{name}_index"] = df[name].cat.codes
    if rules.image_path is not None:
        df["image_path"] = text_series(get_layout(st.dataset).image_relpaths(st, rows), rows)
    if index is not None:
        df.index = pd.Index(np.asarray(index, dtype=np.int64))
    return df


def _column(st, name: str, rows: np.ndarray, dtype, max_nucleotides: int | None, labels: LabelSpace):
    """One column of the frame, with the dtype the peer reads it with."""
    import pandas as pd

    if name == st.schema.barcode_column:
        check_barcode_length(st, max_nucleotides)
        return text_series(st.barcodes(rows, max_nucleotides, whole=True), rows)
    kind = st.column_kind(name)
    if dtype == "category":
        if kind is not fmt.Kind.CATEGORY:
            return pd.Series(st.column_values(name, rows), index=rows).astype("category")
        if name in st.schema.ranks:
            codes, cats = labels.codes(name, rows), labels.vocab(name)
        else:
            codes, cats = np.asarray(st.codes(name))[rows], st.categories(name)
        return pd.Series(pd.Categorical.from_codes(codes, categories=cats), index=rows)
    if kind is fmt.Kind.FLOAT:
        return pd.Series(np.asarray(np.asarray(st.column(name).values)[rows]), index=rows)
    if kind is fmt.Kind.INT:
        return _integers(st.column(name), rows, dtype)
    return text_series(st.column_values(name, rows), rows)


def _integers(col, rows: np.ndarray, dtype):
    """An integer column: the peer's ``uint8`` / ``Int64``, or what pandas infers (int64, or float64 with gaps)."""
    import pandas as pd

    values = np.asarray(np.asarray(col.values)[rows])
    missing = np.asarray(np.asarray(col.missing)[rows])
    if dtype == "Int64" or (dtype is not None and missing.any()):
        out = pd.Series(pd.arrays.IntegerArray(values, missing), index=rows)
        return (
            out if dtype == "Int64" else out.astype(str(np.dtype(dtype)).capitalize().replace("Uint", "UInt"))
        )
    if dtype is not None:
        return pd.Series(values.astype(np.dtype(dtype)), index=rows)
    if missing.any():
        return pd.Series(np.where(missing, np.nan, values.astype(np.float64)), index=rows)
    return pd.Series(values, index=rows)
