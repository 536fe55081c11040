"""The contents of the arrays that index something, checked once per process on first use.

A label code, barcode length, status, partition entry or token id out of range would serve a
wrong target, read past an array or drop a row, so each such array is checked (``min``/``max``,
then a pass naming the first bad row) the first time a process uses it; ``verify --full``
checks them all.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import h5py
import numpy as np

from .. import format as fmt
from ..errors import REBUILD, StoreFormatError
from ..format import ImageStatus
from .damage import reads

__all__ = [
    "CheckedArrays",
    "check_codes",
    "check_lengths",
    "check_offsets",
    "check_rows",
    "check_status",
    "check_tokens",
]


def _check_within(
    path: str, what: str, values: np.ndarray, low: int, high: int, expected: str, unit: str = "row"
) -> None:
    """Raise naming the first element of ``values`` outside ``[low, high]``."""
    values = np.asarray(values)
    if values.size == 0:
        return
    if low <= int(values.min()) and int(values.max()) <= high:
        return
    flat = values.reshape(len(values), -1) if values.ndim > 1 else values.reshape(-1, 1)
    row = int(np.flatnonzero(((flat < low) | (flat > high)).any(axis=1))[0])
    value = flat[row][(flat[row] < low) | (flat[row] > high)][0]
    raise StoreFormatError(
        f"{path!r} is damaged: {what} holds {int(value)!r} at {unit} {row}, expected {expected}. {REBUILD}"
    )


def check_codes(path: str, column: str, codes: np.ndarray, n_categories: int) -> None:
    """Category codes within ``[-1, n_categories)`` (-1 = missing)."""
    _check_within(
        path,
        f"column {column!r}",
        codes,
        -1,
        n_categories - 1,
        f"a code in [-1, {n_categories}) (it has {n_categories} categories; -1 = missing)",
    )


def check_lengths(path: str, lengths: np.ndarray, width: int) -> None:
    """Barcode lengths within ``[-1, width]`` (-1 = missing)."""
    _check_within(
        path, "'/dna/lengths'", lengths, -1, width, f"a length in [-1, {width}] (the barcodes' width)"
    )


def check_offsets(path: str, what: str, offsets: np.ndarray, total: int) -> None:
    """Offsets into a block of ``total`` items: from 0, never decreasing, ending at ``total``."""
    offsets = np.asarray(offsets)
    if offsets.size == 0:
        return
    _check_within(path, what, offsets, 0, total, f"an offset in [0, {total}] (the block's size)", "position")
    steps = np.flatnonzero(np.diff(offsets) < 0)
    if steps.size or int(offsets[0]) != 0 or int(offsets[-1]) != total:
        at = int(steps[0]) + 1 if steps.size else (0 if int(offsets[0]) != 0 else len(offsets) - 1)
        raise StoreFormatError(
            f"{path!r} is damaged: {what} holds {int(offsets[at])!r} at position {at}, expected offsets"
            f" that start at 0, never decrease and end at {total} (the block's size). {REBUILD}"
        )


def check_status(path: str, status: np.ndarray) -> None:
    """Image statuses among :class:`~bioscan_h5.format.ImageStatus`."""
    top = max(ImageStatus)
    _check_within(path, "'/image_status'", status, 0, int(top), f"an ImageStatus code in [0, {int(top)}]")


def check_rows(path: str, what: str, rows: np.ndarray, n_rows: int) -> None:
    """Row numbers within ``[0, n_rows)``."""
    _check_within(path, what, rows, 0, n_rows - 1, f"a row number in [0, {n_rows})", unit="position")


def check_tokens(path: str, name: str, ids: np.ndarray, mask: np.ndarray, vocab_size: int | None) -> None:
    """Token ids within the tokenizer's vocabulary, attention mask of 0 and 1."""
    if vocab_size is not None:
        _check_within(path, f"tokens {name!r}", ids, 0, vocab_size - 1, f"a token id in [0, {vocab_size})")
    _check_within(path, f"the mask of tokens {name!r}", mask, 0, 1, "0 or 1")


class CheckedArrays:
    """The arrays of :class:`~bioscan_h5.store.Store` that index something, checked on first use.

    A mixin: it uses the store's ``array``, ``file``, ``path`` and ``n_rows``. Category codes
    are checked by ``Store.column``, image statuses by ``ImageArrays.image_status``, barcode
    lengths and the whole-barcode block by ``BarcodeArrays``.
    """

    # supplied by the Store (annotations only)
    array: Callable[[str], np.ndarray]
    file: h5py.File
    path: str
    n_rows: int

    @reads(lambda self, name: f"tokens {name!r}")
    def tokens(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Precomputed ``(ids, mask)`` arrays of a tokenizer (ids checked against its vocabulary)."""
        ids, mask = self.array(fmt.token_path(name, "ids")), self.array(fmt.token_path(name, "mask"))
        checked = self.__dict__.setdefault("_tokens_checked", set())
        if name not in checked:
            vocab = self.file[fmt.token_path(name, "ids")].attrs.get("vocab")
            check_tokens(self.path, name, ids, mask, len(json.loads(vocab)) if vocab is not None else None)
            checked.add(name)
        return ids, mask

    @reads(lambda self, name: f"partition {name!r}")
    def partition(self, name: str) -> np.ndarray | None:
        """The rows of a BIOSCAN-1M CLIBD partition file, in its order (None if absent)."""
        path = fmt.partition_path(name)
        if path not in self.file:
            return None
        rows = np.asarray(self.file[path][()], dtype=np.int64)
        check_rows(self.path, f"partition {name!r}", rows, self.n_rows)
        return rows
