"""A training process killed with SIGKILL and started again from its last checkpoint uses the same
stream of batches as a run that was never killed: no row repeated, none missing, the same order
and batch boundaries, whatever the gathering threads before and after (0 -> 2, 2 -> 0)."""

from __future__ import annotations

import random
import signal

import pytest

from tests.resume import helpers

pytestmark = pytest.mark.subprocess

KILLED = -signal.SIGKILL


@pytest.fixture(scope="module")
def reference(sample_root_5m, store_5m, tmp_path_factory) -> list[list[str]]:
    """The stream of a job that is never killed (no gathering threads)."""
    work = tmp_path_factory.mktemp("reference")
    assert helpers.run(helpers.command(sample_root_5m.root, work, 0, workers=0), work) == 0
    stream = helpers.joined_streams(work, 0)
    assert len({line[0].split()[0] for line in stream}) == 3  # three epochs
    return stream


def test_killed_at_chosen_points(sample_root_5m, tmp_path, reference):
    per_epoch = len(reference) // 3
    segments = [
        (0, "batch:0:5"),  # mid-epoch, between two batches, two batches after a checkpoint
        (2, "gather:9"),  # in a gathering thread, with batches gathered ahead
        (0, f"batch:1:{per_epoch}"),  # after an epoch's last batch, before it ends
        (2, "end:1"),  # after the epoch ended, before its end-of-epoch checkpoint
        (1, "after-end:1"),  # right after the end-of-epoch checkpoint
        (0, ""),
    ]
    for segment, (workers, kill) in enumerate(segments):
        cmd = helpers.command(sample_root_5m.root, tmp_path, segment, workers=workers, kill=kill or None)
        rc = helpers.run(cmd, tmp_path)
        assert rc == (KILLED if kill else 0), (segment, kill, rc)
    assert helpers.joined_streams(tmp_path, len(segments) - 1) == reference


@pytest.mark.slow
def test_killed_at_random_times(sample_root_5m, tmp_path, reference):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    segment, killed = 0, 0
    while True:
        workers = [2, 0, 1][segment % 3]
        cmd = helpers.command(
            sample_root_5m.root, tmp_path, segment, workers=workers, prefetch=rng.choice([None, 1, 3]) if workers else None,
            step_seconds=0.01, save_every=rng.choice([1, 2, 5]),
        )  # fmt: skip
        if killed < 3:
            rc = helpers.run_and_kill(
                cmd,
                tmp_path,
                tmp_path / f"seg{segment}_rank0.txt",
                rng.randrange(1, 12),
                rng.uniform(0.0, 0.3),
            )
        else:
            rc = helpers.run(cmd, tmp_path)
        if rc == 0:
            break
        assert rc == KILLED, rc
        killed += 1
        segment += 1
    assert helpers.joined_streams(tmp_path, segment) == reference, f"random seed {seed}"
