"""Batches of K labels x M samples (metric learning), and their distributed form."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .._jit import kernel
from ..errors import InvalidArgumentError
from ._common import LabelBatchSampler, occurrence_numbers

__all__ = ["DistributedKClassMSampler", "KClassMSampler"]


class KClassMSampler(LabelBatchSampler):
    """A batch sampler: each batch holds ``k`` distinct labels of ``rank``, ``m`` samples of each.

    Batches list the ``m`` samples of the first label, then of the second, and so on. Labels
    are dealt from a stream of random permutations, so over an epoch every label is drawn equally
    often (to one); a label's samples come in a random order that repeats none before all were
    drawn (fewer than ``m``: some repeat in a batch, as in BarcodeMAE's ``KClassMSampleSampler``,
    without its random fill). Samples without a label are never drawn.

    Parameters
    ----------
    dataset, seed
        As in :class:`~bioscan_h5.samplers.BalancedSampler`.
    rank : str, optional
        The rank whose labels make the classes (default: the single ``target_type``).
    k, m : int
        Labels per batch, samples per label.
    num_batches : int, optional
        Batches per epoch (all replicas together); default: labelled samples // (k * m).
    num_replicas, replica : int, optional
        Replica ``r`` gets batches ``r::num_replicas`` of the global epoch.
    """

    def __init__(
        self,
        dataset: Any,
        rank: str | None = None,
        k: int = 8,
        m: int = 4,
        num_batches: int | None = None,
        seed: int | None = None,
        num_replicas: int | None = None,
        replica: int | None = None,
    ) -> None:
        self._setup(dataset, rank, seed, num_replicas, replica)
        self.k, self.m = int(k), int(m)
        if self.k < 1 or self.m < 1:
            raise InvalidArgumentError(f"k and m must be >= 1, got k={k!r}, m={m!r}.")
        if self.k > self.groups.num_classes:
            raise InvalidArgumentError(
                f"k={k!r} labels per batch, but only {self.groups.num_classes} labels of rank {rank!r}"
                " have samples: pass a smaller k, or a rank with more labels."
            )
        total = len(self.groups.order) // (self.k * self.m) if num_batches is None else int(num_batches)
        self.num_batches = total // self.num_replicas  # per replica
        if self.num_batches < 1:
            raise InvalidArgumentError(
                f"{total} batches of k*m={self.k * self.m} cannot be dealt to {self.num_replicas} replicas:"
                " pass num_batches= or a smaller k or m."
            )
        self.batch_size = self.k * self.m

    def _labels_per_batch(self, rng: np.random.Generator, n_batches: int) -> np.ndarray:
        """``(n_batches, k)`` class positions, distinct within each batch."""
        c, k = self.groups.num_classes, self.k
        perms = rng.permuted(np.tile(np.arange(c), (-(-n_batches * k // c), 1)), axis=1).reshape(-1)
        separate_straddlers(perms, c, k, rng.random(len(perms) // c * k + 1))
        chosen = perms[: n_batches * k].reshape(n_batches, k)
        while True:  # left only where a permutation has too few labels to swap with: redraw
            s = np.sort(chosen, axis=1)
            bad = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1))
            if not len(bad):
                return chosen
            chosen[bad] = rng.permuted(np.tile(np.arange(c), (len(bad), 1)), axis=1)[:, :k]

    def epoch_batches(self, rng: np.random.Generator) -> np.ndarray:
        """The global epoch: ``(num_batches * num_replicas, k * m)`` dataset indices."""
        g = self.groups
        n_batches = self.num_batches * self.num_replicas
        cls = self._labels_per_batch(rng, n_batches).reshape(-1)
        # the t-th draw of a class in the epoch takes its samples t*m .. t*m+m-1 (wrapping)
        draw = np.empty_like(cls)
        occurrence_numbers(cls, g.num_classes, draw)
        shuffled = g.shuffled(rng)
        slot = draw[:, None] * self.m + np.arange(self.m)
        rows = shuffled[g.starts[cls][:, None] + slot % g.counts[cls][:, None]]
        return rows.reshape(n_batches, self.k * self.m)

    def batches(self) -> np.ndarray:
        """This replica's batches of the next epoch, ``(num_batches, k * m)`` (advances the epoch)."""
        return self.epoch_batches(self.seeds.next_rng())[self.replica :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches().tolist())


class DistributedKClassMSampler(KClassMSampler):
    """:class:`KClassMSampler` with ``num_replicas`` / ``replica`` read from ``torch.distributed``."""

    _distributed = True

    def __init__(
        self, dataset: Any, rank: str | None = None, k: int = 8, m: int = 4, *, seed: int = 0, **kwargs
    ):
        super().__init__(dataset, rank, k, m, seed=seed, **kwargs)


@kernel
def separate_straddlers(stream: np.ndarray, c: int, k: int, u: np.ndarray) -> None:
    """Make every batch of ``k`` of a stream of permutations of ``0..c-1`` hold distinct values.

    A value a straddling batch meets in both permutations is swapped, in the second, with a later
    one of that permutation (drawn with ``u``) that the batch lacks.
    """
    n_perm = len(stream) // c
    draw = 0
    for i in range(1, n_perm):
        b = i * c
        s = (b // k) * k
        if s == b or s + k > len(stream):
            continue
        end = s + k  # the batch is stream[s:end]; stream[b:end] is the second part
        for h in range(b, end):
            clash = False
            for t in range(s, b):
                if stream[t] == stream[h]:
                    clash = True
                    break
            if not clash:
                continue
            span = b + c - end  # positions end .. b + c - 1 of the same permutation
            if span <= 0:
                continue
            start = end + int(u[draw % len(u)] * span) % span
            draw += 1
            for step in range(span):
                j = end + (start - end + step) % span
                ok = True
                for t in range(s, end):
                    if stream[t] == stream[j]:
                        ok = False
                        break
                if ok:
                    tmp = stream[h]
                    stream[h] = stream[j]
                    stream[j] = tmp
                    break
