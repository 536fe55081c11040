"""Dataset indices checked for every way in: ``ds[i]``, ``__getitems__``, ``gather_batch``, batches.

Integers of any type are positions (negative ones count from the end). Floats, bools and
unsigned values beyond int64 (which would wrap) are refused with a named error.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import IndexRangeError, IndexTypeError

__all__ = ["as_indices", "check_index"]

_FIX = "Pass integer positions (int or a numpy integer array), as for ds[i]."


def check_index(index, n: int | None = None) -> int:
    """``index`` as an int (a position among ``n`` if given).

    :class:`IndexTypeError` if not an integer, :class:`IndexRangeError` outside ``-n <= index < n``.
    """
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (numbers.Integral, np.integer)):
        raise IndexTypeError(f"index must be an integer, not {type(index).__name__} ({index!r}). {_FIX}")
    i = int(index)
    if n is not None and not -n <= i < n:
        raise IndexRangeError(f"index {i!r} is out of range for a dataset of {n} samples.")
    return i


def as_indices(indices, n: int) -> np.ndarray:
    """``indices`` as int64 positions of a dataset of ``n`` samples.

    :class:`IndexTypeError` for a non-integer value, :class:`IndexRangeError` for an unsigned one
    beyond ``n`` (int64 would wrap it to a negative position).
    """
    arr = np.asarray(indices)
    if arr.dtype.kind == "O":  # a list mixing Python ints and numpy integers, say
        for value in arr.reshape(-1).tolist():
            check_index(value)
        arr = np.asarray(arr.reshape(-1).tolist(), dtype=np.int64).reshape(arr.shape) if arr.size else arr
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        first = arr.reshape(-1)[0]
        raise IndexTypeError(
            f"indices must be integers, not {arr.dtype} values (the first is {first!r}): floats would be"
            f" truncated and bools read as a mask. {_FIX}"
        )
    if arr.dtype.kind == "u" and int(arr.max()) >= n:
        raise IndexRangeError(
            f"index {int(arr.max())!r} is out of range for a dataset of {n} samples (an unsigned value"
            f" beyond int64 would wrap to a negative position). {_FIX}"
        )
    return arr.astype(np.int64, copy=False)
