"""ElasticDistributedSampler: one global order per epoch (seed, epoch), dealt to the ranks; its
state (places of that order used by all ranks together) resumes mid-epoch on any number of ranks."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sized

import torch
from torch.utils.data import Sampler

from ..errors import InvalidArgumentError

__all__ = ["ElasticDistributedSampler"]

#: The kind of state that ``state_dict`` writes and ``load_state_dict`` reads.
STATE_FORMAT = "bioscan_h5.ElasticDistributedSampler/1"


class ElasticDistributedSampler(Sampler[int]):
    """DistributedSampler's order, resumable mid-epoch on another number of ranks.

    Each epoch's global order is :class:`~torch.utils.data.DistributedSampler`'s:
    ``torch.randperm(len(dataset))`` from a generator seeded with ``seed + epoch``
    (``range(len(dataset))`` without ``shuffle``), place ``p`` going to rank
    ``p % num_replicas``. :meth:`state_dict` counts the places the ranks have used; a job
    resumed from it on another number of ranks deals the rest of the order to its own ranks,
    so no index of the epoch is used twice or skipped.

    Parameters
    ----------
    dataset : Sized
        The sampler yields ``0 .. len(dataset) - 1``.
    num_replicas, rank : int, optional
        By default the world size and rank of the default process group (1 and 0 without one).
    shuffle : bool
        A new random order each epoch (:meth:`set_epoch`), or ``0, 1, 2, ...``.
    seed : int
        The same on every rank and in every resumed job.
    drop_last : bool
        As in ``DistributedSampler``: pad the last round with the order's first indices, or drop it.

    Examples
    --------
    >>> sampler = ElasticDistributedSampler(ds, seed=0)
    >>> sampler.load_state_dict(checkpoint["sampler"])       # a job resumed on any number of ranks
    >>> for epoch in range(checkpoint["epoch"], n_epochs):
    ...     sampler.set_epoch(epoch)
    ...     for step, batch in enumerate(DataLoader(ds, batch_size=64, sampler=sampler)):
    ...         ...
    ...         checkpoint["sampler"] = sampler.state_dict(yielded=(step + 1) * 64)

    ``yielded`` is the number of indices this rank's loop has used (a ``DataLoader`` with workers
    takes some ahead); ``batch_loader``'s and ``StatefulDataLoader``'s ``state_dict()`` count them.
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        world, own = _process_group()
        num_replicas = world if num_replicas is None else num_replicas
        rank = own if rank is None else rank
        if not _is_int(num_replicas) or num_replicas < 1:
            raise InvalidArgumentError(f"num_replicas must be an integer >= 1, got {num_replicas!r}.")
        if not _is_int(rank) or not 0 <= rank < num_replicas:
            raise InvalidArgumentError(
                f"rank must be an integer in [0, {num_replicas - 1}] for num_replicas={num_replicas},"
                f" got {rank!r}."
            )
        if not _is_int(seed):
            raise InvalidArgumentError(f"seed must be an integer, got {seed!r}.")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, places used) from load_state_dict
        # the last iteration: its epoch, first place, indices per rank and the list iterator
        self._epoch, self._start, self._count = -1, 0, 0
        self._iterator: Iterator[int] | None = None

    def __len__(self) -> int:
        return self._share(self._next_start())[1]

    @property
    def num_samples(self) -> int:
        """How many indices the next ``iter()`` yields to this rank (of a resumed epoch: what is left)."""
        return len(self)

    @property
    def total_size(self) -> int:
        """Places dealt out by the next ``iter()`` to all ranks together (padding included)."""
        return len(self) * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` from the next ``iter()`` on (as ``DistributedSampler.set_epoch``)."""
        if not _is_int(epoch) or epoch < 0:
            raise InvalidArgumentError(f"epoch must be an integer >= 0, got {epoch!r}.")
        self.epoch = epoch

    def order(self, epoch: int) -> torch.Tensor:
        """The global order of ``epoch``: an int64 tensor of every index, once."""
        n = len(self.dataset)
        if not self.shuffle:
            return torch.arange(n, dtype=torch.int64)
        g = torch.Generator()
        g.manual_seed(self.seed + epoch)
        return torch.randperm(n, generator=g)

    def _next_start(self) -> int:
        resume = self._pending()
        return resume[1] if resume is not None and resume[0] == self.epoch else 0

    def _pending(self) -> tuple[int, int] | None:
        """The loaded (epoch, places used), unless it was a finished epoch and set_epoch() moved on."""
        resume = self._resume
        if resume is not None and resume[0] != self.epoch and resume[1] >= len(self.dataset):
            return None
        return resume

    def _share(self, start: int) -> tuple[int, int]:
        """(places dealt from ``start`` on, indices per rank) for the current world size."""
        left = len(self.dataset) - start
        per_rank = left // self.num_replicas if self.drop_last else math.ceil(left / self.num_replicas)
        return per_rank * self.num_replicas, per_rank

    def __iter__(self) -> Iterator[int]:
        resume = self._pending()
        if resume is not None and resume[0] != self.epoch:
            raise InvalidArgumentError(
                f"This sampler was loaded with a state in epoch {resume[0]} ({resume[1]} of"
                f" {len(self.dataset)} places used), but set_epoch({self.epoch}) was called since."
                f" Call set_epoch({resume[0]}) to resume that epoch, or load_state_dict() a state of"
                f" epoch {self.epoch}."
            )
        start = self._next_start()
        self._resume = None
        dealt, per_rank = self._share(start)
        order = self.order(self.epoch)
        places = order[start:]
        if dealt > len(places):  # pad with the epoch's first indices, as DistributedSampler does
            repeats = math.ceil((dealt - len(places)) / len(order))
            places = torch.cat([places, order.repeat(repeats)[: dealt - len(places)]])
        share = places[self.rank : dealt : self.num_replicas].tolist()
        self._epoch, self._start, self._count = self.epoch, start, per_rank
        self._iterator = iter(share)  # a list iterator: its length_hint says how far it is
        return self._iterator

    def state_dict(self, yielded: int | None = None) -> dict:
        """The position in the epoch's order, the same on every rank that has used as many indices:
        a dict of plain values, ``epoch``, ``used`` (places used by all ranks together), ``size``,
        ``seed``, ``shuffle`` and ``format``.

        Parameters
        ----------
        yielded : int, optional
            The indices of the current ``iter()`` this rank has used; default: as many as the
            iterator yielded (right for a loader that takes none ahead). More than the share
            counts as the whole share (a last batch that is not full).
        """
        if yielded is not None and (not _is_int(yielded) or yielded < 0):
            raise InvalidArgumentError(f"yielded must be an integer >= 0 or None, got {yielded!r}.")
        resume = self._pending()
        if resume is not None or self._epoch != self.epoch:
            if yielded:  # loaded and not iterated yet, or set_epoch() since the last iteration
                raise InvalidArgumentError(
                    f"yielded={yielded!r}, but no iteration of epoch {self.epoch} has started: call"
                    " state_dict() without it."
                )
            epoch, used = resume or (self.epoch, 0)
        else:
            if yielded is None:
                yielded = self._count - operator.length_hint(self._iterator or iter(()))
            # a last batch that is not full counts as the rest of the share
            epoch, used = self.epoch, self._start + min(yielded, self._count) * self.num_replicas
        return {
            "format": STATE_FORMAT,
            "epoch": epoch,
            "used": min(used, len(self.dataset)),
            "size": len(self.dataset),
            "seed": self.seed,
            "shuffle": self.shuffle,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` (from :meth:`state_dict`, on any number of ranks).

        Sets :attr:`epoch` to the state's; the next ``iter()`` deals what is left of that epoch's
        order to the current ranks (nothing after its last index: :meth:`set_epoch` goes on).

        Raises
        ------
        InvalidArgumentError
            The state is not one of this sampler's, or its order differs from this sampler's
            (another dataset length, seed or ``shuffle``).
        """
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise InvalidArgumentError(
                f"Not a state of ElasticDistributedSampler: format {found!r}, expected"
                f" {STATE_FORMAT!r}. Pass what sampler.state_dict() returned."
            )
        mine = {"size": len(self.dataset), "seed": self.seed, "shuffle": self.shuffle}
        differ = {k: (state.get(k), v) for k, v in mine.items() if state.get(k) != v}
        if differ:
            said = ", ".join(f"{k}={old!r} in the state, {new!r} here" for k, (old, new) in differ.items())
            raise InvalidArgumentError(
                f"The state is for another order ({said}): construct the sampler with the dataset,"
                " seed and shuffle of the job that saved it."
            )
        self.epoch = int(state["epoch"])
        self._resume = (self.epoch, int(state["used"]))
        self._epoch, self._start, self._count, self._iterator = -1, 0, 0, None

    def __repr__(self) -> str:
        return (
            f"<ElasticDistributedSampler size={len(self.dataset)} rank={self.rank}/{self.num_replicas}"
            f" epoch={self.epoch} shuffle={self.shuffle} seed={self.seed}>"
        )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _process_group() -> tuple[int, int]:
    """(world size, rank) of the default process group; (1, 0) where there is none."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0
