"""A DataLoader that yields whole collated batches, assembled without per-sample Python objects.

``DataLoader(ds, batch_size=256)`` builds 256 samples (PIL images, strings, ints) and then
collates them. :func:`batch_loader` instead gathers each batch straight from the store's
memory maps into one tensor per field::

    loader = batch_loader(BIOSCAN5M(root, split="train"), batch_size=256, shuffle=True, num_workers=2)
    for batch in loader:
        batch["image"]    # uint8 (B, 3, S, S), channels-last memory (zero-copy view of the gather)
        batch["dna"]      # uint8 (B, W) ASCII codes, or int64 (B, T) tokens with a Tokenizer dna_transform
        batch["target"]   # int64 (B,) or (B, n_targets)

Per-sample ``transform``/``target_transform`` are not applied (they work on single samples);
pass ``batch_transform`` to act on the batch dict (e.g. GPU augmentation after ``.to(device)``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler, SequentialSampler

from .base import StoreDataset

__all__ = ["batch_loader", "BatchView", "gather_batch"]


def gather_batch(ds: StoreDataset, indices) -> dict[str, object]:
    """Collate the samples ``indices`` of ``ds`` into one dict of tensors.

    Keys: ``"index"`` (int64 dataset indices), ``"image"`` (uint8 ``(B, 3, S, S)``) when
    the dataset has the image modality, ``"dna"`` and ``"dna_length"`` (uint8 codes and
    int64 lengths, ``-1`` = missing) or ``"dna"`` and ``"dna_mask"`` (int64 tokens and
    attention mask) when ``dna_transform`` is a :class:`~bioscan_h5.tokenizers.Tokenizer`,
    one int64 tensor per target rank, ``"target"``, and each other modality (numeric
    columns as tensors, text columns as lists).
    """
    idx = np.asarray(indices, dtype=np.int64)
    return {"index": torch.from_numpy(idx), **ds.reader.batch(ds.rows[idx])}


class BatchView(torch.utils.data.Dataset):
    """A view of a dataset whose items are whole batches: ``view[list_of_indices] -> dict``."""

    def __init__(self, dataset: StoreDataset, batch_transform: Callable | None = None) -> None:
        self.dataset = dataset
        self.batch_transform = batch_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices):
        batch = gather_batch(self.dataset, indices)
        if self.batch_transform is not None:
            batch = self.batch_transform(batch)
        return batch


def batch_loader(
    dataset: StoreDataset,
    batch_size: int = 256,
    *,
    shuffle: bool = False,
    drop_last: bool = False,
    sampler: Sampler | None = None,
    generator: torch.Generator | None = None,
    num_workers: int = 0,
    batch_transform: Callable | None = None,
    **loader_kwargs,
) -> DataLoader:
    """A :class:`~torch.utils.data.DataLoader` yielding collated batch dicts (see :func:`gather_batch`).

    Parameters
    ----------
    dataset : BIOSCAN5M or BIOSCAN1M
    batch_size : int
    shuffle : bool
        Random order each epoch (ignored when ``sampler`` is given).
    drop_last : bool
    sampler : Sampler, optional
        A per-sample sampler, e.g. :class:`~torch.utils.data.DistributedSampler`.
    generator : torch.Generator, optional
        For the shuffle.
    num_workers : int
    batch_transform : callable, optional
        Applied to each batch dict in the worker.
    **loader_kwargs
        Passed to ``DataLoader`` (``pin_memory``, ``persistent_workers``,
        ``multiprocessing_context``, ``prefetch_factor``, ...).
    """
    if sampler is None:
        sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
    batches = BatchSampler(sampler, batch_size, drop_last)
    return DataLoader(
        BatchView(dataset, batch_transform),
        sampler=batches,
        batch_size=None,
        num_workers=num_workers,
        **loader_kwargs,
    )
