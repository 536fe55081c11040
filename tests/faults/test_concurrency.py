"""Concurrency: many readers at once, a read-only store, and a store replaced under its readers.

Every reader is a separate process (``python -c``) that reports what it read as JSON; the test
compares that with the store's contents read beforehand with plain h5py.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from ._helpers import REPO, assert_no_crash, run, run_cli, subprocess_env

pytestmark = pytest.mark.subprocess

SECTION = "Concurrency"

#: One reader process. ``mode`` is ``dataset`` (BIOSCAN5M), ``store`` (open_store) or ``h5py``
#: (h5py.File with its default file locking). It waits for the go file, reads ``n`` random
#: rows and compares each with the truth saved by the test.
RANDOM_READER = r"""
import json, os, sys, time
import numpy as np
mode, path, truth_path, seed, n, go = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
truth = np.load(truth_path)
images, species = truth["images"], truth["species"]
if mode == "dataset":
    from bioscan_h5 import BIOSCAN5M
    ds = BIOSCAN5M(split="all", store=path, image_format="numpy", target_type="species")
    rows = ds.rows
elif mode == "store":
    from bioscan_h5 import open_store
    st = open_store(path)
else:
    import h5py
    f = h5py.File(path, "r")
    imgs, codes = f["images"], f["columns/species/codes"]
while not os.path.exists(go):
    time.sleep(0.005)
rng = np.random.default_rng(seed)
bad = 0
for _ in range(n):
    if mode == "dataset":
        i = int(rng.integers(len(ds)))
        image, dna, target = ds[i]
        row = int(rows[i])
        bad += (not np.array_equal(image, images[row])) + (int(target) != int(species[row]))
    elif mode == "store":
        row = int(rng.integers(len(st)))
        bad += (not np.array_equal(st.images[row], images[row])) + (int(st.labels["species"][row]) != int(species[row]))
    else:
        row = int(rng.integers(len(images)))
        bad += (not np.array_equal(imgs[row], images[row])) + (int(codes[row]) != int(species[row]))
print(json.dumps({"mode": mode, "reads": n, "mismatches": int(bad)}))
"""


@pytest.fixture(scope="module")
def store(_roots, tmp_path_factory) -> dict:
    root = _roots.get(n_rows=200, seed=9)
    base = tmp_path_factory.mktemp("concurrency")
    out = base / "s.h5"
    proc = run_cli("build", "--root", root, "--image-size", 32, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    truth = base / "truth.npz"
    with h5py.File(out, "r", locking=False) as f:
        np.savez(truth, images=f["images"][()], species=f["columns/species/codes"][()])
    return {"root": root, "path": out, "truth": truth, "base": base}


def test_eight_readers_and_a_direct_h5py_reader_at_once(store, tmp_path, record):
    go = tmp_path / "go"
    procs = []
    modes = ["dataset"] * 4 + ["store"] * 4 + ["h5py"]
    for i, mode in enumerate(modes):
        argv = [
            sys.executable,
            "-c",
            RANDOM_READER,
            mode,
            str(store["path"]),
            str(store["truth"]),
            str(i),
            "300",
            str(go),
        ]
        procs.append(
            subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=subprocess_env(),
                cwd=REPO,
            )
        )
    time.sleep(0.5)
    go.touch()
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail("hung: a reader did not finish")
        assert_no_crash(p)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["mismatches"] for r in results] == [0] * len(modes)
    total = sum(r["reads"] for r in results)
    record(
        "8 processes reading random samples from one store at once (4 through `BIOSCAN5M`, 4 through"
        " `open_store`), while a 9th reads it with plain h5py (default HDF5 file locking)",
        f"All {total} reads (300 per process) returned exactly the pixels and labels the store holds; every"
        " process exited normally. Readers open the file read-only without locking, so they neither block"
        " nor are blocked by a locking reader.",
        "Nothing.",
    )


# ------------------------------------------------------------------------------ read-only
#: Imports everything first (the interpreter lives under /root, unreadable by "nobody"), then,
#: if running as root, becomes uid/gid 65534 so that permission bits are enforced, then reads.
READ_ONLY_READER = r"""
import contextlib, importlib, io, json, os, pkgutil, sys
import numpy as np, h5py, pandas, torch
import bioscan_h5
for module in pkgutil.iter_modules(bioscan_h5.__path__):
    importlib.import_module(f"bioscan_h5.{module.name}")
from bioscan_h5 import BIOSCAN5M, open_store
path = sys.argv[1]
out = {"uid_before": os.geteuid()}
if os.geteuid() == 0:
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
out["uid"] = os.geteuid()
for what, attempt in (("open for writing", lambda: open(path, "r+b")),
                      ("create a file beside it", lambda: open(os.path.join(os.path.dirname(path), "x"), "wb")),
                      ("h5py mode r+", lambda: h5py.File(path, "r+"))):
    try:
        attempt().close()
        out[what] = "allowed"
    except PermissionError:
        out[what] = "refused"
    except OSError as exc:
        out[what] = "refused" if "ermission" in str(exc) else f"error: {exc}"
with open_store(path) as st:
    out["rows"] = len(st)
    out["pixel_sum"] = int(np.asarray(st.images[:], dtype=np.int64).sum())
    out["columns"] = int(st.to_pandas().shape[1])
ds = BIOSCAN5M(split="all", store=path, image_format="numpy")
out["samples"] = len([ds[i] for i in range(0, len(ds), 7)])
with contextlib.redirect_stdout(io.StringIO()) as buf:
    out["info_rc"] = bioscan_h5.cli.main(["info", path])
print(json.dumps(out))
"""


def test_a_store_in_a_read_only_folder(store, record):
    folder = Path(tempfile.mkdtemp(prefix="bioscan-h5-ro-"))
    try:
        path = folder / "s.h5"
        shutil.copyfile(store["path"], path)
        path.chmod(0o444)
        folder.chmod(0o555)
        proc = run([sys.executable, "-c", READ_ONLY_READER, str(path)], timeout=180)
        assert_no_crash(proc)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
    assert out["uid"] != 0, "permission bits are not enforced for root"
    assert out["open for writing"] == out["create a file beside it"] == out["h5py mode r+"] == "refused", out
    with h5py.File(store["path"], "r", locking=False) as f:
        assert out["pixel_sum"] == int(f["images"][()].astype(np.int64).sum())
        assert out["rows"] == f["images"].shape[0]
    assert out["samples"] > 0 and out["info_rc"] == 0
    who = (
        "as uid/gid 65534 (nobody), entered from root after importing"
        if out["uid_before"] == 0
        else "as a normal user"
    )
    record(
        "a store file with mode 0444 in a folder with mode 0555",
        f"Read {who}, so that the permission bits apply (root ignores them): opening the file for writing,"
        " creating a file beside it and h5py's mode 'r+' were each refused, which shows the permissions held;"
        " `open_store` (every pixel and column), `BIOSCAN5M` samples and `bioscan-h5 info` all worked. The"
        " store is opened with h5py mode 'r', `locking=False`, and numpy memory maps in mode 'r': nothing asks"
        " for write access, takes a lock or creates a file.",
        "Nothing.",
    )


# ------------------------------------------------------------------------------ atomic replace
#: ``hold``: open once, keep reading; ``hold-late``: open once, but read nothing before the
#: store has been replaced (every array is first touched then); ``reopen``: open anew for every
#: read. Each read takes a digest of every pixel and every processid; reading stops when the
#: stop file appears.
REPLACE_READER = r"""
import hashlib, json, os, sys, time
import numpy as np
from bioscan_h5 import open_store
mode, path, ready, stop, replaced = sys.argv[1:6]
def digest(st):
    h = hashlib.sha256(np.ascontiguousarray(st.images[:]).tobytes())
    h.update("\n".join(st.column_values("processid")).encode())
    return h.hexdigest()
seen, errors = [], []
st = open_store(path) if mode.startswith("hold") else None
if mode == "hold-late":
    open(ready, "a").close()
    while not os.path.exists(replaced):
        time.sleep(0.005)
while not os.path.exists(stop):
    try:
        if st is not None:
            seen.append(digest(st))
        else:
            with open_store(path) as s:
                seen.append(digest(s))
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    if len(seen) == 1:
        open(ready, "a").close()
    time.sleep(0.01)
print(json.dumps({"mode": mode, "seen": seen, "errors": errors}))
"""


def _digest(path: Path) -> str:
    code = REPLACE_READER.split("seen, errors")[0] + "print(digest(open_store(sys.argv[2])))"
    proc = run([sys.executable, "-c", code, "x", str(path), "", "", ""], timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_readers_while_the_store_is_replaced_atomically(store, shared_root, tmp_path, record):
    old = store["path"]
    new = tmp_path / "other.h5"
    proc = run_cli(
        "build", "--root", shared_root(n_rows=200, seed=10), "--image-size", 32, "--out", new, "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    a, b = _digest(old), _digest(new)
    assert a != b
    live = tmp_path / "live" / "s.h5"
    live.parent.mkdir()
    shutil.copyfile(old, live)
    stop, replaced = tmp_path / "stop", tmp_path / "replaced"
    readers = []
    for i, mode in enumerate(["hold", "hold-late", "reopen", "reopen"]):
        ready = tmp_path / f"ready{i}"
        argv = [sys.executable, "-c", REPLACE_READER, mode, str(live), str(ready), str(stop), str(replaced)]
        readers.append(
            (
                ready,
                subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env()
                ),
            )
        )
    deadline = time.monotonic() + 120
    while not all(r.exists() for r, _ in readers):
        assert time.monotonic() < deadline and all(p.poll() is None for _, p in readers), (
            "a reader did not start"
        )
        time.sleep(0.02)
    time.sleep(0.3)
    tmp = live.with_name(".s.h5.tmp")
    shutil.copyfile(new, tmp)  # a copy of the new store next to the old one, then one rename
    os.replace(tmp, live)
    replaced.touch()
    time.sleep(1.5)
    stop.touch()
    results = []
    for _, p in readers:
        out, err = p.communicate(timeout=60)
        assert_no_crash(p)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    for res in results:
        assert res["errors"] == [], res["errors"]
        assert set(res["seen"]) <= {a, b}
        if res["mode"].startswith("hold"):
            assert set(res["seen"]) == {a}, res["mode"]
        else:
            switch = res["seen"].index(b)  # the new store was seen ...
            assert set(res["seen"][:switch]) == {a} and set(res["seen"][switch:]) == {
                b
            }  # ... and only it after
    holds = [r for r in results if r["mode"].startswith("hold")]
    reopens = [r for r in results if r["mode"] == "reopen"]
    record(
        "a store replaced with `os.replace` (a complete copy renamed over it) while 4 processes read it",
        f"The 2 readers that had it open kept reading the old file ({sum(len(r['seen']) for r in holds)} full"
        " reads, all of the old contents), including the one that touched no array before the replacement;"
        " the 2 that open it for every read saw the old store, then from"
        f" one read on only the new one ({sum(len(r['seen']) for r in reopens)} full reads, never a mix of"
        " both). No reader saw an error.",
        "Nothing.",
    )


def test_open_uses_no_lock_file_or_write_access(store):
    """The store's folder is unchanged by opening and reading (no lock or sidecar file)."""
    before = sorted(os.listdir(store["base"]))
    mode = stat.S_IMODE(os.stat(store["path"]).st_mode)
    proc = run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom bioscan_h5 import open_store\nopen_store(sys.argv[1]).images[:]",
            str(store["path"]),
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(store["base"])) == before
    assert stat.S_IMODE(os.stat(store["path"]).st_mode) == mode


#: Reads a store on a read-only file system as root (who is not stopped by permission bits,
#: but is by EROFS) and checks that writing there really fails.
RO_FS_READER = r"""
import errno, io, json, os, sys, contextlib
import numpy as np
import bioscan_h5.cli
from bioscan_h5 import BIOSCAN5M, open_store
path = sys.argv[1]
out = {}
try:
    open(os.path.join(os.path.dirname(path), "probe"), "wb")
    out["write"] = "allowed"
except OSError as exc:
    out["write"] = errno.errorcode.get(exc.errno, str(exc.errno))
with open_store(path) as st:
    out["pixel_sum"] = int(np.asarray(st.images[:], dtype=np.int64).sum())
    st.to_pandas()
ds = BIOSCAN5M(split="all", store=path, image_format="numpy")
out["samples"] = len([ds[i] for i in range(0, len(ds), 7)])
with contextlib.redirect_stdout(io.StringIO()):
    out["info_rc"] = bioscan_h5.cli.main(["info", path])
print(json.dumps(out))
"""


def test_a_store_on_a_read_only_file_system(store, tmp_path, record):
    """A tmpfs remounted read-only, where mounting is allowed (root with CAP_SYS_ADMIN)."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting needs root")
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("mounting a tmpfs is not allowed here")
    try:
        shutil.copyfile(store["path"], mnt / "s.h5")
        remount = subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True, text=True)
        assert remount.returncode == 0, remount.stderr
        proc = run([sys.executable, "-c", RO_FS_READER, str(mnt / "s.h5")], timeout=180)
        assert_no_crash(proc)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    assert out["write"] == "EROFS", out
    with h5py.File(store["path"], "r", locking=False) as f:
        assert out["pixel_sum"] == int(f["images"][()].astype(np.int64).sum())
    assert out["samples"] > 0 and out["info_rc"] == 0
    record(
        "a store on a read-only file system (a tmpfs remounted read-only), read as root",
        "Creating a file there failed with EROFS, which shows the file system really was read-only;"
        " `open_store` (every pixel and column), `BIOSCAN5M` samples and `bioscan-h5 info` all worked.",
        "Nothing.",
    )
