"""Readers while the store is extended (issue 14): a DataLoader through 30 epochs, uninterrupted.

A reader process goes through 30 epochs of the ``val`` split with a ``torch`` DataLoader (2
worker processes, not persistent: new workers, forked at the start of every epoch, open the
store again) and makes a new ``BIOSCAN5M`` each epoch, while another process extends the same
store three times with more ``--splits``. Every batch is compared with the store's contents,
and each batch says which file (inode) its worker had open.
"""

from __future__ import annotations

import json
import sys
import time

import h5py
import numpy as np
import pytest

from ._helpers import assert_no_crash, run_cli, start

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

SECTION = "Concurrency"
EPOCHS = 30

READER = r"""
import json, os, sys, time
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate
from bioscan_h5 import BIOSCAN5M

path, truth_path, started, epochs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
truth = np.load(truth_path)
ds = BIOSCAN5M(split="val", store=path, image_format="numpy", target_type="species")

class Indexed(Dataset):
    def __len__(self):
        return len(ds)

    def __getitem__(self, i):
        return i, ds[i]

def collate(items):
    # runs in the worker: which file did this worker's store open?
    time.sleep(0.05)  # stretch the epoch, so that extensions land in the middle of the run
    return default_collate(items), os.fstat(ds.store.file.id.get_vfd_handle()).st_ino

loader = DataLoader(Indexed(), batch_size=8, shuffle=True, num_workers=2, persistent_workers=False, collate_fn=collate)
report = {"epochs": 0, "batches": 0, "mismatches": 0, "inodes": [], "fresh": 0, "errors": []}
for epoch in range(epochs):
    seen = set()
    try:
        for (index, (image, _dna, target)), inode in loader:
            rows = ds.rows[index.numpy()]
            bad = (image.numpy() != truth["images"][rows]).reshape(len(rows), -1).any(axis=1).sum()
            bad += int((target.numpy() != truth["species"][rows]).sum())
            report["mismatches"] += int(bad)
            report["batches"] += 1
            seen.add(int(inode))
        fresh = BIOSCAN5M(split="val", store=path, image_format="numpy", target_type="species")
        image, _, target = fresh[epoch % len(fresh)]
        row = int(fresh.rows[epoch % len(fresh)])
        report["fresh"] += int(np.array_equal(image, truth["images"][row]) and target == truth["species"][row])
    except Exception as exc:
        report["errors"].append(f"epoch {epoch}: {type(exc).__name__}: {exc}")
    report["epochs"] += 1
    report["inodes"].append(sorted(seen))
    if epoch == 0:
        open(started, "w").close()
print(json.dumps(report))
"""


def test_a_dataloader_reads_30_epochs_while_the_store_is_extended(shared_root, tmp_path, record):
    root = shared_root(n_rows=400, seed=21)
    out = tmp_path / "s.h5"
    args = ["build", "--root", root, "--image-size", 32, "--out", out, "--no-progress", "--workers", 1]
    proc = run_cli(*args, "--splits", "val")
    assert proc.returncode == 0, proc.stderr
    truth = tmp_path / "truth.npz"
    with h5py.File(out, "r", locking=False) as f:
        np.savez(truth, images=f["images"][()], species=f["columns/species/codes"][()])
    started = tmp_path / "started"
    reader = start(
        [sys.executable, "-c", READER, str(out), str(truth), str(started), str(EPOCHS)], tmp_path / "logs"
    )
    deadline = time.monotonic() + 120
    while not started.exists():
        assert reader.proc.poll() is None, reader.stderr[-2000:]
        assert time.monotonic() < deadline, "the reader did not finish its first epoch"
        time.sleep(0.02)
    extensions = []
    for splits in ("val+train", "val+train+test", "val+train+test+key_unseen"):
        t0 = time.monotonic()
        proc = run_cli(*args, "--splits", splits)
        assert proc.returncode == 0, proc.stderr
        extensions.append((splits, time.monotonic() - t0, reader.proc.poll() is None))
    code = reader.wait(timeout=600)
    assert_no_crash(reader.proc)
    assert code == 0, reader.stderr[-3000:]
    report = json.loads(reader.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], report["errors"]
    assert report["epochs"] == EPOCHS and report["mismatches"] == 0 and report["fresh"] == EPOCHS
    assert all(still for _, _, still in extensions), "the reader finished before the extensions did"
    files = [tuple(i) for i in report["inodes"]]
    distinct = list(dict.fromkeys(i for epoch in files for i in epoch))
    assert len(distinct) == 4, files  # the first store and the three extended ones, each in turn
    mixed = sum(1 for epoch in files if len(epoch) > 1)
    with h5py.File(out, "r", locking=False) as f:
        built = json.loads(f.attrs["image_splits"])
    assert built == sorted(["key_unseen", "test", "train", "val"])
    record(
        f"a DataLoader (2 worker processes, not persistent: new workers reopen the store every epoch)"
        f" reading the val split through {EPOCHS} epochs, plus a new `BIOSCAN5M` each epoch, while another"
        " process extends the same store three times with more `--splits`",
        f"All {EPOCHS} epochs finished: {report['batches']} batches, every image and target equal to the"
        f" store's, no error. The workers read 4 files in turn: the first store, then each extension from the"
        " first epoch that started after it was renamed into place (a worker keeps the file it opened until"
        " its epoch ends, and reads nothing else"
        + (f"; in {mixed} epoch(s) the two workers were on different files" if mixed else "")
        + f"). Extensions took {', '.join(f'{s:.1f} s' for _, s, _ in extensions)}.",
        "Nothing.",
    )
