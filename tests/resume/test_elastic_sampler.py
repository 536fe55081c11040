"""ElasticDistributedSampler in one process: DistributedSampler's shares; resumed mid-epoch on another
number of ranks (2 -> 3, 3 -> 2, 8 -> 4) it goes on with the same global order, under a plain
iteration, a DataLoader with workers, and torchdata's StatefulDataLoader."""

from __future__ import annotations

import io

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from bioscan_h5.errors import InvalidArgumentError
from bioscan_h5.samplers import ElasticDistributedSampler


class Indexed(Dataset):
    """Sample ``i`` is ``i``: what a loader yields is the order its sampler gave."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def _saved(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _expected(n: int, epoch: int, seed: int = 0) -> list[int]:
    """DistributedSampler's order of the epoch (its documented rule)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()


def _places(shares: list[list[int]]) -> list[int]:
    """Rank shares of one round or more, back in the order of the global order's places."""
    return [i for place in zip(*shares, strict=True) for i in place]


@pytest.mark.parametrize("n", [1, 7, 96, 101])
@pytest.mark.parametrize("world", [1, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_an_uninterrupted_epoch_is_distributed_samplers(n, world, drop_last):
    for rank in range(world):
        ours = ElasticDistributedSampler(range(n), world, rank, seed=5, drop_last=drop_last)
        theirs = DistributedSampler(range(n), world, rank, seed=5, drop_last=drop_last)
        for epoch in (0, 3):
            ours.set_epoch(epoch)
            theirs.set_epoch(epoch)
            assert list(ours) == list(theirs)
            assert len(ours) == len(theirs)


@pytest.mark.parametrize(("before", "after"), [(2, 3), (3, 2), (8, 4), (1, 5)])
@pytest.mark.parametrize("n", [100, 997])
def test_resumed_on_another_number_of_ranks(before, after, n):
    batch = 6
    samplers = [ElasticDistributedSampler(range(n), before, r, seed=1) for r in range(before)]
    for s in samplers:
        s.set_epoch(2)
    iters = [iter(s) for s in samplers]
    steps = (n // before // batch) // 2
    used = [[next(it) for _ in range(steps * batch)] for it in iters]
    states = [_saved(s.state_dict(yielded=steps * batch)) for s in samplers]
    assert all(state == states[0] for state in states)  # the same on every rank: save rank 0's
    assert states[0]["used"] == steps * batch * before

    resumed = [ElasticDistributedSampler(range(n), after, r, seed=1) for r in range(after)]
    for s in resumed:
        s.load_state_dict(states[0])
        assert s.epoch == 2
    rest = [list(s) for s in resumed]
    assert len({len(r) for r in rest}) == 1
    assert len(resumed[0]) == len(
        ElasticDistributedSampler(range(n), after, 0, seed=1)
    )  # a new epoch's share
    order = _places(used) + _places(rest)
    expected = _expected(n, 2, seed=1)
    assert order[:n] == expected  # every index once, in the order of the uninterrupted job
    assert order[n:] == expected[: len(order) - n] and len(order) - n < after  # the padding


def test_a_dataloader_with_workers_counts_what_the_loop_used():
    """Workers take indices ahead: ``state_dict(yielded=...)`` says what was used."""
    ds, batch, n = Indexed(90), 4, 90
    shares = []
    for rank in range(2):
        sampler = ElasticDistributedSampler(ds, num_replicas=2, rank=rank, seed=3)
        loader = DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=2)
        it = iter(loader)
        shares.append([i for _ in range(5) for i in next(it).tolist()])
        assert sampler.state_dict()["used"] > 5 * batch * 2  # the workers' indices in flight count
        state = sampler.state_dict(yielded=5 * batch)
        del it
    seen = _places(shares)
    resumed = []
    for rank in range(3):
        sampler = ElasticDistributedSampler(ds, num_replicas=3, rank=rank, seed=3)
        sampler.load_state_dict(state)
        resumed.append([i for b in DataLoader(ds, batch_size=batch, sampler=sampler) for i in b.tolist()])
    order, expected = seen + _places(resumed), _expected(n, 0, seed=3)
    assert order[:n] == expected and order[n:] == expected[: len(order) - n]  # 50 left: one padded place


@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")  # torchdata 0.11 on torch 2.14
def test_torchdata_stateful_dataloader_resumes_on_another_number_of_ranks():
    stateful = pytest.importorskip("torchdata.stateful_dataloader")
    ds, batch, n = Indexed(120), 5, 120
    shares, state = [], None
    for rank in range(3):
        sampler = ElasticDistributedSampler(ds, num_replicas=3, rank=rank, seed=4)
        sampler.set_epoch(1)
        loader = stateful.StatefulDataLoader(ds, batch_size=batch, sampler=sampler, num_workers=2)
        it = iter(loader)
        shares.append([i for _ in range(3) for i in next(it).tolist()])
        state = _saved(loader.state_dict())  # taken where the loop is, whatever the workers hold
        del it
    resumed = []
    for rank in range(2):
        sampler = ElasticDistributedSampler(ds, num_replicas=2, rank=rank, seed=4)
        loader = stateful.StatefulDataLoader(ds, batch_size=batch, sampler=sampler, num_workers=2)
        loader.load_state_dict(state)
        resumed.append([i for b in loader for i in b.tolist()])
    order, expected = _places(shares) + _places(resumed), _expected(n, 1, seed=4)
    assert order[:n] == expected and order[n:] == expected[: len(order) - n]  # 75 left: one padded place


def test_a_finished_epoch_goes_on_with_the_next():
    sampler = ElasticDistributedSampler(range(10), num_replicas=2, rank=0)
    first = list(sampler)
    state = sampler.state_dict()
    assert state["used"] == 10
    again = ElasticDistributedSampler(range(10), num_replicas=2, rank=1)
    again.load_state_dict(state)
    assert list(again) == []  # nothing of epoch 0 is left
    again.set_epoch(1)
    assert list(again) == _rank_share(10, 1, 2, 1)
    assert first == _rank_share(10, 0, 2, 0)


def _rank_share(n: int, epoch: int, world: int, rank: int) -> list[int]:
    s = DistributedSampler(range(n), world, rank, seed=0)
    s.set_epoch(epoch)
    return list(s)


def test_a_mid_epoch_state_and_another_epoch_are_refused():
    sampler = ElasticDistributedSampler(range(50), num_replicas=2, rank=0)
    it = iter(sampler)
    next(it)
    state = sampler.state_dict()
    other = ElasticDistributedSampler(range(50), num_replicas=3, rank=0)
    other.load_state_dict(state)
    other.set_epoch(1)
    with pytest.raises(InvalidArgumentError, match=r"set_epoch\(0\) to resume"):
        iter(other)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(seed=2), "seed=0 in the state, 2 here"),
        (dict(shuffle=False), "shuffle=True in the state, False here"),
    ],
)
def test_a_state_of_another_order_is_refused(kw, match):
    state = ElasticDistributedSampler(range(50), num_replicas=1, rank=0).state_dict()
    with pytest.raises(InvalidArgumentError, match=match):
        ElasticDistributedSampler(range(50), num_replicas=1, rank=0, **kw).load_state_dict(state)
    with pytest.raises(InvalidArgumentError, match="size=50 in the state, 49 here"):
        ElasticDistributedSampler(range(49), num_replicas=1, rank=0).load_state_dict(state)
    with pytest.raises(InvalidArgumentError, match="Not a state of ElasticDistributedSampler"):
        ElasticDistributedSampler(range(50), 1, 0).load_state_dict({"yielded": 3})


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(num_replicas=0), "num_replicas must be an integer >= 1, got 0"),
        (dict(num_replicas=2, rank=2), r"rank must be an integer in \[0, 1\]"),
        (dict(num_replicas=2, rank=0, seed=1.5), "seed must be an integer, got 1.5"),
    ],
)
def test_bad_arguments(kw, match):
    with pytest.raises(InvalidArgumentError, match=match):
        ElasticDistributedSampler(range(5), **kw)
