"""torchrun jobs (gloo CPU ranks) over ElasticDistributedSampler and batch_loader, killed with SIGKILL
and resumed on another number of ranks (2 -> 3, 3 -> 2): each epoch still uses the global
order of (seed, epoch), every index once, in order; only the last round is padded."""

from __future__ import annotations

import random

import pytest
import torch

from bioscan_h5 import BIOSCAN5M
from tests.resume import helpers
from tests.resume.train_loop import CLEAN

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

EPOCHS = 2
BATCH = 8
SEED = 11  # train_loop.py's sampler seed


def _global_order(steps: list[list[str]]) -> dict[int, list[int]]:
    """Each epoch's indices in the order of the global order's places: at each step, place ``p``
    of the step's block is rank ``p % world``'s ``p // world``-th index."""
    by_epoch: dict[int, list[int]] = {}
    for lines in steps:
        epochs = {int(line.split()[0]) for line in lines}
        assert len(epochs) == 1, lines  # the ranks are in the same epoch at every step
        shares = [[int(i) for i in line.split()[1].split(",")] for line in lines]
        assert len({len(s) for s in shares}) == 1, lines  # and take as many indices
        by_epoch.setdefault(epochs.pop(), []).extend(i for place in zip(*shares) for i in place)
    return by_epoch


@pytest.mark.parametrize(("before", "after"), [(2, 3), (3, 2)])
def test_resumed_on_another_number_of_ranks(sample_root_5m, store_5m, tmp_path, before, after):
    n = len(BIOSCAN5M(str(sample_root_5m.root), split=CLEAN, build=False, modality=("dna",)))
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    common = dict(epochs=EPOCHS, batch=BATCH, save_every=rng.choice([1, 2, 3]), step_seconds=0.05)
    first = helpers.command(sample_root_5m.root, tmp_path, 0, ranks=before, workers=1, **common)
    kill_after = rng.randrange(3, (n // before) // BATCH + 6)  # sometimes in the second epoch
    rc = helpers.run_and_kill(first, tmp_path, tmp_path / "seg0_rank0.txt", kill_after, rng.uniform(0.0, 0.1))
    assert rc != 0, "the first job ended before it was killed"
    second = helpers.command(
        sample_root_5m.root, tmp_path, 1, ranks=after, workers=rng.choice([0, 2]), **common
    )
    assert helpers.run(second, tmp_path, timeout=180) == 0

    resumed_steps = (tmp_path / "seg1_rank0.txt").read_text().count("\n")
    assert resumed_steps > 0, f"the first job was killed after its last step (random seed {seed})"
    used = _global_order(helpers.joined_streams(tmp_path, 1))
    assert sorted(used) == list(range(EPOCHS)), f"random seed {seed}"
    for epoch, order in used.items():
        expected = torch.randperm(n, generator=torch.Generator().manual_seed(SEED + epoch)).tolist()
        assert order[:n] == expected, f"epoch {epoch}, random seed {seed}"
        padding = order[n:]  # the last round, filled with the epoch's first indices
        assert len(padding) < max(before, after) and padding == expected[: len(padding)]
