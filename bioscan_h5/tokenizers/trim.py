"""Sequence options applied to stored codes before tokenizing: trailing ``N``s stripped, and a
random start offset below ``k`` per sequence (BarcodeBERT's pretraining pipeline)."""

from __future__ import annotations

import numpy as np

__all__ = ["SEQUENCE_OPTIONS", "prepare", "trim_codes"]

_N = ord("N")

#: The sequence options of a tokenizer (``Tokenizer.with_options``), in its config when on.
SEQUENCE_OPTIONS = ("strip_trailing_n", "random_offset")


def trim_codes(
    codes: np.ndarray, lengths: np.ndarray, strip_trailing_n: bool, offsets: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """New ``(codes, lengths)`` of ``seq.rstrip("N")[offset:]`` per row, vectorised; a length of
    ``-1`` (missing) stays ``-1``."""
    lengths = lengths.copy()
    width = codes.shape[1]
    pos = np.arange(width)
    if strip_trailing_n and width:
        real = (codes != _N) & (pos < lengths[:, None])
        last = width - np.argmax(real[:, ::-1], axis=1)  # one past the last real letter
        last[~real.any(axis=1)] = 0
        lengths = np.where(lengths >= 0, np.minimum(lengths, last), -1)
    if offsets is not None and width:
        take = np.minimum(pos[None, :] + offsets[:, None], width - 1)
        codes = np.take_along_axis(codes, take, axis=1)
        lengths = np.where(lengths >= 0, np.maximum(lengths - offsets, 0), -1)
    return np.ascontiguousarray(codes), lengths


def prepare(tokenizer, codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, lengths)`` with the tokenizer's sequence options applied (the inputs when none).

    Random offsets come from torch's global generator (seeded per DataLoader worker).
    """
    if not (tokenizer.strip_trailing_n or tokenizer.random_offset):
        return codes, lengths
    offsets = None
    if tokenizer.random_offset:
        import torch

        offsets = torch.randint(tokenizer.k, (len(lengths),)).numpy().astype(np.int64)
    return trim_codes(codes, lengths, tokenizer.strip_trailing_n, offsets)
