"""batch_loader without worker processes (issue 11): the ring of reused batch buffers and its
documented lifetime, ``copy=True``, gather threads (errors, early exits), samplers, seeds,
``drop_last``, ``batch_transform`` and ``device``."""

from __future__ import annotations

import threading
import warnings

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from bioscan_h5 import BIOSCAN5M, ImageUnavailableError, batch_loader
from bioscan_h5.datasets.loader import gather_batch
from bioscan_h5.errors import InvalidArgumentError, KeptBatchWarning
from tests.helpers.dataset import CLEAN

KW = dict(split=CLEAN, image_format="tensor", modality=("image", "dna"), target_type=["genus", "species"])


@pytest.fixture(scope="module")
def ds(sample_root_5m, store_5m) -> BIOSCAN5M:
    return BIOSCAN5M(str(sample_root_5m.root), build=False, **KW)


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("bioscan-h5-gather")]


def _snapshot(batch: dict) -> dict:
    return {k: v.clone() if isinstance(v, torch.Tensor) else list(v) for k, v in batch.items()}


def _equal(batch: dict, snap: dict) -> bool:
    return all(
        torch.equal(batch[k], v) if isinstance(v, torch.Tensor) else batch[k] == v for k, v in snap.items()
    )


def _check_against_samples(ds, batch: dict) -> None:
    ref = gather_batch(ds, batch["index"].tolist())
    assert set(ref) == set(batch)
    assert _equal(batch, _snapshot(ref))


# ----------------------------------------------------------------------------- buffer lifetime
@pytest.mark.parametrize("num_workers", [0, 1, 2])
def test_a_kept_batch_stays_intact_and_the_loader_says_so_once(ds, num_workers):
    loader = batch_loader(
        ds, batch_size=16, shuffle=True, num_workers=num_workers, generator=torch.Generator().manual_seed(0)
    )
    assert loader.lifetime == 2 and loader.ring_size == 2 + (num_workers + 1 if num_workers else 1) - 1
    assert len(loader) > 2 * loader.ring_size
    it = iter(loader)
    kept = next(it)
    snap = _snapshot(kept)
    _check_against_samples(ds, kept)
    with pytest.warns(KeptBatchWarning, match="copy=True") as caught:
        later = [next(it) for _ in range(2 * loader.ring_size)]
    assert len(caught) == 1  # once per loader
    assert _equal(kept, snap)
    assert all(b["image"].data_ptr() != kept["image"].data_ptr() for b in later)
    _check_against_samples(ds, later[-1])
    it.close()
    assert not _threads()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_loop_that_keeps_nothing_reuses_its_buffers(ds, num_workers):
    """The steady state of a training loop: no new buffer, no warning, over several epochs."""
    loader = batch_loader(ds, batch_size=16, shuffle=True, num_workers=num_workers)
    ptrs = set()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            for b in loader:
                ptrs.add(b["image"].data_ptr())
                loss = b["image"].float().mean()  # a model's use: nothing outlives the step
                del loss
    assert len(ptrs) <= loader.ring_size


@pytest.mark.parametrize("num_workers", [0, 2])
def test_copy_true_batches_stay_intact_across_epochs(ds, num_workers):
    loader = batch_loader(ds, batch_size=16, shuffle=True, num_workers=num_workers, copy=True)
    assert loader.ring_size == 0
    kept = [(b, _snapshot(b)) for _ in range(3) for b in loader]
    assert len(kept) == 3 * len(loader)
    assert len({b["image"].data_ptr() for b, _ in kept}) == len(kept)
    for b, snap in kept:
        assert _equal(b, snap)
        _check_against_samples(ds, b)


def test_the_lifetime_holds_across_an_epoch_boundary(ds):
    loader = batch_loader(ds, batch_size=16, num_workers=2)
    last = None
    for b in loader:
        last = b
    snap = _snapshot(last)
    first = next(iter(loader))  # one more batch taken, in the next epoch
    assert _equal(last, snap) and first["index"].tolist() == list(range(16))
    _check_against_samples(ds, first)


# ----------------------------------------------------------------------------- threads
@pytest.mark.parametrize("num_workers", [1, 2])
def test_an_error_in_a_gather_thread_reaches_the_consumer(sample_root_5m, store_5m, num_workers):
    bad_split = BIOSCAN5M(
        str(sample_root_5m.root), build=False, split="val", modality=("image",), target_type=[]
    )
    with pytest.raises(ImageUnavailableError, match="drop_bad_images=True"):
        for _ in batch_loader(bad_split, batch_size=4, num_workers=num_workers):
            pass
    assert not _threads()


@pytest.mark.parametrize("num_workers", [1, 2])
def test_leaving_early_leaves_no_thread(ds, num_workers):
    for _ in batch_loader(ds, batch_size=8, num_workers=num_workers):
        assert _threads()
        break
    assert not _threads()
    it = iter(batch_loader(ds, batch_size=8, num_workers=num_workers))
    next(it)
    del it
    assert not _threads()


def test_num_workers_give_the_same_batches(ds):
    runs = {
        w: [
            _snapshot(b)
            for b in batch_loader(
                ds, batch_size=24, shuffle=True, num_workers=w, generator=torch.Generator().manual_seed(4)
            )
        ]
        for w in (0, 1, 2)
    }
    for w in (1, 2):
        assert len(runs[w]) == len(runs[0])
        assert all(_equal(a, b) for a, b in zip(runs[w], runs[0]))


def test_batch_transform_and_worker_init_fn(ds):
    seen_threads: list[int] = []

    def transform(batch: dict) -> dict:
        batch = dict(batch)
        batch["mean"] = batch["image"].float().mean(dim=(1, 2, 3))
        return batch

    loader = batch_loader(
        ds, batch_size=32, num_workers=2, batch_transform=transform, worker_init_fn=seen_threads.append
    )
    for b in loader:
        assert torch.allclose(b["mean"], b["image"].float().mean(dim=(1, 2, 3)))
    assert sorted(seen_threads) == [0, 1]


# ----------------------------------------------------------------------------- order
def _orders(loader, epochs: int = 2) -> list[list[int]]:
    return [[i for b in loader for i in b["index"].tolist()] for _ in range(epochs)]


def _targets(loader) -> torch.Tensor:
    """The targets of one epoch, as a user collects them (``targets.append(...)``)."""
    targets = []
    for batch in loader:
        targets.append(batch["target"] if isinstance(batch, dict) else torch.stack(batch[2], dim=1))
    return torch.cat(targets)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_same_generator_same_order_as_a_dataloader(ds, num_workers):
    """``batch_loader(shuffle=True, generator=g)`` draws the order ``DataLoader(shuffle=True, generator=g)`` does.

    DataLoader draws its base seed from ``g`` before its sampler shuffles; switching loaders
    must not change the experiment.
    """
    ours = batch_loader(
        ds, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(5), num_workers=num_workers
    )
    order = DataLoader(
        range(len(ds)), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(5)
    )
    for _ in range(2):  # two epochs: the generator goes on as DataLoader's does
        assert _orders(ours, 1)[0] == torch.cat(list(order)).tolist()
    # without a generator both draw from torch's global one
    torch.manual_seed(11)
    mine = _orders(batch_loader(ds, batch_size=32, shuffle=True, num_workers=num_workers))
    torch.manual_seed(11)
    dl = DataLoader(range(len(ds)), batch_size=32, shuffle=True)
    assert mine == [torch.cat(list(dl)).tolist() for _ in range(2)]


def test_distributed_sampler_covers_each_index_once_per_epoch(ds):
    per_epoch = []
    for epoch in (0, 1):
        seen = []
        for rank in (0, 1):
            sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=3)
            sampler.set_epoch(epoch)
            got = [
                i
                for b in batch_loader(ds, batch_size=16, sampler=sampler, num_workers=2)
                for i in b["index"].tolist()
            ]
            assert got == list(sampler)
            seen.append(got)
        assert len(seen[0]) == len(seen[1]) == (len(ds) + 1) // 2
        assert sorted(seen[0] + seen[1])[: len(ds)] == sorted(set(seen[0] + seen[1])) == list(range(len(ds)))
        per_epoch.append(seen)
    assert per_epoch[0] != per_epoch[1]  # set_epoch reshuffles


@pytest.mark.parametrize("num_workers", [0, 2])
def test_drop_last(ds, num_workers):
    sizes = [
        len(b["index"]) for b in batch_loader(ds, batch_size=50, drop_last=True, num_workers=num_workers)
    ]
    assert sizes == [50] * (len(ds) // 50)
    sizes = [len(b["index"]) for b in batch_loader(ds, batch_size=50, num_workers=num_workers)]
    assert sum(sizes) == len(ds) and sizes[-1] == (len(ds) % 50 or 50)


# ----------------------------------------------------------------------------- arguments
def test_dataloader_arguments_are_accepted(ds):
    loader = batch_loader(ds, batch_size=64, num_workers=2, prefetch_factor=3, timeout=60, pin_memory=False)
    assert loader.ring_size == 2 + 6 - 1
    assert sum(len(b["index"]) for b in loader) == len(ds)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"num_workers": -1}, "num_workers must be an integer >= 0"),
        ({"prefetch_factor": 0}, "prefetch_factor must be an integer >= 1"),
        ({"device": "mps"}, "device='mps' is not supported"),
        ({"device": "not a device"}, "Unknown device"),
    ],
)
def test_bad_arguments(ds, kw, match):
    with pytest.raises(InvalidArgumentError, match=match):
        batch_loader(ds, **kw)


def test_device_cpu_and_cuda(ds):
    cpu = next(iter(batch_loader(ds, batch_size=8, device="cpu")))
    assert cpu["image"].device.type == "cpu"
    _check_against_samples(ds, cpu)
    if torch.cuda.is_available():  # pragma: no cover - needs a GPU
        loader = batch_loader(ds, batch_size=8, device="cuda", num_workers=2, shuffle=True)
        for b in loader:
            assert b["image"].is_cuda
            ref = gather_batch(ds, b["index"].tolist())
            assert torch.equal(b["image"].cpu(), ref["image"])
    else:
        with pytest.raises(InvalidArgumentError, match=r"device='cuda' asks for CUDA.*is False"):
            batch_loader(ds, device="cuda")
        with pytest.raises(InvalidArgumentError):
            batch_loader(ds, device=torch.device("cuda", 0))


def test_two_iterators_of_one_loader_use_rings_of_their_own(ds):
    loader = batch_loader(ds, batch_size=32, num_workers=1)
    for a, b in zip(loader, loader):
        assert a["image"].data_ptr() != b["image"].data_ptr()
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["index"], b["index"])
    assert len(loader._free) == 1  # one ring is kept for the next epoch


# ----------------------------------------------------------------------------- the slot's bookkeeping
def test_a_slot_knows_which_buffers_are_still_referenced():
    from bioscan_h5.datasets.ring import Slot

    slot = Slot(4)
    batch = slot.adopt({"x": torch.arange(4), "half": torch.ones(4, dtype=torch.bfloat16), "names": ["a"]})
    assert batch["half"].dtype == torch.bfloat16 and batch["names"] == [
        "a"
    ]  # numpy has no bfloat16: kept as is
    assert slot.kept() == ["x"]
    view = batch["x"][1:].numpy()
    del batch
    assert slot.kept() == ["x"]  # a numpy view of a view still holds the buffer
    del view
    assert slot.kept() == []
    held = slot.buffer("x", (4,), torch.int64)
    assert slot.release_kept() == ["x"] and "x" not in slot.buffers
    assert held.data_ptr() != slot.buffer("x", (4,), torch.int64).data_ptr()  # a new buffer
