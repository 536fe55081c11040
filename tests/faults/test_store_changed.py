"""A store changed in place under its readers (``cp new.h5 store.h5``, ``truncate``: same inode).

A reader process opens the store and reads every sample once, then the test changes the file
in place (not a rename) and the reader reads again with ``ds[i]``, ``__getitems__`` and a
``batch_loader``. It must die of no signal (a page past the new end of a memory map is
``SIGBUS``) and never serve a mix of the two files: every read either returns the first
file's data or raises :class:`~bioscan_h5.errors.StoreChangedError`.
"""

from __future__ import annotations

import json
import shutil
import sys

import h5py
import numpy as np
import pytest

from bioscan_h5 import BIOSCAN5M

from ._helpers import assert_no_crash, run_cli, start

pytestmark = pytest.mark.subprocess

SECTION = "Concurrency"

#: argv: store, truth.npz, go file, done file. Reads, waits for the change, reads again.
READER = r"""
import json, os, sys, time
import numpy as np
from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.errors import StoreChangedError
path, truth_path, go, done = sys.argv[1:5]
t = np.load(truth_path, allow_pickle=True)
images, species, ids = t["images"], t["species"], t["ids"]
ds = BIOSCAN5M(split="all", store=path, image_format="numpy", target_type="species")
rows = ds.rows
def check(i, sample):
    image, dna, target = sample
    return (not np.array_equal(image, images[rows[i]])) + (int(target) != int(species[rows[i]]))
report = {"before": 0, "served": 0, "wrong": 0, "errors": {}}
report["before"] = sum(check(i, ds[i]) for i in range(len(ds)))
open(done, "w").close()
while not os.path.exists(go):
    time.sleep(0.005)
def attempt(what, fn):
    try:
        fn()
        report["served"] += 1
    except StoreChangedError as exc:
        report["errors"][what] = str(exc)
def one():
    report["wrong"] += sum(check(i, ds[i]) for i in range(len(ds)))
def many():
    idx = list(range(len(ds)))
    report["wrong"] += sum(check(i, s) for i, s in zip(idx, ds.__getitems__(idx)))
def loader():
    for b in batch_loader(ds, batch_size=16, num_workers=2):
        img = b["image"].permute(0, 2, 3, 1).numpy()
        for j, x in enumerate(b["index"].tolist()):
            report["wrong"] += int(not np.array_equal(img[j], images[rows[x]]))
            report["wrong"] += int(int(b["species"][j]) != int(species[rows[x]]))
def names():
    report["wrong"] += sum(ds.store.column_values("processid", rows[[i]])[0] != ids[rows[i]] for i in range(len(ds)))
for what, fn in (("ds[i]", one), ("__getitems__", many), ("batch_loader", loader), ("column", names)):
    attempt(what, fn)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """Stores built once per module (copied by each test), keyed by their arguments."""
    return {"base": tmp_path_factory.mktemp("changed")}


def _build(built, root, out, *extra) -> None:
    key = (str(root), extra)
    if key not in built:
        made = built["base"] / f"s{len(built)}.h5"
        proc = run_cli("build", "--root", root, "--image-size", 32, "--out", made, "--no-progress", *extra)
        assert proc.returncode == 0, proc.stderr
        built[key] = made
    shutil.copyfile(built[key], out)


def _truth(path, dest) -> None:
    with h5py.File(path, "r", locking=False) as f:
        species = f["columns/species/codes"][()]
    ds = BIOSCAN5M(split="all", store=path, image_format="numpy", target_type="species")
    images = np.zeros((len(species), 32, 32, 3), dtype=np.uint8)
    for i in range(len(ds)):
        images[ds.rows[i]] = ds[i][0]
    ids = np.array([str(v) for v in ds.store.column_values("processid")], dtype="U")
    np.savez(dest, images=images, species=species, ids=ids)


def _change_under_reader(path, truth, tmp_path, change) -> dict:
    go, done = tmp_path / "go", tmp_path / "done"
    reader = start(
        [sys.executable, "-c", READER, str(path), str(truth), str(go), str(done)], tmp_path / "logs"
    )
    while not done.exists():
        assert reader.proc.poll() is None, reader.stderr
    change()
    go.touch()
    reader.wait(180)
    assert_no_crash(reader.proc)
    assert reader.proc.returncode == 0, reader.stderr[-3000:]
    return json.loads(reader.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "pixels",
    ["raw", pytest.param("lzf", marks=pytest.mark.slow), pytest.param("jpeg", marks=pytest.mark.slow)],
)
@pytest.mark.parametrize("how", ["truncate", "cp another store over it"])
def test_store_changed_in_place_under_a_reader(pixels, how, built, shared_root, tmp_path, record):
    extra = {"raw": (), "lzf": ("--compression", "lzf"), "jpeg": ("--pixels", "jpeg")}[pixels]
    if pixels == "jpeg":
        pytest.importorskip("simplejpeg")
    store, other = tmp_path / "s.h5", tmp_path / "other.h5"
    _build(built, shared_root(n_rows=120, seed=3), store, *extra)
    _build(built, shared_root(n_rows=120, seed=4), other, *extra)
    truth = tmp_path / "truth.npz"
    _truth(store, truth)

    def change() -> None:
        if how == "truncate":
            with open(store, "r+b") as fh:
                fh.truncate(store.stat().st_size // 3)
        else:
            shutil.copyfile(other, store)  # opens with O_TRUNC: the same inode, new content

    report = _change_under_reader(store, truth, tmp_path, change)
    assert report["before"] == 0
    assert report["wrong"] == 0, report
    assert report["served"] == 0 and len(report["errors"]) == 4, report
    message = report["errors"]["ds[i]"]
    assert "changed" in message and "os.replace" in message
    verify = run_cli("verify", "--full", "--no-progress", store, timeout=120)
    assert_no_crash(verify)
    if how == "truncate":  # the truncated file is damaged for any later reader too
        assert verify.returncode == 1 and "FAIL" in verify.stdout, verify.stdout + verify.stderr
    else:  # a whole other store: sound on its own
        assert verify.returncode == 0, verify.stdout + verify.stderr
    if pixels == "raw":
        record(
            f"The store is changed in place while a reader has it open ({how}: the same inode, not a rename);"
            " raw, lzf and JPEG stores; then ds[i], __getitems__, a batch_loader and a column read",
            f"No signal (a page past the new end of a memory map would be SIGBUS). Every read raised"
            f" StoreChangedError: `{message}`",
            "Nothing served from the changed file, and no mix of the two files; reopening reads the new one"
            " (`verify --full` reports the truncated file as damaged, and finds the copied store sound).",
        )
