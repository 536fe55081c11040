"""How a dataset serves barcodes: as text, as stored codes for a tokenizer, or as stored tokens."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import format as fmt

__all__ = ["DnaPlan"]


@dataclass(frozen=True)
class DnaPlan:
    """The barcode path chosen once per dataset.

    ``tokenizer``: ``dna_transform`` if it is one of ours (it receives the stored codes);
    ``stored_tokens``: tokens built with ``build --tokenize`` equal to its output, served as they
    are; ``transform``: any other ``dna_transform`` (on the text); ``whole``: read the whole-barcode
    block; ``encoder``: the tokenizer whose bound ``encode`` is ``transform`` (batches in one call).
    """

    max_nucleotides: int | None
    tokenizer: Any = None
    stored_tokens: str | None = None
    transform: Any = None
    whole: bool = False
    encoder: Any = None

    @property
    def per_sample(self) -> bool:
        """Batches apply ``transform`` to each barcode's text (it is no tokenizer of ours)."""
        return self.transform is not None and self.encoder is None

    @classmethod
    def choose(cls, st, max_nucleotides: int | None, dna_transform) -> DnaPlan:
        """The plan for a store and the dataset's ``max_nucleotides`` / ``dna_transform``."""
        wider = max_nucleotides is None or max_nucleotides > st.dna_codes.shape[1]
        whole = st.dna_tail is not None and wider
        tok, encoder = _our_tokenizer(dna_transform)
        if tok is None:
            return cls(max_nucleotides, transform=dna_transform, whole=whole, encoder=encoder)
        stored = _matching_tokens(st, tok, max_nucleotides)
        return cls(max_nucleotides, tokenizer=tok, stored_tokens=stored, whole=whole)

    def length(self, stored: int) -> int:
        """A row's served length (-1 = missing)."""
        if self.max_nucleotides is not None and stored > self.max_nucleotides:
            return self.max_nucleotides
        return stored

    def getter(self, st) -> Callable[[int], Any]:
        """``row -> barcode`` (text, ``nan`` if missing, or a token tensor); arrays looked up once."""
        import torch

        if self.stored_tokens is not None:
            ids = np.asarray(st.tokens(self.stored_tokens)[0])
            return lambda row: torch.from_numpy(np.asarray(ids[row], dtype=np.int64))
        row_codes = self._row_reader(st)
        tok, transform = self.tokenizer, self.transform
        if tok is not None:
            return lambda row: tok.encode_codes(*row_codes(row))

        def text(row: int):
            codes, n = row_codes(row)
            value: Any = float("nan") if n < 0 else codes[:n].tobytes().decode("ascii")
            return value if transform is None else transform(value)

        return text

    def _row_reader(self, st) -> Callable[[int], tuple[np.ndarray, int]]:
        """``row -> (codes, served length)``, -1 = missing; whole barcodes from the tail block."""
        if self.whole:

            def whole(row: int) -> tuple[np.ndarray, int]:
                codes, lengths = st.barcode_codes(np.array([row]), self.max_nucleotides)
                return codes[0], int(lengths[0])

            return whole
        codes, lengths, length = np.asarray(st.dna_codes), np.asarray(st.dna_lengths), self.length
        return lambda row: (codes[row], length(int(lengths[row])))

    def batch(self, st, rows: np.ndarray) -> dict[str, Any]:
        """The barcodes of ``rows`` as tensors: ``dna`` + ``dna_length`` (codes) or ``dna_mask`` (tokens)."""
        import torch

        if self.stored_tokens is not None:
            ids, mask = st.tokens(self.stored_tokens)
            return {
                "dna": torch.from_numpy(np.asarray(ids[rows]).astype(np.int64)),
                "dna_mask": torch.from_numpy(np.asarray(mask[rows]).astype(np.int64)),
            }
        codes, lengths = st.barcode_codes(rows, self.max_nucleotides)
        tok = self.tokenizer if self.tokenizer is not None else self.encoder
        if tok is not None:
            ids, mask = tok.encode_batch(codes, lengths)
            return {"dna": ids, "dna_mask": mask}
        return {"dna": torch.from_numpy(np.ascontiguousarray(codes)), "dna_length": torch.from_numpy(lengths)}


def _our_tokenizer(dna_transform) -> tuple[Any, Any]:
    """``(dna_transform, None)`` if it is a tokenizer of ours, ``(None, owner)`` if its bound ``encode``."""
    if dna_transform is None:
        return None, None
    from ..tokenizers import Tokenizer

    if isinstance(dna_transform, Tokenizer):
        return dna_transform, None
    owner = getattr(dna_transform, "__self__", None)
    bound = isinstance(owner, Tokenizer) and getattr(dna_transform, "__func__", None) is Tokenizer.encode
    return None, owner if bound else None


def _matching_tokens(st, tok, max_nucleotides: int | None) -> str | None:
    """Name of precomputed tokens equal to what ``tok`` would give, or None."""
    if tok.name not in st.tokenizations or max_nucleotides != st.max_nucleotides:
        return None  # none stored, or they saw a different truncation
    from ..tokenizers import Tokenizer

    attrs = st.file[fmt.token_path(tok.name, "ids")].attrs
    try:
        stored = Tokenizer.from_config(json.loads(attrs["config"]))
    except (KeyError, ValueError, TypeError):
        return None
    return tok.name if stored == tok else None
