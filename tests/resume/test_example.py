"""examples/preemptible.py under torchrun (2 gloo CPU ranks): killed with SIGKILL mid-run and started
again with the same command, it ends with the parameters, bit for bit, of a run never killed."""

from __future__ import annotations

import random
import re

import pytest

from tests.resume import helpers
from tests.resume.train_loop import CLEAN

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

EXAMPLE = helpers.REPO / "examples" / "preemptible.py"
RANKS = 2


def _command(root, work, name: str) -> list[str]:
    args = [
        str(root), f"--checkpoint={work / name}.pt", f"--trace={work / name}", f"--split={CLEAN}",
        "--device=cpu", "--image-size=32", "--batch-size=8", "--epochs=2", "--save-every=3", "--workers=1",
    ]  # fmt: skip
    cmd = helpers.command(root, work, 0, ranks=RANKS)
    at = cmd.index(str(helpers.SCRIPT))
    return [*cmd[:at], str(EXAMPLE), *args]


def _digest(stdout: str) -> str:
    found = re.findall(r"done after (\d+) steps; parameters sha256 (\w+)", stdout)
    assert len(found) == 1, stdout
    return found[0]


def test_killed_and_restarted_it_ends_as_if_never_stopped(sample_root_5m, store_5m, tmp_path):
    reference = _digest(
        helpers.finish(_command(sample_root_5m.root, tmp_path, "whole"), tmp_path, 180).stdout
    )
    total = int(reference[0])
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    cmd = _command(sample_root_5m.root, tmp_path, "stopped")
    rc = helpers.run_and_kill(cmd, tmp_path, tmp_path / "stopped.rank0", rng.randrange(4, total - 4), 0.0)
    assert rc != 0, f"the job ended before it was killed (random seed {seed})"
    resumed = helpers.finish(cmd, tmp_path, 180).stdout
    started = re.search(r"resumed at epoch (\d+), step (\d+)", resumed)
    assert started and 0 < int(started[2]) < total, resumed
    assert _digest(resumed) == reference, f"random seed {seed}"
