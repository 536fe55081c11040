"""Where a BatchLoader is in its epoch: ``state_dict()`` / ``load_state_dict()`` (torchdata's names).

The state is the generators the epoch's order was drawn from and the number of batches yielded;
a new loader draws the same order and skips those. An ElasticDistributedSampler keeps its own place.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

from ..errors import InvalidArgumentError
from ..samplers.elastic import ElasticDistributedSampler

__all__ = ["STATE_FORMAT", "LoaderCursor", "pack_generator_state", "unpack_generator_state"]

#: The kind of state that ``BatchLoader.state_dict`` writes.
STATE_FORMAT = "bioscan_h5.BatchLoader/1"

#: How a loader finds its place again, per sampler type: "drawing" samplers draw their order
#: from their ``generator`` (torch's global one when it is None).
_KINDS = (
    (ElasticDistributedSampler, "elastic"),
    (DistributedSampler, "distributed"),
    ((RandomSampler, SubsetRandomSampler, WeightedRandomSampler), "drawing"),
    ((SequentialSampler, range, list, tuple), "fixed"),
)
#: The DistributedSampler arguments that fix its order, besides the epoch.
_DISTRIBUTED_ARGS = ("num_replicas", "seed", "shuffle", "drop_last")
_SUPPORTED = (
    "SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler,"
    " DistributedSampler, bioscan_h5.samplers.ElasticDistributedSampler, or a list/range of indices"
)


def sampler_kind(sampler) -> str | None:
    """How a loader over ``sampler`` finds its place again (None: it cannot)."""
    return next((kind for types, kind in _KINDS if isinstance(sampler, types)), None)


def pack_generator_state(state: torch.Tensor) -> torch.Tensor:
    """A generator's state, compressed: bytes grouped by their place in 8-byte words, then zlib.

    The Mersenne Twister words are stored in 64 bits whose upper halves are zero.
    """
    raw = state.numpy().tobytes()
    words = np.frombuffer(raw + bytes(-len(raw) % 8), dtype=np.uint8).reshape(-1, 8)
    packed = zlib.compress(words.T.tobytes(), 6)
    return torch.frombuffer(bytearray(len(raw).to_bytes(4, "little") + packed), dtype=torch.uint8)


def unpack_generator_state(packed: torch.Tensor) -> torch.Tensor:
    """The ByteTensor that :func:`pack_generator_state` packed."""
    data = packed.numpy().tobytes()
    size = int.from_bytes(data[:4], "little")
    grouped = np.frombuffer(zlib.decompress(data[4:]), dtype=np.uint8).reshape(8, -1)
    return torch.frombuffer(bytearray(grouped.T.tobytes()[:size]), dtype=torch.uint8)


class LoaderCursor:
    """The place of one BatchLoader in its epoch: batches yielded, generator states before the draw."""

    def __init__(self, loader: Any) -> None:  # a BatchLoader (whose module imports this one)
        self.loader = loader
        self.sampler: Any = loader.sampler
        self.kind = sampler_kind(self.sampler)
        self.in_epoch = False  # an iteration has started and not run to its end
        self.taken = 0  # batches the current iteration has yielded
        self.skipped = 0  # batches of the epoch that a resumed iteration skipped
        self.drawn_from: dict[str, torch.Tensor] | None = None  # packed states, this epoch
        self.pending: dict | None = None  # a loaded mid-epoch state, for the next iteration
        self.global_before_draw: torch.Tensor | None = None

    def begin(self) -> None:
        """A new iteration (``iter(loader)``), before its draw of DataLoader's base seed.

        Without a loader generator that draw is from torch's global one, which is the user's:
        in a resumed epoch (drawn before the state was saved) :meth:`track` undoes it.
        """
        self.in_epoch, self.taken, self.skipped, self.drawn_from = True, 0, 0, None
        redrawn = self.pending is not None and self.loader.generator is None
        self.global_before_draw = torch.get_rng_state() if redrawn else None

    def indices(self) -> Iterator:
        """The epoch's batches of indices, past the batches of a resumed state."""
        loader = self.loader
        pending, self.pending = self.pending, None
        if pending is None:
            if self.drawn_from is None:
                self.drawn_from = self._generator_states()
            return iter(loader.batch_sampler)
        if self.kind == "distributed" and self.sampler.epoch != pending["sampler"]["epoch"]:
            self.in_epoch = False
            raise InvalidArgumentError(
                f"The loaded state is in epoch {pending['sampler']['epoch']} of the DistributedSampler"
                f" (batch {pending['batches']}), but the sampler is at epoch {self.sampler.epoch}:"
                f" call sampler.set_epoch({pending['sampler']['epoch']}) before iterating to resume it."
            )
        states = pending["generators"]
        self.drawn_from = dict(states)
        self._set_generators(states)
        skip = 0 if self.kind == "elastic" else pending["batches"]
        if "global" in states:  # the sampler draws from torch's global generator: replay, leave it be
            with torch.random.fork_rng(devices=[]):
                torch.set_rng_state(unpack_generator_state(states["global"]))
                batches = iter(loader.batch_sampler)
                first = list(itertools.islice(batches, skip, skip + 1))  # the draws happen here
            batches = itertools.chain(first, batches)
        else:
            batches = iter(loader.batch_sampler)
            next(itertools.islice(batches, skip, skip), None)
        self.skipped = skip
        return batches

    def track(self, batches: Iterator[dict]) -> Iterator[dict]:
        """``batches``, counted as the consumer takes them (called after the base seed's draw)."""
        if self.global_before_draw is not None:
            torch.set_rng_state(self.global_before_draw)
            self.global_before_draw = None
        return self._counted(batches)

    def _counted(self, batches: Iterator[dict]) -> Iterator[dict]:
        try:
            for batch in batches:
                self.taken += 1
                yield batch
            self.in_epoch = False
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def state_dict(self) -> dict[str, Any]:
        """See :meth:`BatchLoader.state_dict`."""
        if self.kind is None:
            raise InvalidArgumentError(
                f"BatchLoader.state_dict() cannot record the place of a {type(self.sampler).__name__}:"
                f" its order may come from anything. Use one of {_SUPPORTED}."
            )
        if self.pending is not None:  # loaded and not resumed yet: the same state again
            return dict(self.pending)
        loader = self.loader
        state: dict[str, Any] = {
            "format": STATE_FORMAT,
            "sampler_kind": self.kind,
            "size": len(loader.dataset),
            "batch_size": loader.batch_size,
            "drop_last": loader.drop_last,
            "in_epoch": self.in_epoch,
            "batches": self.skipped + self.taken if self.in_epoch else 0,
        }
        if self.in_epoch:
            if self.drawn_from is None:  # iter(loader) without a batch yet: nothing drawn since
                self.drawn_from = self._generator_states()
            state["generators"] = dict(self.drawn_from)
        else:
            state["generators"] = self._generator_states(include_global=False)
        sampler = self.sampler
        if self.kind == "elastic":
            used = self.taken * loader.batch_size if self.in_epoch else None
            state["sampler"] = sampler.state_dict(yielded=used)
        elif self.kind == "distributed":
            state["sampler"] = {k: getattr(sampler, k) for k in ("epoch", *_DISTRIBUTED_ARGS)}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """See :meth:`BatchLoader.load_state_dict`."""
        self._check(state)
        if self.kind == "elastic":
            self.sampler.load_state_dict(state["sampler"])
        elif self.kind == "distributed":
            self.sampler.set_epoch(state["sampler"]["epoch"])
        self.pending = dict(state) if state["in_epoch"] else None
        if self.pending is None:
            self._set_generators(state["generators"])
        self.in_epoch, self.taken, self.skipped, self.drawn_from = False, 0, 0, None

    def _generators(self) -> dict[str, torch.Generator | None]:
        """The generators that the epoch's order comes from, by role (None: torch's global one)."""
        gens: dict[str, torch.Generator | None] = {}
        own = self.loader.generator
        if own is not None:
            gens["loader"] = own
        if self.kind == "drawing":
            drawn = self.sampler.generator
            if drawn is None:
                gens["global"] = None
            elif drawn is not own:
                gens["sampler"] = drawn
        return gens

    def _generator_states(self, include_global: bool = True) -> dict[str, torch.Tensor]:
        states = {}
        for role, gen in self._generators().items():
            if gen is not None:
                states[role] = pack_generator_state(gen.get_state())
            elif include_global:
                states[role] = pack_generator_state(torch.get_rng_state())
        return states

    def _set_generators(self, states: dict[str, torch.Tensor]) -> None:
        for role, gen in self._generators().items():
            if gen is not None:
                gen.set_state(unpack_generator_state(states[role]))

    def _check(self, state) -> None:
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise InvalidArgumentError(
                f"Not a state of BatchLoader: format {found!r}, expected {STATE_FORMAT!r}. Pass what"
                " loader.state_dict() returned."
            )
        loader = self.loader
        mine: dict[str, Any] = {"sampler_kind": self.kind, "size": len(loader.dataset)}
        if self.kind != "elastic":  # the elastic sampler counts samples, not batches
            mine.update(batch_size=loader.batch_size, drop_last=loader.drop_last)
        differ = {k: (state.get(k), v) for k, v in mine.items() if state.get(k) != v}
        saved, expected = set(state.get("generators", {})), set(self._generators())
        if not state.get("in_epoch"):
            expected.discard("global")  # between epochs torch's global generator is the user's
        if saved != expected:
            differ["generators"] = (sorted(saved), sorted(expected))
        if self.kind == "distributed":
            sampler, saved = self.sampler, state["sampler"]
            for key in _DISTRIBUTED_ARGS:
                if saved[key] != getattr(sampler, key):
                    differ[f"sampler.{key}"] = (saved[key], getattr(sampler, key))
        if differ:
            said = ", ".join(f"{k}={old!r} in the state, {new!r} here" for k, (old, new) in differ.items())
            hint = (
                " A DistributedSampler deals its order by the number of ranks: to resume on another"
                " number, use bioscan_h5.samplers.ElasticDistributedSampler (README: Preemptible jobs)."
                if "sampler.num_replicas" in differ
                else ""
            )
            raise InvalidArgumentError(
                f"The state is for another loader ({said}): build the loader as the job that saved it"
                f" did (dataset, sampler, generator, batch_size, drop_last).{hint}"
            )
