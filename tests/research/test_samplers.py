"""Samplers (issue 22): balance, K x M shape, no sample twice before its label's samples are
used up, determinism for a seed, the same global epoch on every replica (in-process and under a
real torchrun), and use by DataLoader and batch_loader."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from torch.utils.data import DataLoader, Subset

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.errors import InvalidArgumentError
from bioscan_h5.samplers import (
    BalancedSampler,
    DistributedBalancedSampler,
    KClassMSampler,
    PositivePairSampler,
    draw_positives,
)
from tests.datasets.test_distributed import _free_port, _torchrun


def _skewed_labels(n: int = 20_000, classes: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = (rng.zipf(1.6, n) % classes).astype(np.int64)
    labels[rng.random(n) < 0.1] = -1  # missing labels are never drawn
    return labels


def test_balanced_epoch_gives_every_label_the_same_share():
    labels = _skewed_labels()
    s = BalancedSampler(labels, seed=1)
    idx = s.indices()
    assert len(idx) == len(s) == (labels >= 0).sum()
    counts = np.bincount(labels[idx], minlength=50)
    present = np.unique(labels[labels >= 0])
    assert counts[present].max() - counts[present].min() <= 1
    assert (labels[idx] >= 0).all()
    # rounds: every window of num_classes consecutive indices holds each label once
    c = len(present)
    for r in range(5):
        assert sorted(labels[idx[r * c : (r + 1) * c]]) == sorted(present)


def test_balanced_epoch_repeats_no_sample_before_its_label_is_used_up():
    labels = _skewed_labels()
    smallest = np.bincount(labels[labels >= 0]).astype(float)
    smallest[smallest == 0] = np.inf
    c = (np.bincount(labels[labels >= 0]) > 0).sum()
    s = BalancedSampler(labels, num_samples=int(c * smallest.min()), seed=3)
    idx = s.indices()
    assert len(np.unique(idx)) == len(idx)
    # beyond: a label's samples repeat only after all of them came once
    idx = BalancedSampler(labels, seed=3).indices()
    for label in np.unique(labels[labels >= 0])[:10]:
        drawn = idx[labels[idx] == label]
        n = (labels == label).sum()
        assert len(np.unique(drawn[:n])) == min(n, len(drawn))


def test_balanced_with_replacement_is_uniform_over_labels():
    labels = _skewed_labels()
    idx = BalancedSampler(labels, num_samples=100_000, replacement=True, seed=0).indices()
    counts = np.bincount(labels[idx])
    counts = counts[counts > 0]
    expected = 100_000 / len(counts)
    chi2 = (((counts - expected) ** 2) / expected).sum()
    assert chi2 < len(counts) + 6 * np.sqrt(2 * len(counts))  # ~6 sigma of chi2(dof)


def test_seeded_epochs_are_repeatable_and_differ():
    labels = _skewed_labels()
    a, b = BalancedSampler(labels, seed=7), BalancedSampler(labels, seed=7)
    first = a.indices()
    np.testing.assert_array_equal(first, b.indices())
    assert not np.array_equal(first, a.indices())  # the next epoch
    b.set_epoch(0)
    np.testing.assert_array_equal(b.indices(), first)


@pytest.mark.parametrize(("k", "m"), [(8, 4), (5, 3)])
def test_kxm_batches(k, m):
    labels = _skewed_labels()
    s = KClassMSampler(labels, k=k, m=m, seed=0)
    batches = s.batches()
    assert batches.shape == (len(s), k * m) and len(s) == (labels >= 0).sum() // (k * m)
    per = labels[batches].reshape(len(s), k, m)
    assert (per == per[:, :, :1]).all(), "each group of m samples shares one label"
    assert all(len(set(row)) == k for row in per[:, :, 0]), "k distinct labels per batch"
    # labels come from a stream of permutations (batches across two redrawn uniformly):
    # every label drawn about equally often, far more evenly than the samples are spread
    drawn = np.bincount(per[:, :, 0].ravel())
    drawn = drawn[drawn > 0]
    assert drawn.max() - drawn.min() <= 6 * np.sqrt(drawn.mean())
    big = np.bincount(labels[labels >= 0]) >= m
    ok = big[per[:, :, 0]]
    assert all(len(set(b)) == m for b in batches.reshape(len(s), k, m)[ok]), "no repeat in a label with >= m"


def test_kxm_refuses_more_labels_than_exist():
    with pytest.raises(InvalidArgumentError, match="k=60 labels per batch, but only"):
        KClassMSampler(_skewed_labels(), k=60, m=2)


def test_every_replica_gets_its_share_of_one_global_epoch():
    labels = _skewed_labels()
    world = 3
    whole = BalancedSampler(labels, seed=5).indices()
    shares = [DistributedBalancedSampler(labels, seed=5, num_replicas=world, replica=r) for r in range(world)]
    got = [s.indices() for s in shares]
    assert len({len(g) for g in got}) == 1
    padded = np.resize(whole, len(got[0]) * world)
    for r in range(world):
        np.testing.assert_array_equal(got[r], padded[r::world])
    kxm = [KClassMSampler(labels, k=4, m=2, seed=5, num_replicas=2, replica=r) for r in range(2)]
    global_batches = KClassMSampler(labels, k=4, m=2, seed=5, num_batches=2 * len(kxm[0])).batches()
    for r, s in enumerate(kxm):
        np.testing.assert_array_equal(s.batches(), global_batches[r::2])


def test_distributed_sampler_needs_a_process_group():
    with pytest.raises(InvalidArgumentError, match="init_process_group"):
        DistributedBalancedSampler(_skewed_labels())


def test_positives_share_the_label_and_are_other_samples():
    labels = _skewed_labels()
    partner = draw_positives(labels, np.random.default_rng(0))
    has = partner >= 0
    singles = np.bincount(labels[labels >= 0])[labels[labels >= 0]] == 1
    assert (~has).sum() == (labels < 0).sum() + singles.sum()
    assert (labels[partner[has]] == labels[has]).all()
    assert (partner[has] != np.flatnonzero(has)).all()
    s = PositivePairSampler(labels, pairs_per_batch=64, seed=0)
    batches = list(s)
    assert len(batches) == len(s)
    for batch in batches[:20]:
        a, p = np.array(batch[:64]), np.array(batch[64:])
        assert (labels[a] == labels[p]).all() and (a != p).all()
    anchors = np.concatenate([b[:64] for b in batches])
    assert len(np.unique(anchors)) == len(anchors)


@pytest.fixture(scope="module")
def ds(sample_root_5m, store_5m) -> BIOSCAN5M:
    return BIOSCAN5M(
        str(sample_root_5m.root), build=False, split="all", modality=("dna",), target_type="order"
    )


def test_with_a_dataset_a_subset_and_the_loaders(ds):
    s = KClassMSampler(ds, "order", k=2, m=3, seed=0)
    loader = DataLoader(ds, batch_sampler=s)
    for batch, want in zip(loader, KClassMSampler(ds, "order", k=2, m=3, seed=0)):
        got = ds.label_indices("order")[want]
        assert (batch[1].numpy() == got).all()  # the dataset's targets follow the sampler
    flat = KClassMSampler(ds, "order", k=2, m=3, seed=1)
    expected = KClassMSampler(ds, "order", k=2, m=3, seed=1).batches()
    seen = [b["index"].tolist() for b in batch_loader(ds, batch_sampler=flat)]
    assert seen == expected.tolist()
    again = KClassMSampler(ds, "order", k=2, m=3, seed=1)
    flat_seen = [
        b["index"].tolist() for b in batch_loader(ds, batch_size=6, sampler=again.flat(), drop_last=True)
    ]
    assert flat_seen == expected.tolist()
    with pytest.raises(InvalidArgumentError, match="batch_sampler"):
        batch_loader(ds, batch_sampler=again, shuffle=True)
    sub = Subset(ds, list(range(0, len(ds), 2)))
    idx = BalancedSampler(sub, "order", seed=0).indices()
    assert idx.max() < len(sub)
    sub_labels = ds.label_indices("order")[sub.indices]
    counts = np.bincount(sub_labels[idx])
    assert counts[counts > 0].max() - counts[counts > 0].min() <= 1


RANK_SCRIPT = """
import json, os, sys
import torch.distributed as dist
from bioscan_h5 import BIOSCAN5M
from bioscan_h5.samplers import DistributedBalancedSampler, DistributedKClassMSampler

dist.init_process_group("gloo")
ds = BIOSCAN5M(sys.argv[1], split="all", modality=("dna",), target_type="family")
bal = DistributedBalancedSampler(ds, seed=11)
kxm = DistributedKClassMSampler(ds, k=3, m=2, seed=11)
out = {"rank": dist.get_rank(), "balanced": [], "kxm": []}
for e in range(2):
    bal.set_epoch(e)
    kxm.set_epoch(e)
    out["balanced"].append(list(bal))
    out["kxm"].append(list(kxm))
with open(os.path.join(sys.argv[2], f"rank{dist.get_rank()}.json"), "w") as f:
    json.dump(out, f)
dist.destroy_process_group()
"""


@pytest.mark.subprocess
def test_same_global_epoch_on_every_rank_under_torchrun(sample_root_5m, store_5m, tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1")
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([repo, *filter(None, [env.get("PYTHONPATH")])])
    cmd = [*_torchrun(), "--nproc-per-node", "2", "--master-port", str(_free_port()), str(script)]
    res = subprocess.run(
        [*cmd, str(sample_root_5m.root), str(tmp_path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert res.returncode == 0, res.stderr[-4000:]
    recs = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    ds = BIOSCAN5M(str(sample_root_5m.root), split="all", modality=("dna",), target_type="family")
    for e in range(2):
        bal = BalancedSampler(ds, seed=11)
        bal.set_epoch(e)
        whole = np.resize(bal.indices(), 2 * len(recs[0]["balanced"][e]))
        for r in range(2):
            assert recs[r]["balanced"][e] == whole[r::2].tolist()
        kxm = KClassMSampler(ds, k=3, m=2, seed=11, num_batches=2 * len(recs[0]["kxm"][e]))
        kxm.set_epoch(e)
        batches = kxm.batches().tolist()
        for r in range(2):
            assert recs[r]["kxm"][e] == batches[r::2]
    assert recs[0]["balanced"][0] != recs[0]["balanced"][1]
    assert collections.Counter(map(len, (recs[0]["kxm"][0], recs[1]["kxm"][0]))).most_common(1)[0][1] == 2
    assert sys.executable


def test_sampler_kernels_equal_their_python_twins():
    from bioscan_h5.samplers._common import occurrence_numbers, shuffle_segments

    rng = np.random.default_rng(0)
    starts, counts = np.array([0, 3, 10]), np.array([3, 7, 5])
    u = rng.random(15)
    a, b = np.arange(15), np.arange(15)
    shuffle_segments(a, starts, counts, u)
    shuffle_segments.py_func(b, starts, counts, u)
    np.testing.assert_array_equal(a, b)
    assert sorted(a[3:10]) == list(range(3, 10))
    values = rng.integers(0, 6, 100)
    x, y = np.empty(100, dtype=np.int64), np.empty(100, dtype=np.int64)
    occurrence_numbers(values, 6, x)
    occurrence_numbers.py_func(values, 6, y)
    np.testing.assert_array_equal(x, y)
    assert [int(x[i]) for i in range(100)] == [int((values[:i] == values[i]).sum()) for i in range(100)]
