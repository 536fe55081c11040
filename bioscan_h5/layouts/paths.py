"""Metadata values that become parts of image paths: refuse any that would leave their folder."""

from __future__ import annotations

import os

import numpy as np

from ..metadata import metadata_error

__all__ = ["check_path_component", "unsafe_components"]

_BAD_PARTS = {"", ".", ".."}


def check_path_component(path: str, value: str, row: int, column: str, id_value: str) -> None:
    """Refuse a metadata value that would address a file outside its folder: a :class:`MetadataError`
    naming the metadata file ``path``, the row, the column and the value."""
    if value in _BAD_PARTS or "/" in value or "\\" in value or "\x00" in value or os.path.isabs(value):
        raise metadata_error(
            path,
            "this value would address a file outside the image folder",
            "Ids, file names and chunk names must be plain names without '/', '\\' or '..'.",
            row=row,
            column=column,
            value=value,
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


def refuse_unsafe(path: str, source, column: str, id_column: str, allow_empty: bool = False) -> None:
    """Raise the :func:`check_path_component` error for the first unsafe value of a string column."""
    values = source.column(column).values
    bad = unsafe_components(values, allow_empty=allow_empty)
    if bad.size:
        r = int(bad[0])
        ids = source.column(id_column).values
        check_path_component(path, values[r].decode("utf-8"), r, column, ids[r].decode("utf-8"))
