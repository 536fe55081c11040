"""batch_loader under torchrun: 2 CPU ranks (gloo, loopback only) with a DistributedSampler.

Each rank iterates two epochs (``sampler.set_epoch(e)`` before each) and writes the dataset
indices it received. Across ranks an epoch covers every index exactly once, apart from the
padding that ``DistributedSampler(drop_last=False)`` adds (the first indices of the epoch's
permutation, repeated up to a multiple of the world size); each rank gets exactly the
sampler's indices, in the sampler's order; and the second epoch is shuffled differently.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

WORLD = 2
EPOCHS = 2
BATCH = 16

RANK_SCRIPT = """
import json, os, sys

import torch.distributed as dist
from torch.utils.data import DistributedSampler

from bioscan_h5 import BIOSCAN5M, batch_loader

root, out = sys.argv[1], sys.argv[2]
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
ds = BIOSCAN5M(root, split="all", drop_bad_images=True)
sampler = DistributedSampler(ds, shuffle=True, seed=0)
loader = batch_loader(ds, batch_size={batch}, sampler=sampler, num_workers=1)
epochs, expected = [], []
for e in range({epochs}):
    sampler.set_epoch(e)
    expected.append(list(sampler))
    seen = []
    for batch in loader:
        assert tuple(batch["image"].shape[1:]) == (3, ds.store.image_size, ds.store.image_size)
        seen += batch["index"].tolist()
    epochs.append(seen)
dist.barrier()
with open(os.path.join(out, f"rank{{rank}}.json"), "w") as f:
    json.dump({{"rank": rank, "world": world, "len": len(ds), "epochs": epochs, "expected": expected}}, f)
dist.destroy_process_group()
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun() -> list[str]:
    """This interpreter's torchrun (the script beside it, or ``python -m torch.distributed.run``)."""
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "torch.distributed.run"]


@pytest.fixture(scope="module")
def ranks(sample_root_5m, store_5m, tmp_path_factory) -> list[dict]:
    """Run the rank script under torchrun once; each rank's JSON record, by rank."""
    tmp = tmp_path_factory.mktemp("torchrun")
    script = tmp / "rank.py"
    script.write_text(RANK_SCRIPT.format(batch=BATCH, epochs=EPOCHS))
    out = tmp / "out"
    out.mkdir()
    repo = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([repo, *filter(None, [env.get("PYTHONPATH")])])
    env.update(OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1")
    cmd = [
        *_torchrun(),
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(WORLD),
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        "--max-restarts",
        "0",
        str(script),
        str(sample_root_5m.root),
        str(out),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, timeout=120, check=False)
    assert res.returncode == 0, (
        f"torchrun failed ({res.returncode}):\n{res.stdout[-3000:]}\n{res.stderr[-5000:]}"
    )
    records = [json.loads((out / f"rank{r}.json").read_text()) for r in range(WORLD)]
    shutil.rmtree(out)
    return records


def test_each_rank_gets_its_sampler_share(ranks):
    for r, rec in enumerate(ranks):
        assert rec["rank"] == r and rec["world"] == WORLD
        assert rec["epochs"] == rec["expected"]


def test_each_epoch_covers_every_index_once_across_ranks(ranks):
    n = ranks[0]["len"]
    total = -(-n // WORLD) * WORLD  # DistributedSampler pads to a multiple of the world size
    for e in range(EPOCHS):
        seen = [i for rec in ranks for i in rec["epochs"][e]]
        assert len(seen) == total
        counts = collections.Counter(seen)
        assert set(counts) == set(range(n)), "an index is missing or out of range"
        extra = sorted(i for i, c in counts.items() for _ in range(c - 1))
        assert len(extra) == total - n
        # the padding repeats the first indices of the epoch's permutation, which rank 0
        # starts with (rank r takes positions r, r + WORLD, ...)
        firsts = [ranks[k % WORLD]["epochs"][e][k // WORLD] for k in range(total - n)]
        assert extra == sorted(firsts)


def test_set_epoch_reshuffles(ranks):
    for rec in ranks:
        first, second = rec["epochs"]
        assert first != second
        assert len(first) == len(second)
