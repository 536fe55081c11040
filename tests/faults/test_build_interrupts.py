"""Builder interrupted: kill -9, SIGINT/SIGTERM, a full disk, a second builder on the same output.

Every build here is a real ``bioscan-h5 build`` subprocess. The kill and signal cases run the
builder through ``_instrumented_build.py``, which prints a marker as each stage starts and
stretches the stages with sleeps *between* the builder's own steps, so that a random moment
can land inside the short ones (the finish stage takes milliseconds otherwise). Each case
ends by comparing every dataset and root attribute with an uninterrupted build.
"""

from __future__ import annotations

import collections
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bioscan_h5 import format as fmt
from bioscan_h5.store import open_store

from ._helpers import (
    build_state,
    crash,
    differences,
    run_cli,
    sanitize,
    start,
    start_build,
    store_arrays,
    subprocess_env,
    superblock_open_for_write,
)

pytestmark = pytest.mark.subprocess

SECTION = "Builder interrupted"

ROWS = 800  #: rows of the root the interrupted builds use (seven of them with bad images)
SIZE = 64  #: --image-size: small writes, short runs
DILATE = "column=0.03,row=0.002,fsync=0.25,json=0.15"
#: How long each stage lasts under DILATE (seconds, roughly): kill moments are drawn in it.
WINDOW = {"build": 2.2, "images": 2.5, "finish": 1.0}
N_KILLS = 20


def build_args(root: Path, out: Path, *extra: object, workers: int = 1) -> list[object]:
    return ["--root", root, "--image-size", SIZE, "--out", out, "--no-progress", "--workers", workers, *extra]


@pytest.fixture(scope="module")
def reference(_roots, tmp_path_factory) -> dict:
    """The root the interrupted builds use, and its uninterrupted build (arrays, attrs, report)."""
    root = _roots.get(n_rows=ROWS, seed=3, faults=True)
    out = tmp_path_factory.mktemp("reference") / "s.h5"
    proc = run_cli("build", *build_args(root, out))
    assert proc.returncode == 0, proc.stderr
    arrays, attrs = store_arrays(out)
    report = json.loads(Path(fmt.report_path(str(out))).read_text())
    return {"root": root, "out": out, "arrays": arrays, "attrs": attrs, "report": report}


def assert_like_reference(out: Path, reference: dict, *, ignore_attrs: tuple[str, ...] = ()) -> dict:
    """Every dataset and root attribute equals the uninterrupted build; returns the report."""
    arrays, attrs = store_arrays(out)
    assert differences(arrays, reference["arrays"]) == []
    want = {k: v for k, v in reference["attrs"].items() if k not in ignore_attrs}
    got = {k: v for k, v in attrs.items() if k not in ignore_attrs}
    assert got.keys() == want.keys()
    for k in want:
        assert str(got[k]) == str(want[k]), f"attribute {k}: {got[k]!r} != {want[k]!r}"
    return json.loads(Path(fmt.report_path(str(out))).read_text())


def report_details_lost(report: dict, reference: dict) -> int:
    """Check the report against the reference's; the number of decoder messages not repeated."""
    ref = reference["report"]
    assert report["counts"] == ref["counts"]
    strip = [{k: v for k, v in b.items() if k != "detail"} for b in report["bad_images"]]
    assert strip == [{k: v for k, v in b.items() if k != "detail"} for b in ref["bad_images"]]
    lost = 0
    for got, want in zip(report["bad_images"], ref["bad_images"]):
        assert got["detail"] in ("", want["detail"])
        lost += got["detail"] != want["detail"]
    return lost


# ------------------------------------------------------------------------------ kill -9
@pytest.mark.slow
def test_kill_9_at_20_random_moments_then_resume(reference, tmp_path, record):
    """20 SIGKILLs (to the builder and its workers) at random moments of every stage.

    Builds are run as episodes: kill in the metadata stage, three times in the image stage,
    once in the finish stage, then resume to the end and compare with the reference. A kill
    that comes after the process has already passed its target stage still counts; where
    each one really landed is read from the files it left.
    """
    root, rng = reference["root"], random.Random(6)
    landed: collections.Counter = collections.Counter()
    kills = episodes = details_lost = open_for_write = 0
    while kills < N_KILLS:
        out = tmp_path / f"episode{episodes}" / "s.h5"
        workers = 1 + episodes % 2
        for stage in ("build", "images", "images", "images", "finish"):
            if kills == N_KILLS:
                break
            proc = start_build(*build_args(root, out, workers=workers), logs=tmp_path / "logs", dilate=DILATE)
            if not proc.wait_marker(stage):  # nothing left to do in that stage: it just finished
                assert proc.wait() == 0, proc.stderr
                continue
            time.sleep(rng.uniform(0.0, WINDOW[stage]))
            proc.kill_group(signal.SIGKILL)
            rc = proc.wait()
            if rc == 0:
                continue  # it finished before the kill
            assert rc == -signal.SIGKILL, proc.stderr
            kills += 1
            landed[build_state(out)] += 1
            partial = fmt.partial_path(str(out))
            open_for_write += os.path.exists(partial) and superblock_open_for_write(partial)
            if out.exists():  # the store's name never holds an unfinished file
                with open_store(out) as st:
                    assert st.attrs[fmt.ATTR_COMPLETE]
        final = run_cli("build", *build_args(root, out))
        assert final.returncode == 0, final.stderr
        details_lost += report_details_lost(assert_like_reference(out, reference), reference)
        episodes += 1
    assert landed["metadata"] and landed["images"] and landed["finish"] + landed["done"], landed
    where = f"{landed['metadata']} in the metadata stage, {landed['images']} in the image stage"
    where += f", {landed['finish'] + landed['done']} in the finish stage"
    if landed["done"]:
        where += f" ({landed['done']} of them after the store had been renamed into place)"
    if open_for_write:
        where += f"; {open_for_write} left the partial file marked open for writing by HDF5"
    lost = "Nothing: every dataset and root attribute equal to an uninterrupted build"
    if details_lost:
        lost += (
            f". The report keeps every bad row's status and reason, but the decoder's message of {details_lost}"
            " bad row(s) decoded before a kill was not repeated."
        )
    record(
        f"kill -9 of the builder and its workers at {N_KILLS} random moments, each followed by a resume"
        f" (over {episodes} builds of {ROWS} rows, with 1 or 2 decoding workers)",
        f"Kills landed: {where}. After each kill the store path was absent or held a complete store; every"
        " rerun of the same command resumed: HDF5's open-for-write flags are cleared, a partial file whose"
        " metadata stage did not finish is discarded and rewritten, and pixels written but not yet marked"
        " done are decoded again.",
        lost,
    )


# ------------------------------------------------------------------------------ SIGINT / SIGTERM
@pytest.mark.slow
@pytest.mark.parametrize(
    ("signame", "group"),
    [("SIGINT", True), ("SIGTERM", False)],
    ids=["SIGINT-to-the-group-like-Ctrl-C", "SIGTERM-to-the-builder-like-kill"],
)
def test_signal_at_each_stage_exits_cleanly_and_resumes(reference, tmp_path, record, signame, group):
    root, out = reference["root"], tmp_path / "s.h5"
    sig = getattr(signal, signame)
    seen = []
    for stage, delay in (("build", 0.4), ("images", 0.8), ("finish", 0.15)):
        proc = start_build(*build_args(root, out, workers=2), logs=tmp_path / "logs", dilate=DILATE)
        assert proc.wait_marker(stage), proc.stderr
        time.sleep(delay)
        if group:
            proc.kill_group(sig)
        else:
            proc.proc.send_signal(sig)
        rc = proc.wait()
        err = proc.stderr
        assert rc == 130, err
        assert f"Build interrupted ({signame})" in err, err
        assert "Traceback" not in err, err
        assert "Run the same command again" in err, err
        deadline = time.monotonic() + 10
        while proc.group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not proc.group_alive(), "a decoding worker outlived the builder"
        seen.append((stage, build_state(out), err.strip().splitlines()[-1]))
    final = run_cli("build", *build_args(root, out))
    assert final.returncode == 0, final.stderr
    report_details_lost(assert_like_reference(out, reference), reference)
    how = "to the process group (as Ctrl-C does)" if group else "to the builder only (as `kill` does)"
    record(
        f"{signame} {how} in the metadata, image and finish stages, then a rerun",
        f"Exit code 130 each time, no traceback, no process left behind, and the message `{seen[1][2]}`"
        " (the metadata-stage message says the same, or that nothing had been written yet). The rerun"
        " resumed and finished.",
        "Nothing: every dataset and root attribute equal to an uninterrupted build.",
    )


# ------------------------------------------------------------------------------ a full disk
def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("compression", [None, "lzf"], ids=["uncompressed", "lzf"])
def test_file_size_limit_below_the_store_is_refused_before_writing(reference, tmp_path, record, compression):
    root, out = reference["root"], tmp_path / "s.h5"
    extra = ["--compression", compression] if compression else []
    limit = 2_000_000  # the uncompressed store is about 10 MB
    proc = run_cli("build", *build_args(root, out, *extra), preexec_fn=_limit_file_size(limit))
    assert proc.returncode == 2, proc.stderr
    assert "error:" in proc.stderr and "file-size limit" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and not Path(fmt.partial_path(str(out))).exists()
    again = run_cli("build", *build_args(root, out, *extra))
    assert again.returncode == 0, again.stderr
    arrays, _ = store_arrays(out)
    assert differences(arrays, reference["arrays"]) == []
    if compression:
        record(
            "The file-size limit is below the uncompressed size of a `--compression lzf` store",
            "Refused before writing anything, exit code 2, with the same message: a compressed store is"
            " checked against its uncompressed size (the row on a `--compression lzf` build with"
            " `--no-space-check` below shows why).",
            "Nothing (nothing had been written).",
        )
        return
    record(
        "The file-size limit (RLIMIT_FSIZE, `ulimit -f`) is below the store's size",
        f"Refused before writing anything, exit code 2: `{proc.stderr.strip().splitlines()[-1]}` Once the limit"
        " was lifted, the same command built the store.",
        "Nothing (nothing had been written).",
    )


@pytest.mark.parametrize("limit", [100_000, 2_000_000], ids=["100KB", "2MB"])
def test_file_size_limit_in_the_metadata_stage_with_no_space_check(reference, tmp_path, record, limit):
    """``--no-space-check`` lets the build start under a limit it cannot meet: stage 1 hits it.

    HDF5 reports a failed write in most places, but not in all: a failure while its first
    structures are written can crash it. This records what really happens at two limits.
    """
    root, out = reference["root"], tmp_path / "s.h5"
    proc = run_cli("build", *build_args(root, out, "--no-space-check"), preexec_fn=_limit_file_size(limit))
    assert proc.returncode in (2, -signal.SIGSEGV), proc.stderr
    message = [line for line in proc.stderr.splitlines() if line.startswith("bioscan-h5 build: error:")]
    if proc.returncode == 2:
        assert message and "File too large" in message[0] and "Traceback" not in proc.stderr, proc.stderr
    again = run_cli("build", *build_args(root, out))
    assert again.returncode == 0, again.stderr
    assert_like_reference(out, reference)
    did = (
        f"Exit code 2: `{sanitize(message[0])}`"
        if proc.returncode == 2
        else "Died of SIGSEGV inside HDF5 while it wrote its first structures (no message: HDF5 does not"
        " survive every failed write; without `--no-space-check` this build is refused up front)."
    )
    record(
        f"`--no-space-check` and a file-size limit of {limit // 1000} KB, reached in the metadata stage",
        did + " The rerun without the limit discarded the unfinished partial file and built the store.",
        "Nothing: every dataset and root attribute equal to an uninterrupted build.",
    )


def test_file_size_limit_hit_while_compressed_pixels_are_written(reference, tmp_path, record):
    """With --compression the file grows as pixels come in: the limit is hit in the image stage.

    ``--no-space-check`` skips the check that refuses this build up front. HDF5 cannot close a
    file after a failed write, and h5py then crashes the process when it lets go of the file:
    this records what really happens. Which signal ends it (SIGSEGV mostly, also SIGBUS or
    SIGABRT, or none) depends on the memory layout of the process: a ten-line h5py script with
    lzf shows the same spread, so any of them is accepted, after the message.
    """
    root, out = reference["root"], tmp_path / "s.h5"
    args = build_args(root, out, "--compression", "lzf")
    proc = run_cli("build", *args, "--no-space-check", preexec_fn=_limit_file_size(3_000_000))
    died = crash(proc.returncode)
    assert proc.returncode == 2 or died in ("SIGSEGV", "SIGBUS", "SIGABRT"), proc.stderr
    message = next(line for line in proc.stderr.splitlines() if line.startswith("bioscan-h5 build: error:"))
    assert "File too large" in message and "run the same command again" in message, proc.stderr
    again = run_cli("build", *args)
    assert again.returncode == 0, again.stderr
    resumed = "resuming" in again.stderr
    arrays, _ = store_arrays(out)
    assert differences(arrays, reference["arrays"]) == []
    record(
        "The file-size limit is reached in the image stage of a `--compression lzf` build (whose file grows"
        " as pixels are written), with `--no-space-check`",
        f"Printed `{sanitize(message)}`"
        + (
            f", then died of {died}: once an HDF5 write has failed the file cannot be closed, and h5py"
            " crashes when it lets go of it (an h5py/HDF5 fault; without `--no-space-check` this build is"
            " refused up front)."
            if died
            else ", exit code 2."
        )
        + (
            " The rerun resumed from the partial file."
            if resumed
            else " The rerun found the partial file unreadable, discarded it and built again."
        ),
        "Nothing in the store: every dataset equal to an uninterrupted build."
        + ("" if resumed else " The pixels decoded before the failure were decoded again."),
    )


def test_file_size_limit_hit_in_the_middle_of_a_row(reference, tmp_path, record):
    """The uncompressed pixel stage runs out of room inside a row (the kernel accepts a short write).

    The metadata stage runs first without a limit (``--no-images``, its file then left under the
    partial name); the images are then added under a limit that ends half-way through the pixels
    of row 150.
    """
    root, out = reference["root"], tmp_path / "s.h5"
    first = run_cli("build", *build_args(root, out, "--no-images"))
    assert first.returncode == 0, first.stderr
    offset = int(store_arrays(out)[1][fmt.ATTR_PIXEL_OFFSET])
    # left as a build whose image stage has not started (extending a finished store would copy
    # it first, and the limit refuses that copy outright: test_build_resume.py)
    out.rename(fmt.partial_path(str(out)))
    limit = offset + 150 * SIZE * SIZE * 3 + SIZE * SIZE * 3 // 2
    proc = run_cli("build", *build_args(root, out), preexec_fn=_limit_file_size(limit))
    assert proc.returncode == 2, proc.stderr
    assert "File too large" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    again = run_cli("build", *build_args(root, out))
    assert again.returncode == 0 and "resuming" in again.stderr, again.stderr
    assert_like_reference(out, reference, ignore_attrs=())
    record(
        "The disk fills up in the middle of the pixel stage (a file-size limit that ends inside a row's"
        " pixels, so the kernel first accepts a short write)",
        f"Stopped with exit code 2: `{proc.stderr.strip().splitlines()[-1]}` The rerun resumed from the"
        " partial file; the row cut short was decoded again.",
        "Nothing: every dataset and root attribute equal to an uninterrupted build.",
    )


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return proc.returncode == 0


@pytest.mark.slow
def test_a_really_full_disk_in_the_pixel_stage(reference, tmp_path, record):
    """ENOSPC from a real, small file system (a tmpfs), where mounting one is allowed."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "6m"):
        pytest.skip("mounting a small tmpfs needs root and CAP_SYS_ADMIN")
    try:
        root, out = reference["root"], disk / "s.h5"
        proc = run_cli("build", *build_args(root, out, "--no-space-check"))
        assert proc.returncode == 2, proc.stderr
        assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        partial = fmt.partial_path(str(out))
        # Move the partial build to a roomier disk and resume it there.
        moved = tmp_path / "s.h5"
        shutil.copyfile(partial, fmt.partial_path(str(moved)))
        again = run_cli("build", *build_args(root, moved))
        assert again.returncode == 0 and "resuming" in again.stderr, again.stderr
        assert_like_reference(moved, reference)
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    record(
        "The disk really fills up in the pixel stage (a 6 MB tmpfs; `--no-space-check` stands in for a"
        " disk that another program fills during the build)",
        f"Stopped with exit code 2: `{proc.stderr.strip().splitlines()[-1]}` The partial file, copied to a"
        " disk with room, resumed there and finished.",
        "Nothing: every dataset and root attribute equal to an uninterrupted build.",
    )


# ------------------------------------------------------------------------------ two builders
def test_a_second_builder_on_the_same_output_is_refused(reference, tmp_path, record):
    root, out = reference["root"], tmp_path / "s.h5"
    first = start_build(*build_args(root, out), logs=tmp_path / "logs", dilate=DILATE + ",row=0.01")
    assert first.wait_marker("images"), first.stderr
    second = run_cli("build", *build_args(root, out))
    assert first.proc.poll() is None, "the first builder should still be running"
    assert second.returncode == 2, second.stderr
    assert "Another build is writing" in second.stderr and "Traceback" not in second.stderr
    assert first.wait() == 0, first.stderr
    assert_like_reference(out, reference)
    record(
        "A second `bioscan-h5 build` on the same output while the first one runs",
        f"The second was refused, exit code 2: `{second.stderr.strip().splitlines()[-1]}` The first went on"
        " and finished.",
        "Nothing: the first build's store equals an uninterrupted build.",
    )


HOLD_LOCK = """
import os, sys, time
from bioscan_h5.build.lock import build_lock as _build_lock
with _build_lock(sys.argv[1]):
    print("held", flush=True)
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.01)
"""


@pytest.mark.slow
def test_a_lock_won_on_a_just_unlinked_lock_file_is_taken_again(reference, tmp_path, record):
    """Builder B opens the lock file just before its holder finishes and unlinks it.

    B's ``flock`` then succeeds on the unlinked file while builder C creates and locks a new
    one: without a check both would build the same output at once.
    """
    root, out = reference["root"], tmp_path / "s.h5"
    release = tmp_path / "release"
    holder = start(
        [sys.executable, "-c", HOLD_LOCK, str(out), str(release)], tmp_path / "logs", env=subprocess_env()
    )
    deadline = time.monotonic() + 60
    while "held" not in holder.stdout:
        assert holder.proc.poll() is None and time.monotonic() < deadline, holder.stderr
        time.sleep(0.01)
    b = start_build(*build_args(root, out), logs=tmp_path / "logs", dilate="lock=10")
    assert b.wait_marker("flock"), b.stderr  # B has the old lock file open, and waits
    release.touch()
    assert holder.wait() == 0, holder.stderr
    c = start_build(*build_args(root, out), logs=tmp_path / "logs", dilate=DILATE + ",row=0.01")
    assert c.wait_marker("images"), c.stderr
    assert c.proc.poll() is None, "the third builder should still be running when B wakes up"
    assert b.wait() == 2, b.stdout + b.stderr
    assert "Another build is writing" in b.stderr, b.stderr
    assert c.wait() == 0, c.stderr
    assert_like_reference(out, reference)
    record(
        "A builder wins the lock on a lock file the previous builder has just unlinked, while a third"
        " builder creates and locks a new one",
        "The late builder noticed that its lock file was no longer the one at the path, tried again and was"
        " refused (exit code 2, `Another build is writing ...`); the third finished.",
        "Nothing: the store equals an uninterrupted build.",
    )
