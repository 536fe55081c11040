"""The contents of the arrays that index something, checked once per process on first use.

A code, length, status, partition entry or token id out of range would serve a wrong target or
read past an array: each error names the first bad row; ``verify --full`` checks them all.
"""

from __future__ import annotations

import numpy as np

from ..errors import REBUILD, StoreFormatError
from ..format import ImageStatus

__all__ = ["check_codes", "check_lengths", "check_offsets", "check_rows", "check_status", "check_tokens"]


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
