"""Forks while :func:`~bioscan_h5.batch_loader` threads gather: the child never hangs.

A parent process iterates batch loaders (two gathering threads, the read engine's disk pool
and, on the first batch, numba being loaded) while its main thread forks at random moments.
Each child reads with ``ds[i]``, a batch loader of its own, and (some of them) a DataLoader
with fork workers, then compares what it read with the store. A child that does not exit
within its alarm is killed by ``SIGALRM`` and counted as hung.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from ._helpers import assert_no_crash, run_cli, run_python

pytestmark = pytest.mark.subprocess

SECTION = "Concurrency"

#: argv: store, truth.npz, seed, forks. Prints one JSON line of counts.
FORKER = r"""
import json, os, random, signal, sys, threading, time
import numpy as np
path, truth_path, seed, forks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
truth = np.load(truth_path)["images"]
from bioscan_h5 import BIOSCAN5M, batch_loader
ds = BIOSCAN5M(split="all", store=path, image_format="numpy", target_type="species")
rows = ds.rows
stop = False

def load():
    while not stop:
        for b in batch_loader(ds, batch_size=8, shuffle=True, num_workers=2):
            pass

def child(k):
    signal.alarm(30)
    bad = 0
    for i in (0, len(ds) - 1, k % len(ds)):
        bad += not np.array_equal(ds[i][0], truth[rows[i]])
    for b in batch_loader(ds, batch_size=8, num_workers=2):
        img = b["image"].permute(0, 2, 3, 1).numpy()
        bad += int(sum(not np.array_equal(img[j], truth[rows[int(x)]]) for j, x in enumerate(b["index"])))
    if k % 4 == 0:
        import torch
        from torch.utils.data import DataLoader
        for img, dna, target in DataLoader(ds, batch_size=16, num_workers=2, multiprocessing_context="fork",
                                            collate_fn=lambda s: s[0]):
            pass
    os._exit(10 + min(bad, 100))

rng = random.Random(seed)
t = threading.Thread(target=load, daemon=True)
t.start()
counts = {"forks": 0, "ok": 0, "hung": 0, "wrong": 0, "failed": 0}
for k in range(forks):
    time.sleep(rng.random() * (0.02 if k < 3 else 0.08))  # the first ones while numba loads
    pid = os.fork()
    if pid == 0:
        try:
            child(k)
        except BaseException as exc:
            print(repr(exc), file=sys.stderr)
            os._exit(3)
    counts["forks"] += 1
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        counts["hung" if os.WTERMSIG(status) == signal.SIGALRM else "failed"] += 1
    elif os.WEXITSTATUS(status) == 10:
        counts["ok"] += 1
    elif os.WEXITSTATUS(status) > 10:
        counts["wrong"] += 1
    else:
        counts["failed"] += 1
stop = True
t.join()
print(json.dumps(counts))
"""


@pytest.fixture(scope="module")
def store(_roots, tmp_path_factory) -> dict:
    root = _roots.get(n_rows=120, seed=5)
    base = tmp_path_factory.mktemp("fork")
    out = base / "s.h5"
    proc = run_cli("build", "--root", root, "--image-size", 32, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    truth = base / "truth.npz"
    with h5py.File(out, "r", locking=False) as f:
        np.savez(truth, images=f["images"][()])
    return {"path": out, "truth": truth}


@pytest.mark.slow
def test_random_forks_while_batch_loader_threads_gather(store, record):
    totals = {"forks": 0, "ok": 0, "hung": 0, "wrong": 0, "failed": 0}
    for seed in range(3):  # three fresh parents: numba is loaded anew in each
        proc = run_python(FORKER, store["path"], store["truth"], seed, 12, timeout=400)
        assert_no_crash(proc)
        assert proc.returncode == 0, proc.stderr[-3000:]
        counts = json.loads(proc.stdout.strip().splitlines()[-1])
        for key in totals:
            totals[key] += counts[key]
    assert totals["hung"] == 0, totals
    assert totals["wrong"] == 0 and totals["failed"] == 0, totals
    assert totals["ok"] == totals["forks"] == 36
    record(
        f"os.fork at {totals['forks']} random moments while a batch_loader's two threads gather (the first"
        " forks while the first batch loads numba), in 3 parent processes; every 4th child also runs a"
        " DataLoader with fork workers",
        "Every child exited within its 30 s alarm: it read with ds[i], a batch loader of its own and the"
        " DataLoader. The read engine, the numba kernel's lock and the gather pools are made anew in the"
        " child (os.register_at_fork), its descriptors reopened.",
        "Nothing: every image each child read equals the store's.",
    )
