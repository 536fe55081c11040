"""A metadata file that names a column twice, or is replaced while the build reads it (issue 24).

A header with a repeated column name must be refused naming it (pandas would keep the first
and rename the second). A file replaced back and forth between two versions by another
thread while builds run must never give a store whose recorded fingerprint describes one
version and whose rows hold the other.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading

import pytest

from bioscan_h5 import format as fmt
from bioscan_h5.build import BuildConfig, build
from bioscan_h5.errors import MetadataError
from bioscan_h5.store import open_store

from ._helpers import METADATA, read_rows, sanitize, write_rows
from .test_bad_metadata import build_no_images

pytestmark = pytest.mark.subprocess

SECTION = "Bad metadata files"


def test_a_column_named_twice_is_refused(fault_root, tmp_path, record):
    root = fault_root()
    meta = root / METADATA["bioscan5m"]
    header, body = read_rows(meta)
    k = header.index("species")
    write_rows(meta, [*header, "species"], [[*row, "Aedes aegypti"] for row in body])
    proc = build_no_images(root, tmp_path / "s.h5")
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert "'species'" in message and "more than once" in message, message
    assert k >= 0 and not (tmp_path / "s.h5").exists()
    record(
        "A metadata header that names a column twice (a second `species` column with other values)",
        f"Refused, exit code 2: `{sanitize(message)}`",
        "Nothing (nothing had been written).",
    )


@pytest.mark.slow
def test_a_metadata_file_replaced_during_builds_never_mixes(fault_root, tmp_path, record):
    root = fault_root()
    meta = root / METADATA["bioscan5m"]
    header, body = read_rows(meta)
    pid = header.index("processid")
    versions = {}
    for tag in ("A", "B"):
        path = tmp_path / f"{tag}.csv"
        write_rows(path, header, [[*r[:pid], r[pid] + tag, *r[pid + 1 :]] for r in body])
        versions[hashlib.sha256(path.read_bytes()).hexdigest()] = tag
    stop = threading.Event()

    def swap() -> None:
        i = 0
        while not stop.is_set():
            tag = "AB"[i % 2]
            shutil.copyfile(tmp_path / f"{tag}.csv", tmp_path / "next.csv")
            os.replace(tmp_path / "next.csv", meta)
            i += 1

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    outcomes = {"built": 0, "refused": 0, "mixed": 0}
    message = ""
    try:
        for k in range(20):
            out = tmp_path / f"s{k}.h5"
            try:
                build(BuildConfig(root=str(root), no_images=True, out=str(out), progress=False))
            except MetadataError as exc:
                outcomes["refused"] += 1
                message = str(exc)
                continue
            outcomes["built"] += 1
            with open_store(out) as st:
                recorded = versions.get(json.loads(st.attrs[fmt.ATTR_SOURCE])["sha256"])
                tags = {str(v)[-1] for v in st.column_values("processid")}
            outcomes["mixed"] += int(tags != {recorded})
    finally:
        stop.set()
        thread.join(10)
    assert outcomes["mixed"] == 0, outcomes
    assert outcomes["built"] + outcomes["refused"] == 20
    record(
        "The metadata file replaced back and forth between two versions by another program during 20 builds",
        f"{outcomes['built']} builds finished with the fingerprint and the rows of one same version;"
        f" {outcomes['refused']} were refused: `{sanitize(message, 300)}`",
        "Nothing: no store records one file and holds the other.",
    )
