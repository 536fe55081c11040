"""Metadata cells as text: control characters found (:func:`first_control`) and integers
converted to int64 exactly, without a float64 round trip, overflow reported (:func:`parse_ints`).
"""

from __future__ import annotations

import decimal
import re

import numpy as np

__all__ = ["CONTROL", "CONTROL_IN_VALUES", "INT64_MAX", "INT64_MIN", "first_control", "parse_ints"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Any control character: C0 (NUL, tab, line breaks, ...) or DEL (refused in column names).
CONTROL = re.compile("[\x00-\x1f\x7f]")
#: A control character refused in values: all of :data:`CONTROL` but tab, LF and CR.
CONTROL_IN_VALUES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: An integer of at most 18 digits (always within int64), optionally with a zero fraction.
_SIMPLE_INT = r"\s*[+-]?\d{1,18}(?:\.0*)?\s*"


def first_control(values) -> int | None:
    """The position of the first value holding a control character, or None (non-``str`` values skipped)."""
    texts = [v for v in values if isinstance(v, str)]
    if not CONTROL_IN_VALUES.search("".join(texts)):
        return None
    for i, v in enumerate(values):
        if isinstance(v, str) and CONTROL_IN_VALUES.search(v):
            return i
    return None  # pragma: no cover - the joined search found one


def parse_ints(series) -> tuple[np.ndarray, np.ndarray, tuple[int, str] | None]:
    """The values of a text column (a pandas Series of str, NA missing) of integers, exactly.

    Returns ``values`` (int64, 0 where missing), ``missing`` (bool) and ``bad``: None, or
    ``(position, reason)`` of the first value that is not a whole number or lies outside int64.
    """
    missing = series.isna().to_numpy()
    values = np.zeros(len(series), dtype=np.int64)
    present = np.flatnonzero(~missing)
    if not present.size:
        return values, missing, None
    text = series.iloc[present]
    simple = text.str.fullmatch(_SIMPLE_INT).to_numpy(dtype=bool)
    if simple.any():
        whole = text[simple].str.strip().str.replace(r"\.0*$", "", regex=True)
        values[present[simple]] = whole.astype(np.int64).to_numpy()
    for k in np.flatnonzero(~simple):
        value, reason = _exact_int(text.iloc[k])
        if reason is not None:
            return values, missing, (int(present[k]), reason)
        values[present[k]] = value
    return values, missing, None


def _exact_int(text: str) -> tuple[int, str | None]:
    """``(value, None)``, or ``(0, reason)`` when ``text`` is not an int64 written as a number."""
    try:
        number = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        return 0, "not a whole number"
    if not number.is_finite():
        return 0, "not a whole number"
    if number and number.adjusted() > 18:  # checked before int(): "1e999999999" would take forever
        return 0, "outside the 64-bit integer range"
    if number != number.to_integral_value():
        return 0, "not a whole number"
    value = int(number)
    if not INT64_MIN <= value <= INT64_MAX:
        return 0, "outside the 64-bit integer range"
    return value, None
