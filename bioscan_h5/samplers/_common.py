"""What the samplers share: the labels of a dataset, rows grouped by label, seeds and replicas."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Sampler

from .._jit import kernel
from ..errors import InvalidArgumentError

__all__ = ["EpochSeeds", "LabelBatchSampler", "LabelGroups", "LabelSampler", "dataset_labels", "replicas"]


def dataset_labels(dataset: Any, rank: str | None) -> np.ndarray:
    """The label index of every sample of ``dataset`` at ``rank`` (int64, -1 = missing).

    ``dataset``: one of ours, a ``Subset`` / ``ConcatDataset`` of them, or the labels themselves.
    """
    from torch.utils.data import ConcatDataset, Subset

    if isinstance(dataset, Subset):
        return dataset_labels(dataset.dataset, rank)[np.asarray(dataset.indices, dtype=np.int64)]
    if isinstance(dataset, ConcatDataset):
        return np.concatenate([dataset_labels(d, rank) for d in dataset.datasets])
    if hasattr(dataset, "label_indices"):
        return np.asarray(dataset.label_indices(dataset.target_rank(rank)), dtype=np.int64)
    labels = np.asarray(dataset)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InvalidArgumentError(
            f"Cannot take labels from {type(dataset).__name__!r}: pass one of our datasets (with a rank),"
            " a Subset or ConcatDataset of them, or a 1-D integer array of labels (-1 = missing)."
        )
    return labels.astype(np.int64, copy=False)


def replicas(num_replicas: int | None, rank: int | None, distributed: bool) -> tuple[int, int]:
    """``(num_replicas, rank)``: as given, else from ``torch.distributed`` when ``distributed``, else (1, 0)."""
    if distributed and (num_replicas is None or rank is None):
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise InvalidArgumentError(
                "num_replicas and rank were not given and torch.distributed is not initialized:"
                " call torch.distributed.init_process_group() first, or pass num_replicas= and rank=."
            )
        num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
        rank = dist.get_rank() if rank is None else rank
    num_replicas = 1 if num_replicas is None else int(num_replicas)
    rank = 0 if rank is None else int(rank)
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise InvalidArgumentError(
            f"Invalid rank {rank!r} for num_replicas={num_replicas!r}: rank must be in 0..num_replicas-1."
        )
    return num_replicas, rank


class EpochSeeds:
    """The random stream of an epoch: ``numpy`` generator seeded by ``(seed, epoch)``.

    Without a seed, one is drawn from torch's global generator (``torch.manual_seed`` makes runs
    repeatable). The epoch advances after each iteration; :meth:`set_epoch` sets it.
    """

    def __init__(self, seed: int | None) -> None:
        if seed is None:
            import torch

            seed = int(torch.empty((), dtype=torch.int64).random_().item())
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch the next iteration draws."""
        self.epoch = int(epoch)

    def next_rng(self) -> np.random.Generator:
        """The generator of the current epoch; the epoch then advances."""
        rng = np.random.default_rng([self.seed & 0xFFFFFFFFFFFFFFFF, self.epoch])
        self.epoch += 1
        return rng


class LabelGroups:
    """Labelled samples grouped by label: ``order[starts[c]:starts[c] + counts[c]]`` are class ``c``'s.

    Classes are the labels present (``classes``), in index order; samples with label -1 are left out.
    """

    def __init__(self, labels: np.ndarray) -> None:
        labels = np.asarray(labels, dtype=np.int64)
        rows = np.flatnonzero(labels >= 0)
        self.order = order = rows[np.argsort(labels[rows], kind="stable")]
        self.classes, self.starts, self.counts = np.unique(
            labels[order], return_index=True, return_counts=True
        )
        #: position of each grouped sample's class among ``classes``
        self.segment = np.repeat(np.arange(len(self.classes), dtype=np.int64), self.counts)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def shuffled(self, rng: np.random.Generator) -> np.ndarray:
        """``order`` with each class's samples in a fresh random order (Fisher-Yates per class)."""
        out = self.order.copy()
        shuffle_segments(out, self.starts, self.counts, rng.random(len(out)))
        return out

    def others(self, rng: np.random.Generator) -> np.ndarray:
        """For each grouped sample, another sample of its class drawn uniformly (itself if alone)."""
        n = self.counts[self.segment]
        pos = np.arange(len(self.order), dtype=np.int64) - self.starts[self.segment]
        step = 1 + np.floor(rng.random(len(self.order)) * np.maximum(n - 1, 1)).astype(np.int64)
        step[n == 1] = 0
        return self.order[self.starts[self.segment] + (pos + step) % n]


class LabelSampler:
    """What the label samplers share: the label groups, the epoch seeds and the replicas."""

    _distributed = False  # read num_replicas and replica from torch.distributed

    def _setup(
        self, dataset: Any, rank: str | None, seed: int | None, num_replicas: int | None, replica: int | None
    ) -> None:
        self.groups = LabelGroups(dataset_labels(dataset, rank))
        self.seeds = EpochSeeds(seed)
        self.num_replicas, self.replica = replicas(num_replicas, replica, self._distributed)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch of the next iteration (same global epoch on every replica)."""
        self.seeds.set_epoch(epoch)


class LabelBatchSampler(LabelSampler, Sampler[list[int]]):
    """Base of the batch samplers: a subclass sets ``num_batches`` (per replica) and ``batch_size``."""

    num_batches: int
    batch_size: int

    def __len__(self) -> int:
        return self.num_batches

    def flat(self) -> FlatBatches:
        """The batches as one stream of indices, for ``batch_loader(..., sampler=s.flat())``.

        Pass ``batch_size=`` :attr:`batch_size` and ``drop_last=True`` with it.
        """
        return FlatBatches(self)


class FlatBatches:
    """A batch sampler's batches as one stream of indices, for loaders that cut batches themselves."""

    def __init__(self, batch_sampler: Any) -> None:
        self.batch_sampler = batch_sampler

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to the batch sampler."""
        self.batch_sampler.set_epoch(epoch)

    def __iter__(self):
        for batch in self.batch_sampler:
            yield from batch

    def __len__(self) -> int:
        return len(self.batch_sampler) * self.batch_sampler.batch_size


@kernel
def shuffle_segments(values: np.ndarray, starts: np.ndarray, counts: np.ndarray, u: np.ndarray) -> None:
    """Shuffle ``values[starts[s]:starts[s] + counts[s]]`` in place for every ``s`` (Fisher-Yates).

    ``u``: one uniform draw in [0, 1) per element, so the result is the same with and without numba.
    """
    for s in range(len(starts)):
        a = starts[s]
        for i in range(counts[s] - 1, 0, -1):
            j = int(u[a + i] * (i + 1))
            if j > i:
                j = i
            tmp = values[a + i]
            values[a + i] = values[a + j]
            values[a + j] = tmp


@kernel
def occurrence_numbers(values: np.ndarray, n_values: int, out: np.ndarray) -> None:
    """``out[i]``: how many times ``values[i]`` occurred before position ``i``."""
    seen = np.zeros(n_values, dtype=np.int64)
    for i in range(len(values)):
        out[i] = seen[values[i]]
        seen[values[i]] += 1
