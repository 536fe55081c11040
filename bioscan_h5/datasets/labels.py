"""Label spaces: label indices per rank, and the conversion between indices and label names.

Indices are the store's global category codes (one index per label in every split, as in
``bioscan-dataset``); :meth:`LabelSpace.reduced` renumbers them over some rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import format as fmt
from ..errors import InvalidArgumentError

__all__ = ["LabelSpace"]


class LabelSpace:
    """Label indices and names of a store's category columns.

    ``remap``: per rank, global index -> this space's index (-1 = dropped).
    """

    def __init__(self, store, remap: Mapping[str, np.ndarray] | None = None) -> None:
        self.store = store
        self.remap = dict(remap or {})
        self._vocab: dict[str, list[str]] = {}
        self._lookup: dict[str, dict[str, int]] = {}

    def __getstate__(self) -> dict:
        return {"store": self.store, "remap": self.remap}

    def __setstate__(self, state: dict) -> None:
        LabelSpace.__init__(self, state["store"], state["remap"])

    def reduced(self, keep: np.ndarray) -> LabelSpace:
        """The label space of the rows ``keep`` alone: only labels they hold, renumbered in order."""
        remap = {}
        for rank in self.store.schema.ranks:
            kept = np.asarray(self.store.codes(rank))[keep]
            n = len(self.store.categories(rank))
            present = np.bincount(kept[kept >= 0], minlength=n) > 0
            remap[rank] = np.where(present, np.cumsum(present) - 1, -1).astype(np.int64)
        return LabelSpace(self.store, remap)

    def codes(self, rank: str, rows: np.ndarray) -> np.ndarray:
        """Label indices of ``rank`` for store rows (int64, -1 = missing)."""
        codes = np.asarray(self.store.codes(rank)[rows]).astype(np.int64)
        table = self.remap.get(rank)
        if table is not None:
            codes = np.where(codes >= 0, table[np.maximum(codes, 0)], -1)
        return codes

    def code(self, rank: str, row: int) -> int:
        """The label index of one row."""
        if self.remap:
            return int(self.codes(rank, np.array([row]))[0])
        return int(self.store.codes(rank)[row])

    def vocab(self, column: str) -> list[str]:
        """The label names of a category column, in index order."""
        if column not in self._vocab:
            st = self.store
            if column not in st.columns or st.column_kind(column) is not fmt.Kind.CATEGORY:
                valid = [c for c in st.columns if st.column_kind(c) is fmt.Kind.CATEGORY]
                raise KeyError(
                    f"No label column {column!r} in the store. Valid columns are: {', '.join(map(repr, valid))}."
                )
            names = st.categories(column)
            table = self.remap.get(column)
            if table is not None:
                names = [v for v, m in zip(names, table) if m >= 0]
            self._vocab[column] = names
        return self._vocab[column]

    def name(self, column: str, code: int):
        """The label name of an index (``nan`` for -1, as the peer's text targets)."""
        return self.vocab(column)[code] if code >= 0 else float("nan")

    def index2label(self, index, column: str):
        """Label name(s) of index (indices); negative indices map to ``""``."""
        vocab = self.vocab(column)
        if not hasattr(index, "__len__"):
            return "" if index < 0 else vocab[index]
        if isinstance(index, str):
            raise TypeError(
                f"index must be an int or array-like of ints, not a string: {index!r}. Did you mean to call label2index?"
            )
        index = np.asarray(index)
        out = np.asarray(np.asarray(vocab, dtype=object)[index])
        out[index < 0] = ""
        return out

    def label2index(self, label, column: str):
        """Index (indices) of label name(s); ``""`` and NaN map to -1."""
        import pandas as pd

        if column not in self._lookup:
            self._lookup[column] = {v: i for i, v in enumerate(self.vocab(column))}
        table = self._lookup[column]

        def one(lab) -> int:
            if (isinstance(lab, str) and lab == "") or (not isinstance(lab, str) and pd.isna(lab)):
                return -1
            try:
                return table[lab]
            except KeyError:
                raise KeyError(f"Label {lab!r} not found in metadata column {column!r}") from None

        if isinstance(label, str) or not hasattr(label, "__iter__"):
            if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
                raise TypeError(
                    f"label must be a string or list of strings, not an int: {label!r}. Did you mean to call index2label?"
                )
            return one(label)
        return np.asarray([one(lab) for lab in label], dtype=np.int64)


def resolve_column(column: str | None, target_type: tuple[str, ...], aliases: Mapping[str, str]) -> str:
    """The column ``index2label``/``label2index`` act on: ``column``, or the single target type."""
    if column is not None:
        return aliases.get(column, column)
    if len(target_type) == 1:
        return target_type[0]
    raise InvalidArgumentError("column must be specified if there isn't a single target_type")
