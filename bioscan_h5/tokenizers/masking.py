"""Token masking for DNA pretraining, batched on the tokens' device: BarcodeBERT's masking and
BarcodeMAE-style k-mer substitution, as functions and as a ``batch_transform``."""

from __future__ import annotations

import functools
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["MaskTokens", "mask_tokens", "maskable", "substitute_tokens"]


def maskable(ids, tokenizer):
    """Where a token may be masked: any k-mer of the alphabet, never a special (``[MASK]``, ``[UNK]``,
    a prefix, padding), whose ids are below ``len(tokenizer.specials)`` (BarcodeBERT's rule)."""
    return ids >= len(tokenizer.specials)


def _mask_id(tokenizer, mask_id: int | None) -> int:
    if mask_id is not None:
        return int(mask_id)
    for i, name in enumerate(tokenizer.specials):
        if "MASK" in name.upper():
            return i
    raise InvalidArgumentError(
        f"Tokenizer {tokenizer.name!r} has no mask token among its specials {tokenizer.specials!r}:"
        " pass mask_id= (the id masked tokens take)."
    )


@functools.cache
def _neighbours(a: int, k: int, first: int, device):
    """``(vocab_size, k * (a - 1))`` ids of the k-mers one letter away from each k-mer (specials: itself),
    for an alphabet of ``a`` letters after ``first`` specials."""
    import torch

    kmer = torch.arange(a**k, device=device)
    digits = torch.stack([(kmer // a**p) % a for p in range(k)], 1)  # digit p = letter at k-1-p
    out = []
    for p in range(k):
        for shift in range(1, a):
            changed = (digits[:, p] + shift) % a
            out.append(kmer + (changed - digits[:, p]) * a**p)
    table = torch.stack(out, 1) + first
    specials = torch.arange(first, device=device)[:, None].expand(first, table.shape[1])
    return torch.cat([specials, table], 0)


def substitute_tokens(ids, tokenizer, where, generator=None, matrix=None):
    """A new tensor: ``ids`` with the k-mers at ``where`` replaced by other k-mers, on ``ids``' device.

    Parameters
    ----------
    ids, tokenizer, generator
        As in :func:`mask_tokens`.
    where : torch.BoolTensor
        Positions to substitute (special tokens there are left as they are).
    matrix : torch.Tensor, optional
        ``(vocab_size, vocab_size)`` substitution weights, row = original id (BarcodeMAE's
        table); the diagonal is ignored, so a substitute always differs. Default: a k-mer one
        letter away, uniformly (a single-nucleotide substitution).
    """
    import torch

    where = where & maskable(ids, tokenizer)
    out = ids.clone()
    original = ids[where]
    if matrix is None:
        table = _neighbours(len(tokenizer.alphabet), tokenizer.k, len(tokenizer.specials), ids.device)
        col = torch.randint(table.shape[1], original.shape, generator=generator, device=ids.device)
        out[where] = table[original, col]
        return out
    weights = matrix.to(ids.device, torch.float).clone()
    weights.fill_diagonal_(0)
    weights[:, : len(tokenizer.specials)] = 0
    rows = weights[original]
    empty = rows.sum(1) == 0
    rows[empty, original[empty]] = 1  # no substitute known: left as it is
    out[where] = torch.multinomial(rows, 1, generator=generator).squeeze(1)
    return out


def mask_tokens(
    ids,
    tokenizer,
    rate: float,
    generator=None,
    *,
    mask_id: int | None = None,
    substitute: float = 0.0,
    matrix=None,
):
    """Mask a batch of token ids as BarcodeBERT does: each k-mer with probability ``rate``.

    Parameters
    ----------
    ids : torch.LongTensor, shape (..., T)
        Token ids from ``tokenizer`` (any device).
    tokenizer : Tokenizer
    rate : float
        BarcodeBERT uses 0.5. Special tokens are never masked (:func:`maskable`).
    generator : torch.Generator, optional
        On ``ids``' device; default: torch's global generator.
    mask_id : int, optional
        The id masked tokens take (default: the tokenizer's ``[MASK]`` special, 0 in
        BarcodeBERT's vocabulary).
    substitute : float
        The fraction of masked positions that take another k-mer (:func:`substitute_tokens`,
        BarcodeMAE-style) instead of ``mask_id``. 0 (default): BarcodeBERT.
    matrix : torch.Tensor, optional
        Substitution weights, passed to :func:`substitute_tokens`.

    Returns
    -------
    masked : torch.LongTensor
        A new tensor; ``ids`` is left as it was (it is the prediction target).
    mask : torch.BoolTensor
        The positions chosen (masked or substituted).
    """
    import torch

    if not 0.0 <= float(rate) <= 1.0 or not 0.0 <= float(substitute) <= 1.0:
        raise InvalidArgumentError(
            f"rate and substitute must be in [0, 1], got rate={rate!r}, substitute={substitute!r}."
        )
    mid = _mask_id(tokenizer, mask_id)
    draw = torch.rand(ids.shape, generator=generator, device=ids.device)
    mask = (draw < rate) & maskable(ids, tokenizer)
    masked = ids.masked_fill(mask, mid)
    if substitute > 0:
        sub = mask & (torch.rand(ids.shape, generator=generator, device=ids.device) < substitute)
        masked = torch.where(sub, substitute_tokens(ids, tokenizer, sub, generator, matrix), masked)
    return masked, mask


class MaskTokens:
    """``batch_transform`` that adds masked tokens to a batch: ``masked_dna`` and ``masked_positions``.

    ``batch["dna"]`` (the tokens, the targets) is left as it is. With ``device=`` in
    ``batch_loader`` the masking runs on that device.

    Parameters
    ----------
    tokenizer, rate, generator, **kwargs
        As in :func:`mask_tokens` (``kwargs``: ``mask_id``, ``substitute``, ``matrix``).
    key : str
        The batch entry holding the token ids.
    """

    def __init__(self, tokenizer, rate: float = 0.5, key: str = "dna", generator=None, **kwargs: Any) -> None:
        self.tokenizer, self.rate, self.key, self.generator = tokenizer, rate, key, generator
        self.kwargs = kwargs
        _mask_id(tokenizer, kwargs.get("mask_id"))  # refuse a tokenizer without a mask token now

    def __call__(self, batch: dict) -> dict:
        masked, mask = mask_tokens(batch[self.key], self.tokenizer, self.rate, self.generator, **self.kwargs)
        return {**batch, "masked_dna": masked, "masked_positions": mask}

    def __repr__(self) -> str:
        return f"MaskTokens(tokenizer={self.tokenizer.name!r}, rate={self.rate!r}, key={self.key!r})"
