"""A metadata file's lines bounded before the CSV parser reads it: one missing line break
would otherwise have pandas hold a whole multi-gigabyte file as one line.
"""

from __future__ import annotations

import numpy as np

from . import format as fmt
from .errors import MetadataError

__all__ = ["check_line_lengths"]

_BLOCK = 1 << 22


def check_line_lengths(path: str, limit: int = fmt.MAX_LINE_BYTES) -> None:
    """Raise :class:`MetadataError` if a line of ``path`` is longer than ``limit`` bytes."""
    start, line, pos = 0, 1, 0  # where the current line starts, its number, bytes read so far
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10) + pos
            bounds = np.concatenate([[start], ends + 1])
            longest = np.flatnonzero(np.diff(bounds) - 1 > limit)
            if len(longest):
                _refuse(path, line + int(longest[0]), int(np.diff(bounds)[longest[0]] - 1), limit)
            line += len(ends)
            if len(ends):
                start = int(ends[-1]) + 1
            pos += len(block)
            if pos - start > limit:
                _refuse(path, line, pos - start, limit, at_least=True)


def _refuse(path: str, line: int, length: int, limit: int, at_least: bool = False) -> None:
    what = "the header" if line == 1 else f"line {line}"
    raise MetadataError(
        f"{path}: {what} (line {line}) is {'over ' if at_least else ''}{length / 1e6:.1f} MB long, more than"
        f" the {limit / 1e6:.1f} MB a metadata line may be (the official lines are under 3 KB): a line break"
        " is missing, or this is not a metadata file. Download the metadata file again.",
        path=path,
        row=None if line == 1 else line - 2,
    )
