"""Metadata the first matrix missed (issue 14): too many columns, control characters, huge
integers, and a disk that is full before the build writes anything.

Each refusal must be a :class:`~bioscan_h5.errors.MetadataError` (or
:class:`~bioscan_h5.errors.InsufficientSpaceError`) naming the row, column and value, and
``bioscan-h5 build`` must exit with status 2 and that message on one line, quickly.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bioscan_h5 import format as fmt
from bioscan_h5.store import open_store

from ._helpers import METADATA, run_cli, sanitize, subprocess_env
from .test_bad_metadata import build_no_images, in_process_error, read_rows, set_cell, write_rows

pytestmark = pytest.mark.subprocess

SECTION = "Bad metadata files"


def _edit(root: Path, change) -> Path:
    meta = root / METADATA["bioscan5m"]
    rows = read_rows(meta, ",")
    change(rows)
    write_rows(meta, rows, ",")
    return meta


def _refused(root: Path, tmp_path: Path) -> tuple[str, float]:
    start = time.monotonic()
    proc = build_no_images(root, tmp_path / "s.h5")
    seconds = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    assert not (tmp_path / "s.h5").exists() and not Path(fmt.partial_path(str(tmp_path / "s.h5"))).exists()
    return message, seconds


def test_a_file_with_100000_columns_is_refused_at_once(fault_root, tmp_path, record):
    root = fault_root(n_rows=64, seed=5)

    def widen(rows: list[list[str]]) -> None:
        rows[0] += [f"extra{i}" for i in range(100_000)]
        for r in rows[1:]:
            r += [""] * 100_000

    _edit(root, widen)
    message, seconds = _refused(root, tmp_path)
    assert seconds < 60, seconds
    assert f"more than the {fmt.MAX_COLUMNS}" in message and "100023 columns" in message
    record(
        "a metadata file with 100,000 extra (empty) columns",
        f"Refused in {seconds:.1f} s (the whole `bioscan-h5 build` process, exit status 2), before any row is"
        f" parsed: `{sanitize(message, 420)}`",
        "Nothing: no store or partial file is written.",
    )


@pytest.mark.parametrize(
    ("name", "row", "column", "value"),
    [
        ("a NUL inside a category value", 4, "country", "Can\x00ada"),
        ("an escape character (0x1B) inside an identifier", 6, "sampleid", "BIOUG\x1b[31m123"),
        ("a DEL character (0x7F) inside a label", 9, "species", "Aedes\x7f vexans"),
    ],
)
def test_control_characters_are_refused_with_row_column_and_value(
    name, row, column, value, fault_root, tmp_path, record
):
    root = fault_root(n_rows=64, seed=5)
    _edit(root, lambda rows: set_cell(rows, row, column, value))
    err = in_process_error(root, tmp_path / "a.h5")
    assert (err.row, err.column, err.value) == (row, column, value)
    message, _ = _refused(root, tmp_path)
    assert f"data row {row + 1}" in message and repr(column) in message and "control character" in message
    record(
        name,
        f"Refused: `MetadataError` (row {row}, column {column!r}, value {value!r}); `bioscan-h5 build` exits"
        f" with status 2 and prints `{sanitize(message, 380)}`",
        "Nothing: no store or partial file is written.",
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("9223372036854775808", "outside the 64-bit integer range"),
        ("-1e30", "outside the 64-bit integer range"),
    ],
)
def test_integers_beyond_int64_are_refused(value, reason, fault_root, tmp_path, record):
    root = fault_root(n_rows=64, seed=5)
    _edit(root, lambda rows: set_cell(rows, 3, "inferred_ranks", value))
    err = in_process_error(root, tmp_path / "a.h5")
    assert (err.row, err.column, err.value) == (3, "inferred_ranks", value)
    message, _ = _refused(root, tmp_path)
    assert reason in message and "data row 4" in message
    record(
        f"an integer column holding {value} (beyond int64)",
        f"Refused: `MetadataError` (row 3, column 'inferred_ranks', value {value!r}), exit status 2:"
        f" `{sanitize(message, 380)}`",
        "Nothing: no store or partial file is written (it used to be stored as -9223372036854775808).",
    )


def test_integers_are_parsed_exactly(fault_root, tmp_path, record):
    root = fault_root(n_rows=64, seed=5)
    values = {2: "9007199254740993", 5: "9223372036854775807", 7: "150502.0", 8: "-12"}

    def change(rows):
        for row, v in values.items():
            set_cell(rows, row, "index_bioscan_1M_insect", v)

    _edit(root, change)
    proc = build_no_images(root, tmp_path / "s.h5")
    assert proc.returncode == 0, proc.stderr
    with open_store(tmp_path / "s.h5") as st:
        got = st.column_values("index_bioscan_1M_insect", sorted(values))
    assert [int(v) for v in got] == [9007199254740993, 2**63 - 1, 150502, -12]
    record(
        "integers above 2**53 and up to 2**63 - 1 in an integer column, and one written '150502.0'",
        "Built, and each reads back exactly: 9007199254740993 (2**53 + 1, which a float64 round trip"
        " turns into ...992), 9223372036854775807 and 150502. Integers are parsed from their text,"
        " never through float64.",
        "Nothing.",
    )


def _mount_full_tmpfs(path: Path) -> bool:
    """A 1 MB tmpfs at ``path``, filled to the last byte (where mounting is allowed)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)], capture_output=True
    ).returncode:
        return False
    with open(path / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return True


def test_a_full_disk_at_the_build_lock_gives_one_line(fault_root, tmp_path, record):
    root = fault_root(n_rows=64, seed=5)
    disk = tmp_path / "disk"
    mounted = _mount_full_tmpfs(disk)
    try:
        if mounted:
            out = disk / "s.h5"
            proc = run_cli("build", "--root", root, "--no-images", "--out", out, "--no-progress")
            how = "a full 1 MB tmpfs (a real ENOSPC)"
            words = "No space left on device"
        else:  # a file-size limit of 0 bytes: EFBIG at the first byte written, the lock's
            out = tmp_path / "s.h5"

            def limit() -> None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

            env = subprocess_env(PYTHONDONTWRITEBYTECODE="1")
            proc = run_cli(
                "build",
                "--root",
                root,
                "--no-images",
                "--out",
                out,
                "--no-progress",
                env=env,
                preexec_fn=limit,
            )
            how = "a file-size limit of 0 bytes (EFBIG)"
            words = "File too large"
        assert proc.returncode == 2, proc.stderr
        message = proc.stderr.strip()
        assert "Traceback" not in message and len(message.splitlines()) == 1, message
        assert "Writing the build lock" in message and words in message
        assert not out.exists() and not Path(fmt.lock_path(str(out))).exists()
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    record(
        f"no room for the build lock's first bytes: {how}",
        f"Exit status 2 and one line: `{sanitize(message, 300)}`; the lock file is removed.",
        "Nothing (nothing had been written).",
    )
