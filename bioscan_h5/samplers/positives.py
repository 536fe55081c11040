"""Positives: for each sample, another sample of the same label (BIN, species, any rank), per epoch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ._common import LabelBatchSampler, LabelGroups, shuffle_segments

__all__ = ["DistributedPositivePairSampler", "PositivePairSampler", "draw_positives"]


def draw_positives(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each sample, the index of another sample with the same label, drawn uniformly (int64
    ``(N,)``; -1 where the label is missing (-1) or no other sample has it)."""
    groups = LabelGroups(labels)
    out = np.full(len(labels), -1, dtype=np.int64)
    partner = groups.others(rng)
    alone = groups.counts[groups.segment] == 1
    out[groups.order[~alone]] = partner[~alone]
    return out


class PositivePairSampler(LabelBatchSampler):
    """A batch sampler of anchors and their positives: ``[a_1..a_B, p_1..p_B]`` per batch.

    The anchors are the samples whose label (at ``rank``) another sample shares, in a random
    order; ``p_i`` is another sample of ``a_i``'s label, drawn afresh each epoch (contrastive
    pairs, as mmlearn's bioscan_clip joins them). Split a batch in halves for the two views.

    Parameters
    ----------
    dataset, seed
        As in :class:`~bioscan_h5.samplers.BalancedSampler`.
    rank : str, optional
        The rank that defines positives (``"dna_bin"``, ``"species"``, ...).
    pairs_per_batch : int
    drop_last : bool
        Drop the last, smaller batch.
    num_replicas, replica : int, optional
        Replica ``r`` gets batches ``r::num_replicas`` of the global epoch.
    """

    def __init__(
        self,
        dataset: Any,
        rank: str | None = None,
        pairs_per_batch: int = 128,
        drop_last: bool = True,
        seed: int | None = None,
        num_replicas: int | None = None,
        replica: int | None = None,
    ) -> None:
        self._setup(dataset, rank, seed, num_replicas, replica)
        self.pairs_per_batch = int(pairs_per_batch)
        if self.pairs_per_batch < 1:
            raise InvalidArgumentError(f"pairs_per_batch must be >= 1, got {pairs_per_batch!r}.")
        paired = self.groups.counts[self.groups.segment] > 1
        self._anchors = np.flatnonzero(paired)  # positions in groups.order
        if not len(self._anchors):
            raise InvalidArgumentError(f"No two samples share a label at rank {rank!r}: no positive pairs.")
        self.drop_last = bool(drop_last)
        n, b = len(self._anchors), self.pairs_per_batch
        total = n // b if self.drop_last else -(-n // b)
        self.num_batches = total // self.num_replicas
        self.batch_size = 2 * self.pairs_per_batch

    def epoch_pairs(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The global epoch's anchors and positives (dataset indices, in batch order)."""
        order = self._anchors.copy()
        shuffle_segments(order, np.zeros(1, np.int64), np.array([len(order)]), rng.random(len(order)))
        return self.groups.order[order], self.groups.others(rng)[order]

    def __iter__(self) -> Iterator[list[int]]:
        anchors, positives = self.epoch_pairs(self.seeds.next_rng())
        b = self.pairs_per_batch
        for j in range(self.replica, self.num_batches * self.num_replicas, self.num_replicas):
            yield [*anchors[j * b : (j + 1) * b].tolist(), *positives[j * b : (j + 1) * b].tolist()]


class DistributedPositivePairSampler(PositivePairSampler):
    """:class:`PositivePairSampler` with ``num_replicas`` / ``replica`` read from ``torch.distributed``."""

    _distributed = True

    def __init__(
        self, dataset: Any, rank: str | None = None, pairs_per_batch: int = 128, *, seed: int = 0, **kw
    ):
        super().__init__(dataset, rank, pairs_per_batch, seed=seed, **kw)
