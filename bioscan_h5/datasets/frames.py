"""The ``metadata`` DataFrame of a dataset, assembled from the store as the peer's frame looks."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from .. import format as fmt
from ..layouts import get_layout
from .labels import LabelSpace
from .options import DatasetOptions, check_barcode_length

__all__ = ["metadata_frame"]


def metadata_frame(
    st, rows: np.ndarray, options: DatasetOptions, labels: LabelSpace, text_columns: Sequence[str]
):
    """The selected rows as a pandas DataFrame, index = row numbers.

    Every stored column in source-file order (barcodes truncated to ``max_nucleotides``),
    ``<rank>_index`` label indices of this dataset's label space, and ``image_path``.
    ``text_columns`` are presented as text instead of categories (the peer reads them so).
    """
    bc = st.schema.barcode_column
    order = json.loads(st.attrs.get(fmt.ATTR_SOURCE_COLUMNS, "[]")) or [*st.columns, bc]
    cols = [c for c in order if c in st.columns or c == bc]
    check_barcode_length(st, options.max_nucleotides)  # the frame holds barcodes even without "dna"
    df = st.to_pandas(cols, rows)
    if options.max_nucleotides is not None:
        df[bc] = df[bc].str[: options.max_nucleotides]
    for col in text_columns:
        if col in df.columns:
            df[col] = df[col].astype(object)
    for r in st.schema.ranks:
        if r in labels.remap:
            df[r] = df[r].cat.set_categories(labels.vocab(r))
        df[f"{r}_index"] = df[r].cat.codes
    df["image_path"] = get_layout(st.dataset).image_relpaths(st, rows)
    return df
