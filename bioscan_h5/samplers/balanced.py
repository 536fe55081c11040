"""Class-balanced sampling of dataset indices at any rank, and its distributed form."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from ..errors import InvalidArgumentError
from ._common import LabelSampler

__all__ = ["BalancedSampler", "DistributedBalancedSampler"]


class BalancedSampler(LabelSampler, Sampler[int]):
    """Dataset indices in which every label of ``rank`` is drawn equally often.

    Samples whose label is missing (-1) are never drawn.

    Parameters
    ----------
    dataset : Dataset or array-like
        One of our datasets (or a ``Subset`` / ``ConcatDataset`` of them), or the labels.
    rank : str, optional
        The rank to balance (default: the dataset's single ``target_type``).
    num_samples : int, optional
        Indices per epoch (all replicas together); default: the number of labelled samples.
    replacement : bool
        ``False``: rounds each holding every label once, in a random order; a label's samples
        come in a fresh random order and none repeats before all were drawn (BarcodeMAE's
        ``BalancedSampler(cycle=True)``). ``True``: a uniform label, then a uniform sample of it.
    seed : int, optional
        Seeds the epoch ``(seed, epoch)``; default: drawn from torch's generator once.
    num_replicas, replica : int, optional
        Replica ``r`` gets indices ``r::num_replicas`` of the global epoch (wrapped to a multiple
        of ``num_replicas``); default ``1, 0``.
    """

    def __init__(
        self,
        dataset: Any,
        rank: str | None = None,
        num_samples: int | None = None,
        replacement: bool = False,
        seed: int | None = None,
        num_replicas: int | None = None,
        replica: int | None = None,
    ) -> None:
        self._setup(dataset, rank, seed, num_replicas, replica)
        if self.groups.num_classes == 0:
            raise InvalidArgumentError(f"No sample has a label at rank {rank!r}: nothing to balance.")
        total = len(self.groups.order) if num_samples is None else int(num_samples)
        if total < 1:
            raise InvalidArgumentError(f"num_samples must be >= 1, got {num_samples!r}.")
        self.replacement = bool(replacement)
        self.num_samples = math.ceil(total / self.num_replicas)  # per replica
        self.total_size = total

    def epoch_indices(self, rng: np.random.Generator) -> np.ndarray:
        """The global epoch: ``total_size`` dataset indices (int64)."""
        g, n = self.groups, self.total_size
        if self.replacement:
            cls = rng.integers(0, g.num_classes, n)
            within = np.floor(rng.random(n) * g.counts[cls]).astype(np.int64)
            return g.order[g.starts[cls] + within]
        rounds = math.ceil(n / g.num_classes)
        shuffled = g.shuffled(rng)
        # round j holds slot j of every class, classes in a random order within the round
        cls = rng.permuted(np.tile(np.arange(g.num_classes, dtype=np.int64), (rounds, 1)), axis=1).ravel()[:n]
        slot = np.arange(n, dtype=np.int64) // g.num_classes
        return shuffled[g.starts[cls] + slot % g.counts[cls]]

    def indices(self) -> np.ndarray:
        """This replica's indices of the next epoch (advances the epoch)."""
        idx = self.epoch_indices(self.seeds.next_rng())
        padded = self.num_samples * self.num_replicas
        if padded > len(idx):
            idx = np.resize(idx, padded)
        return idx[self.replica :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class DistributedBalancedSampler(BalancedSampler):
    """:class:`BalancedSampler` with ``num_replicas`` / ``replica`` read from ``torch.distributed``.

    Call :meth:`set_epoch` before each epoch, as with ``DistributedSampler``.
    """

    _distributed = True

    def __init__(self, dataset: Any, rank: str | None = None, *, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(dataset, rank, seed=seed, **kwargs)
