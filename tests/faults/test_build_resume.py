"""Interrupted builds resume: kill -9, SIGINT/SIGTERM and full disks, through the real command.

A build killed with ``kill -9`` (a real subprocess, the builder alone or a compressed build),
or stopped with SIGINT / SIGTERM, resumes to a store identical to an uninterrupted build and
leaves no decoding worker behind; a build that runs out of file space keeps its work, and an
extension that cannot copy the store leaves it as it was. ``test_build_interrupts.py`` aims
its kills at each stage through the instrumented builder.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from bioscan_h5 import format as fmt
from bioscan_h5.errors import MetadataError
from bioscan_h5.store import open_store

from ._helpers import read_rows, rows_done, write_rows

pytestmark = pytest.mark.subprocess

KILL_SIZE = 64  #: image side of the interrupted builds (small writes; decoding dominates)
KILL_COPIES = 30  #: the 320-row sample root, 30 times over: 9,600 rows, over 2 s even on 2 fast cores


# ------------------------------------------------------------------------------ helpers
def children(pid: int) -> list[int]:
    """Pids of the live child processes of ``pid`` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def gone(pids: list[int], timeout: float = 15) -> bool:
    """Wait for processes to exit (the resource tracker follows its builder a moment later)."""
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def disk_bytes(path: str) -> int:
    """Bytes a (sparse) file occupies: grows as the builder writes pixels into its holes."""
    try:
        return os.stat(path).st_blocks * 512
    except FileNotFoundError:
        return 0


def wait_for(predicate, proc, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.proc.poll() is not None:
            pytest.fail(f"the build ended (rc {proc.proc.returncode}) before {what}:\n{proc.stderr[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# ------------------------------------------------------------------------------ interrupted builds
@pytest.fixture(scope="module")
def big_root(sample_root_5m, tmp_path_factory) -> Path:
    """The sample root repeated ``KILL_COPIES`` times (new processids, hard-linked images).

    Includes the sample's bad images in every copy, so resume is checked on flagged rows too.
    """
    dest = tmp_path_factory.mktemp("big") / "root"
    src = sample_root_5m
    header, body = read_rows(src.metadata)
    pid = header.index("processid")
    rows = []
    paths = src.peer_frame["image_path"].tolist()
    for copy in range(KILL_COPIES):
        for r, rel in zip(body, paths):
            new = list(r)
            new[pid] = f"{r[pid]}x{copy}"
            rows.append(new)
            source = src.image_dir() / rel
            target = dest / "bioscan5m" / "images" / "cropped_256" / Path(rel).parent / f"{new[pid]}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.exists():
                os.link(source, target)
    meta = dest / "bioscan5m" / src.metadata.relative_to(src.dataset_dir)
    meta.parent.mkdir(parents=True)
    write_rows(meta, header, rows)
    return dest


def _kill_args(root: Path, out: Path, *extra: object) -> list[object]:
    return [
        "build",
        "--root",
        root,
        "--image-size",
        KILL_SIZE,
        "--no-draft",
        "--out",
        out,
        "--no-progress",
        *extra,
    ]


@pytest.fixture(scope="module")
def big_reference(big_root, tmp_path_factory) -> Path:
    """An uninterrupted build of ``big_root`` with the arguments the interrupted builds use."""
    from bioscan_h5.build import BuildConfig, build

    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    build(
        BuildConfig(
            root=str(big_root), image_size=KILL_SIZE, draft=False, out=str(out), workers=2, progress=False
        )
    )
    return out


@pytest.mark.slow
def test_kill_9_mid_build_then_resume(
    big_root, big_reference, start_cli, run_cli, tmp_path, assert_stores_equal
):
    out = tmp_path / "s.h5"
    partial = fmt.partial_path(str(out))
    n = KILL_COPIES * 320
    proc = start_cli(*_kill_args(big_root, out, "--workers", 2))
    wait_for(lambda: rows_done(partial) > 0, proc, what="some rows were marked done")
    workers = children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)  # the builder only, as `kill -9 PID` does
    assert proc.wait(30) == -signal.SIGKILL
    done = rows_done(partial)
    assert 0 < done < n, done
    assert not out.exists()
    # Its decoding workers notice and exit (they used to wait forever).
    assert workers and gone(workers), "orphaned decoding workers"
    res = run_cli(*_kill_args(big_root, out, "--workers", 2))
    assert res.returncode == 0, res.stderr
    assert "resuming" in res.stderr
    decoded_now = int(res.stdout.split(" images decoded")[0].rsplit(" ", 1)[1])
    assert decoded_now <= n - done
    assert not os.path.exists(partial)
    assert_stores_equal(out, big_reference)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_stop_cleanly_and_resume(
    big_root, big_reference, start_cli, run_cli, tmp_path, assert_stores_equal, sig
):
    out = tmp_path / "s.h5"
    partial = fmt.partial_path(str(out))
    name = signal.Signals(sig).name
    proc = start_cli(*_kill_args(big_root, out, "--workers", 2))
    wait_for(lambda: len(children(proc.pid)) >= 2, proc, what="the image stage")
    if sig == signal.SIGTERM:
        # A second builder on the same output is refused while this one runs.
        second = run_cli(*_kill_args(big_root, out, "--workers", 1))
        assert second.returncode == 2
        assert "Another build is writing" in second.stderr
    # Signal once pixels are being written (before any status is: they come every 2 s).
    start = disk_bytes(partial)
    wait_for(lambda: disk_bytes(partial) > start + 100 * KILL_SIZE**2 * 3, proc, what="pixels written")
    workers = children(proc.pid)
    os.kill(proc.pid, sig)
    assert proc.wait(60) == 130, proc.stderr
    assert f"Build interrupted ({name})" in proc.stderr
    assert "Run the same command again to resume" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert os.path.exists(partial) and not out.exists()
    assert not os.path.exists(fmt.lock_path(str(out)))
    assert gone(workers), "the decoding workers outlived the builder"
    done = rows_done(partial)
    assert 0 < done < KILL_COPIES * 320  # the decoded rows were recorded on the way out
    res = run_cli(*_kill_args(big_root, out, "--workers", 2))
    assert res.returncode == 0, res.stderr
    assert f"{KILL_COPIES * 320 - done} of {KILL_COPIES * 320} images still to decode" in res.stderr
    assert_stores_equal(out, big_reference)


@pytest.mark.slow
def test_kill_9_of_a_compressed_build_then_resume(
    big_root, big_reference, start_cli, run_cli, tmp_path, assert_stores_equal
):
    """A compressed build writes through HDF5, which has the file open for writing when killed."""
    out = tmp_path / "s.h5"
    partial = fmt.partial_path(str(out))
    args = _kill_args(big_root, out, "--workers", 2, "--compression", "lzf")
    proc = start_cli(*args)
    # HDF5 keeps the file open for writing, so its statuses cannot be read meanwhile: wait for
    # the decoding workers (the image stage), then for a few syncs.
    wait_for(lambda: len(children(proc.pid)) >= 2, proc, what="the image stage")
    time.sleep(3)
    assert proc.proc.poll() is None, "the build finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert os.path.exists(partial)
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    # Either resumed (HDF5's open-for-write flags cleared) or, if HDF5 left the file unreadable,
    # started again with a warning: never a damaged store.
    assert "resuming" in res.stderr or "discarding unreadable partial file" in res.stderr
    assert_stores_equal(out, big_reference, attrs=False)  # same values, other storage
    with open_store(out) as st:
        assert st.attrs[fmt.ATTR_COMPRESSION] == "lzf"


def test_partial_left_open_for_writing_is_recovered(make_root, build_store, tmp_path, assert_stores_equal):
    """A builder killed while HDF5 had the partial file open for writing (stage 1 or 3)."""
    root = make_root()
    out = tmp_path / "s.h5"
    partial = fmt.partial_path(str(out))
    with pytest.raises(MetadataError):
        build_store(root, image_size=16, out=out, strict=True, workers=1)
    code = "import h5py, os, sys; f = h5py.File(sys.argv[1], 'r+', locking=False); f.flush(); os._exit(0)"
    subprocess.run([sys.executable, "-c", code, partial], check=True)
    with pytest.raises(OSError):  # noqa: PT011 - worded by HDF5; HDF5 refuses a file flagged as open for writing
        h5py.File(partial, "r", locking=False).close()
    res = build_store(root, image_size=16, out=out, workers=1)
    assert res.resumed
    fresh = build_store(root, image_size=16, out=tmp_path / "fresh.h5", workers=1)
    assert_stores_equal(out, fresh.store)


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("extra", [0, 64 * 64 * 3 // 2], ids=["row-boundary", "mid-row"])
def test_running_out_of_file_space_keeps_the_work(
    make_root, build_store, run_cli, tmp_path, assert_stores_equal, extra
):
    """A real write failure (EFBIG from a file-size limit) in the middle of the pixel stage.

    ``mid-row``: the limit falls inside a row, so the kernel first accepts a short write.
    """
    root = make_root()
    out = tmp_path / "s.h5"
    build_store(root, image_size=64, out=out, no_images=True)  # stage 1 without the limit
    # ... left as a build whose image stage has not started (an extension would copy the store
    # first, and that copy is refused outright by the limit: see the test below)
    out.rename(fmt.partial_path(str(out)))
    with h5py.File(fmt.partial_path(str(out)), "r", locking=False) as f:
        offset = int(f.attrs[fmt.ATTR_PIXEL_OFFSET])
    limit = offset + 100 * 64 * 64 * 3 + extra  # room for the pixels of about 100 rows
    args = ["build", "--root", root.root, "--image-size", 64, "--out", out, "--no-progress", "--workers", 1]
    proc = run_cli(*args, preexec_fn=_limit_file_size(limit))
    assert proc.returncode == 2, proc.stderr
    assert "File too large" in proc.stderr and "run the same command again to resume" in proc.stderr
    assert "Traceback" not in proc.stderr
    # The extended store is put back under its name (still complete: rows are only marked
    # done once their pixels are durable), or kept as the partial file.
    left = out if out.exists() else Path(fmt.partial_path(str(out)))
    done = rows_done(str(left))
    assert 90 < done < root.n_rows, done
    if left == out:
        with open_store(out) as st:
            assert int(np.count_nonzero(st.image_status)) == done
    res = build_store(root, image_size=64, out=out, workers=1)
    assert res.processed_now == root.n_rows - done
    fresh = build_store(root, image_size=64, out=tmp_path / "fresh.h5", workers=1)
    assert_stores_equal(out, fresh.store)


def test_an_extension_that_cannot_copy_the_store_leaves_it_as_it_was(
    make_root, build_store, run_cli, tmp_path
):
    """Extending copies the store first; a file-size limit below its size stops that copy cleanly."""
    root = make_root()
    out = tmp_path / "s.h5"
    build_store(root, image_size=64, out=out, splits="val")
    before = os.stat(out)
    limit = before.st_size // 2
    args = ["build", "--root", root.root, "--image-size", 64, "--out", out, "--no-progress", "--workers", 1]
    proc = run_cli(*args, preexec_fn=_limit_file_size(limit))
    assert proc.returncode == 2, proc.stderr
    assert (
        "File too large" in proc.stderr and "is unchanged" in proc.stderr and "Traceback" not in proc.stderr
    )
    assert not Path(fmt.partial_path(str(out))).exists()
    assert os.stat(out).st_mtime_ns == before.st_mtime_ns
    with open_store(out) as st:
        assert st.image_ok[st.indices("val")].any() and not st.image_ok[st.indices("train")].any()


def test_disk_full_while_extending_a_compressed_store(
    make_root, build_store, run_cli, tmp_path, assert_stores_equal
):
    """HDF5 can leave a compressed file damaged when a write fails: it must not come back as the store.

    (h5py may also crash the process on its way out after such a failure; the message is
    printed first. The rerun starts over, with a warning, when the partial file is unreadable.)
    """
    root = make_root()
    out = tmp_path / "s.h5"
    build_store(root, image_size=64, out=out, no_images=True, compression="lzf")
    limit = os.path.getsize(out) + 1_000_000
    args = ["build", "--root", root.root, "--image-size", 64, "--out", out, "--no-progress"]
    args += ["--workers", 1, "--compression", "lzf"]
    proc = run_cli(*args, preexec_fn=_limit_file_size(limit))
    assert proc.returncode != 0
    assert "File too large" in proc.stderr and "run the same command again" in proc.stderr
    if out.exists():  # put back: then it must still be a complete, readable store
        with open_store(out) as st:
            assert st.n_rows == root.n_rows
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    fresh = build_store(root, image_size=64, out=tmp_path / "fresh.h5", workers=1, compression="lzf")
    assert_stores_equal(out, fresh.store, attrs=False)
