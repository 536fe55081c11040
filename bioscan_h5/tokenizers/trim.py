"""Sequence options applied to stored codes before tokenizing: trailing ``N``s stripped, and a
random start offset below ``k`` per sequence (BarcodeBERT's pretraining pipeline)."""

from __future__ import annotations

import numpy as np

__all__ = ["SEQUENCE_OPTIONS", "options_on", "prepare", "random_offsets", "trim_codes", "with_options"]

_N = ord("N")


def random_offsets(n: int, k: int) -> np.ndarray:
    """``n`` offsets in ``0 .. k - 1`` from torch's global generator (seeded per DataLoader worker)."""
    import torch

    return torch.randint(k, (n,)).numpy().astype(np.int64)


def trim_codes(
    codes: np.ndarray, lengths: np.ndarray, strip_trailing_n: bool, offsets: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The codes and lengths of ``seq.rstrip("N")[offset:]`` per row, vectorised.

    Parameters
    ----------
    codes : numpy.ndarray of uint8, shape (N, L)
    lengths : numpy.ndarray of int64, shape (N,)
        ``-1`` (missing) stays ``-1``.
    strip_trailing_n : bool
    offsets : numpy.ndarray of int, shape (N,), or None

    Returns
    -------
    codes, lengths : numpy.ndarray
        New arrays (the inputs are not changed).
    """
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


#: The sequence options of a tokenizer (:func:`with_options`), in its config when on.
SEQUENCE_OPTIONS = ("strip_trailing_n", "random_offset")


def with_options(tokenizer, *, strip_trailing_n: bool = False, random_offset: bool = False):
    """``Tokenizer.with_options``: a copy that prepares each sequence as BarcodeBERT's pretraining does.

    Parameters
    ----------
    strip_trailing_n : bool
        Tokenize ``seq.rstrip("N")`` (the trailing ``N`` run is dropped, then padding added).
    random_offset : bool
        Start each sequence at a random offset in ``0 .. k - 1`` (drawn per sequence from
        torch's global generator, per call): ``seq[offset:]``, after the strip. Tokens then
        differ from call to call, and precomputed store tokens are never used for it. Read
        whole barcodes (``max_nucleotides=None``) for BarcodeBERT's exact tokens: its window
        after the offset reaches ``offset`` letters past a 660-letter cut.

    Returns
    -------
    Tokenizer
    """
    import copy

    out = copy.copy(tokenizer)
    out.strip_trailing_n, out.random_offset = bool(strip_trailing_n), bool(random_offset)
    return out


def options_on(tokenizer) -> list[str]:
    """The sequence options a tokenizer has on (for its config and repr)."""
    return [name for name in SEQUENCE_OPTIONS if getattr(tokenizer, name, False)]


def prepare(tokenizer, codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, lengths)`` with the tokenizer's sequence options applied (the inputs when none)."""
    if not (tokenizer.strip_trailing_n or tokenizer.random_offset):
        return codes, lengths
    offsets = random_offsets(len(lengths), tokenizer.k) if tokenizer.random_offset else None
    return trim_codes(codes, lengths, tokenizer.strip_trailing_n, offsets)
