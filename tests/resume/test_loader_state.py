"""BatchLoader.state_dict / load_state_dict in one process: a state taken after batch k, loaded
into a new loader (other generator, other threads), yields what the uninterrupted loader
yields after batch k, then the later epochs; the state is small, plain and quick to take."""

from __future__ import annotations

import io
import pickle
import time

import pytest
import torch
from torch.utils.data import DistributedSampler, RandomSampler, WeightedRandomSampler

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.errors import InvalidArgumentError
from bioscan_h5.samplers import ElasticDistributedSampler
from tests.helpers.dataset import CLEAN

EPOCHS = 3
BATCH = 24


@pytest.fixture(scope="module")
def ds(sample_root_5m, store_5m) -> BIOSCAN5M:
    return BIOSCAN5M(str(sample_root_5m.root), split=CLEAN, build=False, modality=("dna",))


def _stream(loader, epochs: int) -> list[list[int]]:
    """The batches of ``epochs`` epochs, as lists of dataset indices."""
    return [batch["index"].tolist() for _ in range(epochs) for batch in loader]


def _saved(state: dict) -> dict:
    """``state`` through torch.save and torch.load(weights_only=True), as a checkpoint goes."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _interrupted(make, stop_epoch: int, stop_batch: int) -> tuple[list[list[int]], dict]:
    """Run a loader until batch ``stop_batch`` of epoch ``stop_epoch``; its stream and state there."""
    loader, seen = make(), []
    for epoch in range(stop_epoch + 1):
        for k, batch in enumerate(loader, 1):
            seen.append(batch["index"].tolist())
            if epoch == stop_epoch and k == stop_batch:
                return seen, _saved(loader.state_dict())
    return seen, _saved(loader.state_dict())


CASES = {
    "shuffle+generator": lambda ds, w, g: batch_loader(ds, BATCH, shuffle=True, generator=g, num_workers=w),
    "sequential+generator": lambda ds, w, g: batch_loader(ds, BATCH, generator=g, num_workers=w),
    "sampler with its own generator, drop_last": lambda ds, w, g: batch_loader(
        ds,
        BATCH,
        sampler=RandomSampler(ds, replacement=True, num_samples=150, generator=g),
        drop_last=True,
        num_workers=w,
        generator=torch.Generator().manual_seed(g.initial_seed() + 1),
    ),
    "elastic": lambda ds, w, g: batch_loader(
        ds, BATCH, sampler=ElasticDistributedSampler(ds, seed=7), num_workers=w
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(("workers_before", "workers_after"), [(0, 2), (2, 0)])
@pytest.mark.parametrize("stop", [(0, 0), (0, 3), (1, 1), (1, "last")])
def test_a_loaded_state_goes_on_where_the_loader_was(ds, case, workers_before, workers_after, stop):
    make = CASES[case]
    elastic = case == "elastic"

    def run_epochs(loader, epochs, first_epoch=0):
        out = []
        for e in range(first_epoch, first_epoch + epochs):
            if elastic:
                loader.sampler.set_epoch(e)
            out += [b["index"].tolist() for b in loader]
        return out

    reference = run_epochs(make(ds, workers_before, torch.Generator().manual_seed(5)), EPOCHS)
    per_epoch = len(reference) // EPOCHS
    stop_epoch, stop_batch = stop
    stop_batch = per_epoch if stop_batch == "last" else stop_batch

    first = make(ds, workers_before, torch.Generator().manual_seed(5))
    seen: list = []
    state = None
    for e in range(stop_epoch + 1):
        if elastic:
            first.sampler.set_epoch(e)
        if e == stop_epoch and stop_batch == 0:  # before the epoch's first batch
            state = _saved(first.state_dict())
            break
        for k, batch in enumerate(first, 1):
            seen.append(batch["index"].tolist())
            if e == stop_epoch and k == stop_batch:
                state = _saved(first.state_dict())
                break
    assert state is not None

    resumed = make(ds, workers_after, torch.Generator().manual_seed(12345))  # another generator state
    resumed.load_state_dict(state)
    # the epoch of the state, then the later ones (a loop resumed from its saved epoch counter)
    seen += run_epochs(resumed, EPOCHS - stop_epoch, first_epoch=stop_epoch)
    assert seen == reference


def test_without_a_generator_the_global_generator_stays_the_users(ds):
    torch.manual_seed(3)
    reference = _stream(batch_loader(ds, BATCH, shuffle=True), EPOCHS)

    torch.manual_seed(3)
    loader = batch_loader(ds, BATCH, shuffle=True)
    seen = _stream(loader, 1)
    it = iter(loader)
    seen += [next(it)["index"].tolist() for _ in range(4)]
    state, rng = _saved(loader.state_dict()), torch.get_rng_state()  # the user saves the global one
    it.close()

    torch.manual_seed(99)  # a new process
    resumed = batch_loader(ds, BATCH, shuffle=True, num_workers=2)
    resumed.load_state_dict(state)
    torch.set_rng_state(rng)
    seen += _stream(resumed, EPOCHS - 1)
    assert seen == reference


def test_a_state_loaded_and_saved_again_is_the_same(ds):
    loader = batch_loader(ds, BATCH, shuffle=True, generator=torch.Generator().manual_seed(1))
    it = iter(loader)
    next(it), next(it)
    state = loader.state_dict()
    again = batch_loader(ds, BATCH, shuffle=True, generator=torch.Generator())
    again.load_state_dict(state)
    assert again.state_dict().keys() == state.keys()
    assert again.state_dict()["batches"] == 2


def test_a_distributed_sampler_resumes_on_as_many_ranks(ds):
    def make(rank, g=None):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, seed=3)
        return batch_loader(ds, BATCH, sampler=sampler, num_workers=1)

    loader = make(0)
    loader.sampler.set_epoch(1)
    reference = _stream(loader, 1)
    it = iter(loader)
    head = [next(it)["index"].tolist() for _ in range(2)]
    state = _saved(loader.state_dict())
    resumed = make(1)  # another rank, same world size: what matters is the epoch and the count
    resumed.load_state_dict(state)
    assert resumed.sampler.epoch == 1
    tail = _stream(resumed, 1)
    other = make(1)
    other.sampler.set_epoch(1)
    assert head == reference[:2]
    assert tail == _stream(other, 1)[2:]

    three = batch_loader(ds, BATCH, sampler=DistributedSampler(ds, num_replicas=3, rank=0, seed=3))
    with pytest.raises(InvalidArgumentError, match="ElasticDistributedSampler"):
        three.load_state_dict(state)


def test_states_of_another_loader_are_refused(ds):
    loader = batch_loader(ds, BATCH, shuffle=True, generator=torch.Generator())
    state = loader.state_dict()
    with pytest.raises(InvalidArgumentError, match="batch_size=24 in the state, 16 here"):
        batch_loader(ds, 16, shuffle=True, generator=torch.Generator()).load_state_dict(state)
    with pytest.raises(InvalidArgumentError, match="sampler_kind='drawing' in the state, 'fixed' here"):
        batch_loader(ds, BATCH, generator=torch.Generator()).load_state_dict(state)
    with pytest.raises(InvalidArgumentError, match="Not a state of BatchLoader"):
        loader.load_state_dict({"epoch": 3})


def test_a_sampler_of_unknown_order_is_refused_at_state_dict(ds):
    class Mine(torch.utils.data.Sampler):
        def __iter__(self):
            return iter(range(len(ds)))

        def __len__(self):
            return len(ds)

    loader = batch_loader(ds, BATCH, sampler=Mine())
    with pytest.raises(InvalidArgumentError, match="cannot record the place of a Mine"):
        loader.state_dict()
    weighted = batch_loader(ds, BATCH, sampler=WeightedRandomSampler([1.0] * len(ds), 40))
    assert weighted.state_dict()["sampler_kind"] == "drawing"


SPLIT_5M = 5_150_000


def _held_bytes(state) -> int:
    """What a state holds: its tensors' bytes plus the pickle of everything else.

    (``torch.save`` wraps any object in a zip container of about 1.2 KB more.)
    """
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return len(pickle.dumps(list(state))) + sum(_held_bytes(v) for v in state.values())
    return len(pickle.dumps(state))


def _median_seconds(call, n: int = 50) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return sorted(times)[n // 2]


@pytest.mark.parametrize("which", ["generator", "global generator", "elastic"])
def test_the_state_of_a_5m_split_is_small_plain_and_quick(ds, which):
    """The cost does not grow with the split: samplers over 5.15M indices."""
    big = range(SPLIT_5M)
    if which == "elastic":
        sampler = ElasticDistributedSampler(big, num_replicas=8, rank=3)
    else:
        gen = torch.Generator().manual_seed(0) if which == "generator" else None
        sampler = RandomSampler(big, generator=gen)
    loader = batch_loader(ds, 256, sampler=sampler, generator=getattr(sampler, "generator", None))
    it = iter(loader)  # an epoch begun (its batches would be out of this small store's range)
    seconds = _median_seconds(loader.state_dict)
    state = _saved(loader.state_dict())
    assert state["in_epoch"] is True
    assert seconds < 1e-3, seconds
    assert _held_bytes(state) < 4096, _held_bytes(state)
    it.close()


def test_the_elastic_sampler_state_mid_epoch_of_a_5m_split():
    sampler = ElasticDistributedSampler(range(SPLIT_5M), num_replicas=8, rank=3)
    it = iter(sampler)
    for _ in range(300_000):
        next(it)
    seconds = _median_seconds(sampler.state_dict)
    state = _saved(sampler.state_dict())
    assert state["used"] == 300_000 * 8
    assert seconds < 1e-4, seconds
    assert _held_bytes(state) < 512, _held_bytes(state)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_on_a_device_count_as_the_consumer_takes_them(ds):
    """With ``device=``, one batch is in flight ahead of the one yielded: it does not count."""

    def make():
        return batch_loader(
            ds, BATCH, shuffle=True, generator=torch.Generator().manual_seed(2), device="cuda"
        )

    reference = _stream(make(), 2)
    loader = make()
    it = iter(loader)
    seen = [next(it)["index"].tolist() for _ in range(5)]
    state = _saved(loader.state_dict())
    it.close()
    resumed = batch_loader(ds, BATCH, shuffle=True, generator=torch.Generator(), num_workers=2)
    resumed.load_state_dict(state)
    seen += _stream(resumed, 2)
    assert seen == reference


def test_with_the_elastic_sampler_the_batch_size_may_change(ds):
    def make(batch_size):
        return batch_loader(ds, batch_size, sampler=ElasticDistributedSampler(ds, seed=2), num_workers=1)

    reference = [i for b in _stream(make(BATCH), 1) for i in b]
    loader = make(BATCH)
    it = iter(loader)
    seen = [i for _ in range(3) for i in next(it)["index"].tolist()]
    state = _saved(loader.state_dict())
    it.close()
    resumed = make(10)
    resumed.load_state_dict(state)
    seen += [i for b in _stream(resumed, 1) for i in b]
    assert seen == reference
