"""Checks of a tokenizer's settings, done once when it is made."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["MAX_KMERS", "PADDING_SIDES", "TokenizerSettings", "check_settings"]

#: Valid ``padding_side`` values.
PADDING_SIDES = ("right", "left")

#: The most k-mers an alphabet and ``k`` may give (the vocabulary is built in memory).
MAX_KMERS = 1 << 24


class TokenizerSettings(NamedTuple):
    """The settings of a tokenizer (see :class:`~bioscan_h5.tokenizers.Tokenizer`)."""

    alphabet: str
    k: int
    stride: int | None
    max_len: int
    specials: Sequence[str]
    pad: str
    unknown: str
    prefix: str | None
    padding_side: str


def check_settings(given: TokenizerSettings) -> tuple[TokenizerSettings, list[str]]:
    """``given`` normalised (``k``, ``stride`` and ``max_len`` ints, ``stride`` None made ``k``,
    ``specials`` a list of str) and every k-mer of the alphabet in :func:`itertools.product` order;
    a ValueError names the first setting that is out of range or inconsistent with the others."""
    alphabet, k, stride, max_len, specials, pad, unknown, prefix, padding_side = given
    k = int(k)
    stride = k if stride is None else int(stride)
    max_len = int(max_len)
    specials = [str(s) for s in specials]
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(f"alphabet must be a non-empty str of letters, got {alphabet!r}")
    if alphabet != alphabet.upper() or len(set(alphabet)) != len(alphabet) or not alphabet.isascii():
        raise ValueError(
            f"alphabet must hold distinct upper-case ASCII letters (lower case is unknown, or upper case "
            f"with uppercase=True), got {alphabet!r}"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1 (or None for k), got {stride!r}")
    if max_len < k:
        raise ValueError(f"max_len must be >= k ({k}) so that one window fits, got {max_len!r}")
    if len(alphabet) ** k > MAX_KMERS:
        raise ValueError(
            f"{len(alphabet)} letters and k={k} give {len(alphabet) ** k} k-mers, more than "
            f"{MAX_KMERS}; use a smaller k"
        )
    if len(set(specials)) != len(specials):
        raise ValueError(f"specials must be distinct, got {specials!r}")
    kmers = ["".join(p) for p in itertools.product(alphabet, repeat=k)]
    clash = set(specials) & set(kmers)
    if clash:
        raise ValueError(f"specials {sorted(clash)!r} clash with k-mers of the alphabet {alphabet!r}")
    if padding_side not in PADDING_SIDES:
        raise ValueError(f"padding_side must be one of {PADDING_SIDES!r}, got {padding_side!r}")
    if pad in specials:
        if k != 1:
            raise ValueError(f"a padding token ({pad!r}) needs k == 1; pad k-mers with a letter such as 'N'")
    elif not (isinstance(pad, str) and len(pad) == 1 and pad.isascii()):
        raise ValueError(f"pad must be one ASCII letter or one of specials {specials!r}, got {pad!r}")
    if unknown not in specials and not (k == 1 and isinstance(unknown, str) and unknown in alphabet):
        valid = f"one of specials {specials!r}" + (f" or a letter of {alphabet!r}" if k == 1 else "")
        raise ValueError(f"unknown must be {valid}, got {unknown!r}")
    if prefix is not None and prefix not in specials:
        raise ValueError(f"prefix must be None or one of specials {specials!r}, got {prefix!r}")
    checked = TokenizerSettings(alphabet, k, stride, max_len, specials, pad, unknown, prefix, padding_side)
    return checked, kmers
