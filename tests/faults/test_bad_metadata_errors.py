"""Bad metadata stops an in-process build with a message naming the row, column and value.

Each fault is checked on :class:`~bioscan_h5.errors.MetadataError` itself (its ``row``,
``column`` and ``value`` and the message that shows them), on the files left behind (none)
and on a dry run; ``test_bad_metadata.py`` runs the command on more faults. Also: values that
look odd but are valid (every nucleotide code, a first row without a chunk) build.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bioscan_h5.errors import MetadataError
from bioscan_h5.format import ImageStatus
from bioscan_h5.store import open_store

from ._helpers import read_rows, write_rows


def set_value(path: Path, row: int, column: str, value: str) -> None:
    header, body = read_rows(path)
    body[row][header.index(column)] = value
    write_rows(path, header, body)


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


# "zero-bytes" (the file is empty) and "header-only" (no data rows) were cases here too: they are
# test_bad_metadata.py's "an empty file (0 bytes)" and "a header and no data rows", which check
# the same message and more (the error's attributes, the command's exit code and message).
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (",".join(["processid"]).encode() + b"\n", "missing required column(s)"),
    ],
    ids=["wrong-header"],
)
def test_unreadable_metadata_files(make_root, build_store, content, message):
    root = make_root()
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
