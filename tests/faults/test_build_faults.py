"""Bad inputs and interrupted builds (issue 2).

Bad images are flagged (row kept, pixels zero, status says why), counted, reported beside the
store and summarised; ``--strict`` turns them into an error. Bad metadata stops the build with
a message naming the row, column and value. A build killed with ``kill -9`` (a real
subprocess), or stopped with SIGINT / SIGTERM, resumes to a store identical to an
uninterrupted build; a build that runs out of file space keeps its work.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from bioscan_h5 import format as fmt
from bioscan_h5.errors import MetadataError
from bioscan_h5.format import ImageStatus
from bioscan_h5.store import open_store

KILL_SIZE = 64  #: image side of the interrupted builds (small writes; decoding dominates)
KILL_COPIES = 30  #: the 320-row sample root, 30 times over: 9,600 rows, over 2 s even on 2 fast cores


# ------------------------------------------------------------------------------ helpers
def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], body: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *body])


def set_value(path: Path, row: int, column: str, value: str) -> None:
    header, body = read_rows(path)
    body[row][header.index(column)] = value
    write_rows(path, header, body)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` pixels and holds none (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


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


def rows_done(partial: str) -> int:
    """Rows marked done in a partial store, -1 while its metadata stage is running."""
    try:
        with h5py.File(partial, "r", locking=False) as f:
            if not f.attrs.get(fmt.ATTR_METADATA_WRITTEN, False):
                return -1
            return int(np.count_nonzero(f[fmt.IMAGE_STATUS][()]))
    except (OSError, KeyError):
        return -1


def wait_for(predicate, proc, timeout: float = 120, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.proc.poll() is not None:
            pytest.fail(f"the build ended (rc {proc.proc.returncode}) before {what}:\n{proc.stderr[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# ------------------------------------------------------------------------------ bad images
def test_every_bad_image_is_flagged_counted_and_reported(make_root, build_store, tmp_path):
    root = make_root()
    outside = tmp_path / "outside.jpg"
    Image.new("RGB", (300, 256), (200, 100, 50)).save(outside)
    pretrain = root.split_rows("pretrain")
    extra = {}  # row -> (expected status, what was done)
    r = iter(pretrain[5:])
    row = next(r)
    root.image_path(row).unlink()
    root.image_path(row).mkdir()
    extra[row] = ImageStatus.NOT_A_FILE
    row = next(r)
    root.image_path(row).unlink()
    root.image_path(row).symlink_to(outside)
    extra[row] = ImageStatus.OUTSIDE_ROOT
    row = next(r)
    root.image_path(row).unlink()
    root.image_path(row).symlink_to(root.image_dir() / ".." / ".." / ".." / ".." / outside.relative_to("/"))
    extra[row] = ImageStatus.OUTSIDE_ROOT
    row = next(r)
    root.image_path(row).write_bytes(png_header_only(30_000, 30_000))
    extra[row] = ImageStatus.TOO_LARGE
    row = next(r)
    root.image_path(row).unlink()
    root.image_path(row).symlink_to(root.image_dir() / "does-not-exist.jpg")  # dangling, inside
    extra[row] = ImageStatus.MISSING
    inside_row = next(r)
    target = root.image_path(pretrain[0])
    root.image_path(inside_row).unlink()
    root.image_path(inside_row).symlink_to(target)  # a link inside the image folder is fine

    res = build_store(root, image_size=24, out=tmp_path / "s.h5", workers=2, draft=False)
    kinds = {f["row"]: f["kind"] for f in root.faults()}
    by_kind = {
        "zero_bytes": ImageStatus.EMPTY,
        "truncated": ImageStatus.UNDECODABLE,
        "not_an_image": ImageStatus.UNDECODABLE,
        "missing": ImageStatus.MISSING,
        "grayscale": ImageStatus.OK,
        "cmyk": ImageStatus.OK,
        "png_named_jpg": ImageStatus.OK,
    }
    expected = {row: by_kind[kind] for row, kind in kinds.items()} | extra
    bad = {row for row, status in expected.items() if status != ImageStatus.OK}
    report = json.loads(Path(res.report).read_text(encoding="utf-8"))
    assert Path(res.report).parent == Path(res.store).parent  # written beside the store
    assert {b["row"]: b["status"] for b in report["bad_images"]} == {r: expected[r].name for r in bad}
    assert len(res.bad_rows) == len(bad)
    with open_store(res.store) as st:
        assert len(st) == root.n_rows  # every row kept
        status = np.asarray(st.image_status)
        for row, want in expected.items():
            assert status[row] == want, (row, ImageStatus(status[row]), want)
        for row in bad:
            assert not st.images[row].any()
            assert not st.image_ok[row]
            assert st.labels["phylum"][row] >= 0  # the row's labels are still there
        assert np.array_equal(st.images[inside_row], st.images[pretrain[0]])
        counts = json.loads(st.attrs[fmt.ATTR_COUNTS])
    for s in ImageStatus:
        assert counts[s.name] == int((status == s).sum())
        assert res.counts[s.name] == counts[s.name]
    assert counts["OUTSIDE_ROOT"] == 2 and counts["TOO_LARGE"] == 1 and counts["NOT_A_FILE"] == 1
    too_large = next(b for b in report["bad_images"] if b["status"] == "TOO_LARGE")
    assert "decompression bomb" in too_large["detail"].lower() or "exceeds limit" in too_large["detail"]


def test_decodable_oddities_become_rgb(sample_root_5m, store_5m):
    """Grayscale and CMYK JPEGs and a PNG named .jpg are decoded to RGB like any image."""
    with open_store(store_5m) as st:
        for kind in ("grayscale", "cmyk", "png_named_jpg"):
            row = sample_root_5m.fault_row(kind)
            assert st.image_status[row] == ImageStatus.OK, kind
            img = np.asarray(st.images[row])
            assert img.shape == (256, 256, 3) and img.any()
            w, h = sample_root_5m.manifest["image_sizes"]["cropped_256"][row]
            assert tuple(st.image_source_size[row]) == (w, h)
        gray = np.asarray(st.images[sample_root_5m.fault_row("grayscale")])
        assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    with Image.open(sample_root_5m.fault_path("png_named_jpg")) as im:
        assert im.format == "PNG"
    with Image.open(sample_root_5m.fault_path("cmyk")) as im:
        assert im.mode == "CMYK"


def test_strict_stops_at_the_first_bad_image(make_root, build_store, run_cli, tmp_path):
    root = make_root()
    out = tmp_path / "s.h5"
    with pytest.raises(MetadataError, match="--strict stops at the first bad image") as info:
        build_store(root, image_size=16, out=out, strict=True, workers=2)
    first_bad = min(root.undecodable_rows)
    assert info.value.row == first_bad
    assert info.value.path == str(root.image_path(first_bad))
    partial = fmt.partial_path(str(out))
    assert os.path.exists(partial) and not out.exists()
    assert 0 < rows_done(partial) <= first_bad  # the rows before it are kept, the bad one is not
    # A rerun with --strict checks the same file again (the bad row was not recorded).
    args = ["build", "--root", root.root, "--image-size", 16, "--out", out, "--no-progress"]
    proc = run_cli(*args, "--strict")
    assert proc.returncode == 2
    assert "bioscan-h5 build: error:" in proc.stderr
    assert str(root.image_path(first_bad)) in proc.stderr
    assert "without --strict" in proc.stderr
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(root.undecodable_rows)} bad image(s) flagged" in proc.stdout


def test_strict_failure_of_a_compressed_build_releases_the_file(make_root, build_store, tmp_path):
    root = make_root()
    out = tmp_path / "s.h5"
    with pytest.raises(MetadataError):
        build_store(root, image_size=16, out=out, strict=True, compression="lzf", workers=1)
    res = build_store(root, image_size=16, out=out, compression="lzf", workers=1)  # same process
    assert res.resumed
    with open_store(out) as st:
        assert st.image_ok.sum() == root.n_rows - len(root.undecodable_rows)


# ------------------------------------------------------------------------------ bad metadata
def _drop_column(name):
    def change(path: Path) -> None:
        header, body = read_rows(path)
        i = header.index(name)
        write_rows(path, header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in body])

    return change


def _set(row, column, value):
    return lambda path: set_value(path, row, column, value)


def _duplicate_id(path: Path) -> None:
    header, body = read_rows(path)
    i = header.index("processid")
    body[41][i] = body[3][i]
    write_rows(path, header, body)


# (id, change, row, column, value, message)
BAD_METADATA = [
    ("missing-column", _drop_column("split"), None, None, None, "missing required column(s) 'split'"),
    ("missing-barcodes", _drop_column("dna_barcode"), None, None, None, "'dna_barcode'"),
    ("duplicated-id", _duplicate_id, 41, "processid", None, "duplicated id (also on data row 4)"),
    ("unknown-split", _set(17, "split", "holdout"), 17, "split", "holdout", "unknown split name"),
    ("empty-split", _set(18, "split", ""), 18, "split", "", "unknown split name"),
    ("float-text", _set(12, "coord-lat", "45.2N"), 12, "coord-lat", "45.2N", "not a number"),
    ("float-comma", _set(13, "area_fraction", "0,25"), 13, "area_fraction", "0,25", "not a number"),
    ("int-fraction", _set(14, "inferred_ranks", "2.5"), 14, "inferred_ranks", "2.5", "not a whole number"),
    (
        "int-text",
        _set(15, "index_bioscan_1M_insect", "abc"),
        15,
        "index_bioscan_1M_insect",
        "abc",
        "whole number",
    ),
    ("barcode-x", _set(20, "dna_barcode", "ACGTAXCGT"), 20, "dna_barcode", "X", "barcode letter 6"),
    ("barcode-digit", _set(21, "dna_barcode", "ACG7"), 21, "dna_barcode", "7", "barcode letter 4"),
    ("barcode-space", _set(22, "dna_barcode", "ACG T"), 22, "dna_barcode", " ", "barcode letter 4"),
    (
        "id-parent",
        _set(30, "processid", "../../../etc/passwd"),
        30,
        "processid",
        "../../../etc/passwd",
        "outside",
    ),
    ("id-dotdot", _set(31, "processid", ".."), 31, "processid", "..", "outside the image folder"),
    ("id-backslash", _set(32, "processid", "a\\b"), 32, "processid", "a\\b", "outside the image folder"),
    ("chunk-slash", _set(33, "chunk", "../x"), 33, "chunk", "../x", "outside the image folder"),
    ("chunk-dot", _set(34, "chunk", "."), 34, "chunk", ".", "outside the image folder"),
    ("empty-id", _set(35, "processid", ""), 35, "processid", "", "the id is empty"),
]


@pytest.mark.parametrize(
    ("change", "row", "column", "value", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_METADATA],
)
def test_bad_metadata_stops_the_build(make_root, build_store, tmp_path, change, row, column, value, message):
    root = make_root()
    change(root.metadata)
    out = tmp_path / "out" / "s.h5"
    with pytest.raises(MetadataError) as info:
        build_store(root, image_size=16, out=out)
    err = info.value
    text = str(err)
    assert message in text
    assert str(root.metadata) in text
    assert isinstance(err, ValueError)
    if row is not None:
        assert err.row == row
        assert f"data row {row + 1}" in text
    if column is not None:
        assert err.column == column
        assert repr(column) in text
    if value is not None:
        assert err.value == value
        assert repr(value) in text
    # Nothing written: no store, no partial file, no report.
    assert not out.parent.exists() or os.listdir(out.parent) == []
    # The dry run reads the same file and refuses it too.
    with pytest.raises(MetadataError):
        build_store(root, image_size=16, out=out, dry_run=True)


def test_duplicated_id_names_the_value(make_root, build_store):
    root = make_root()
    _duplicate_id(root.metadata)
    with pytest.raises(MetadataError) as info:
        build_store(root, no_images=True)
    pid = read_rows(root.metadata)[1][3][0]
    assert info.value.value == pid and repr(pid) in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (",".join(["processid"]).encode() + b"\n", "missing required column(s)"),
        (None, "no data rows"),
    ],
    ids=["zero-bytes", "wrong-header", "header-only"],
)
def test_unreadable_metadata_files(make_root, build_store, content, message):
    root = make_root()
    if content is None:
        content = root.metadata.read_bytes().split(b"\n", 1)[0] + b"\n"
    root.metadata.write_bytes(content)
    with pytest.raises(MetadataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_store(root, no_images=True)


def test_metadata_that_is_not_utf8(make_root, build_store):
    root = make_root()
    data = root.metadata.read_bytes()
    at = data.index(b"Diptera")
    root.metadata.write_bytes(data[:at] + b"Dipt\xe8ra" + data[at + 7 :])  # Latin-1, not UTF-8
    with pytest.raises(MetadataError, match="UTF-8") as info:
        build_store(root, no_images=True)
    assert "Re-save the file as UTF-8" in str(info.value)


def test_every_nucleotide_code_and_gap_is_accepted(make_root, build_store, tmp_path):
    root = make_root()
    codes = "ACGTNRYKMSWBDHVU-acgtn"
    set_value(root.metadata, 9, "dna_barcode", codes)
    res = build_store(root, out=tmp_path / "s.h5", no_images=True)
    with open_store(res.store) as st:
        assert st.barcodes([9]) == [codes]


def test_first_row_without_a_chunk_builds(make_root, build_store, tmp_path):
    """Regression: a root whose first row has no chunk folder (val, test, ...) was refused."""
    root = make_root()
    header, body = read_rows(root.metadata)
    split, chunk = header.index("split"), header.index("chunk")
    first = next(i for i, r in enumerate(body) if r[split] == "val")
    assert body[first][chunk] == ""
    body.insert(0, body.pop(first))
    write_rows(root.metadata, header, body)
    res = build_store(root, image_size=16, out=tmp_path / "s.h5", splits="val", workers=1)
    with open_store(res.store) as st:
        assert st.column_values("split", [0])[0] == "val"
        assert st.image_status[0] != ImageStatus.PENDING


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
    from bioscan_h5.builder import BuildConfig, build

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
    with pytest.raises(OSError):  # HDF5 refuses a file flagged as open for writing
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
    assert res.decoded_now == root.n_rows - done
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
