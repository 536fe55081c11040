"""Bad metadata files: what must just work, and what must stop the build with a named error.

CRLF line endings, a UTF-8 byte-order mark, quoted fields holding commas, quotes and newlines,
and extra columns must build and read back exactly. Every other fault must stop the build
with a :class:`~bioscan_h5.errors.MetadataError` naming the file, row, column and value (as
far as the fault has them) and make ``bioscan-h5 build`` exit with status 2 and that message
on one line, with no traceback. The builds run ``bioscan-h5 build --no-images`` in a
subprocess; the error's attributes are read from an in-process build of the same root.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bioscan_h5 import format as fmt
from bioscan_h5.build import BuildConfig, build
from bioscan_h5.errors import MetadataError
from bioscan_h5.store import open_store

from ._helpers import METADATA, differences, run_cli, sanitize, store_arrays, with_checksums

pytestmark = pytest.mark.subprocess

SECTION = "Bad metadata files"


# ------------------------------------------------------------------------------ editing a file
def read_rows(path: Path, sep: str) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh, delimiter=sep))


def write_rows(path: Path, rows: list[list[str]], sep: str, newline: str = "\n") -> None:
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator=newline).writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def set_cell(rows: list[list[str]], row: int, column: str, value: str) -> None:
    rows[row + 1][rows[0].index(column)] = value


def build_no_images(root: Path, out: Path, dataset: str = "bioscan5m"):
    """``bioscan-h5 build --no-images`` in a subprocess."""
    return run_cli(
        "build", "--root", root, "--dataset", dataset, "--no-images", "--out", out, "--no-progress"
    )


def in_process_error(root: Path, out: Path, dataset: str = "bioscan5m") -> MetadataError:
    with pytest.raises(MetadataError) as info:
        build(BuildConfig(root=str(root), dataset=dataset, no_images=True, out=str(out), progress=False))
    return info.value


@pytest.fixture(scope="module")
def clean_store(_roots, tmp_path_factory) -> dict:
    """The untouched 64-row root built with --no-images: what every round trip must give."""
    root = _roots.get(n_rows=64, seed=5)
    out = tmp_path_factory.mktemp("clean") / "s.h5"
    proc = build_no_images(root, out)
    assert proc.returncode == 0, proc.stderr
    arrays, attrs = store_arrays(out)
    rows = read_rows(root / METADATA["bioscan5m"], ",")
    return {"arrays": arrays, "attrs": attrs, "rows": rows, "out": out}


# ------------------------------------------------------------------------------ must just work
ODD_VALUES = ['Ontario, "north" shore', "Costa\nRica", 'a "quoted" word, and a comma', "line one\r\nline two"]


def _crlf(path: Path, rows: list[list[str]]) -> None:
    write_rows(path, rows, ",", newline="\r\n")


def _bom(path: Path, rows: list[list[str]]) -> None:
    write_rows(path, rows, ",")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def _quoted(path: Path, rows: list[list[str]]) -> None:
    set_cell(rows, 3, "province_state", ODD_VALUES[0])
    set_cell(rows, 4, "country", ODD_VALUES[1])
    set_cell(rows, 5, "sampleid", ODD_VALUES[2])
    set_cell(rows, 6, "province_state", ODD_VALUES[3])
    write_rows(path, rows, ",")


def _extra_columns(path: Path, rows: list[list[str]]) -> None:
    rows[0] += ["notes", "z_extra"]
    for i, r in enumerate(rows[1:]):
        r += [ODD_VALUES[i % len(ODD_VALUES)] if i % 5 else "", str(i)]
    write_rows(path, rows, ",")


def _everything(path: Path, rows: list[list[str]]) -> None:
    set_cell(rows, 3, "province_state", ODD_VALUES[0])
    set_cell(rows, 4, "country", ODD_VALUES[1])
    rows[0] += ["notes"]
    for i, r in enumerate(rows[1:]):
        r += [ODD_VALUES[i % len(ODD_VALUES)]]
    write_rows(path, rows, ",", newline="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


@dataclass
class Works:
    name: str
    edit: Callable[[Path, list[list[str]]], None]
    changed: dict[tuple[int, str], str]  #: (row, column) -> the exact value that must come back
    extra: tuple[str, ...] = ()
    checked: str = ""  #: what the round trip showed, for the table


WORKS = [
    Works("CRLF line endings", _crlf, {}, checked="no value keeps a stray carriage return"),
    Works("a UTF-8 byte-order mark", _bom, {}, checked="the first column is still named 'processid'"),
    Works(
        "quoted fields holding commas, double quotes, LF and CRLF line breaks",
        _quoted,
        {
            (3, "province_state"): ODD_VALUES[0],
            (4, "country"): ODD_VALUES[1],
            (5, "sampleid"): ODD_VALUES[2],
            (6, "province_state"): ODD_VALUES[3],
        },
        checked="the four edited values come back character for character",
    ),
    Works(
        "extra columns the package does not know (holding the same odd values)",
        _extra_columns,
        {},
        ("notes", "z_extra"),
        checked="both columns are kept, in file order, and read back exactly (as text)",
    ),
    Works(
        "all of these at once: BOM, CRLF, quoted commas and newlines, an extra column",
        _everything,
        {(3, "province_state"): ODD_VALUES[0], (4, "country"): ODD_VALUES[1]},
        ("notes",),
        checked="the edited values and the extra column come back exactly",
    ),
]


@pytest.mark.parametrize("case", WORKS, ids=[c.name for c in WORKS])
def test_these_build_and_round_trip(case, fault_root, clean_store, tmp_path, record):
    root = fault_root(n_rows=64, seed=5)
    meta = root / METADATA["bioscan5m"]
    rows = [list(r) for r in clean_store["rows"]]
    case.edit(meta, rows)
    out = tmp_path / "s.h5"
    proc = build_no_images(root, out)
    assert proc.returncode == 0, proc.stderr
    arrays, attrs = store_arrays(out)
    # Nothing else moved: every dataset equal to the clean build's, except the edited columns
    # and the extra columns (which the clean build does not have).
    touched = {fmt.column_path(c, p) for (_, c) in case.changed for p in ("values", "codes", "categories")}
    extra = {k for k in arrays if any(f"{fmt.COLUMNS}/{e}/" in k for e in case.extra)}
    touched = with_checksums(touched | extra) - extra  # format 2: their checksums change with them
    same = {k: v for k, v in arrays.items() if k not in touched | extra}
    assert differences(same, {k: v for k, v in clean_store["arrays"].items() if k not in touched}) == []
    clean_header = json.loads(clean_store["attrs"][fmt.ATTR_SOURCE_COLUMNS])
    assert json.loads(attrs[fmt.ATTR_SOURCE_COLUMNS]) == clean_header + list(case.extra)
    with open_store(out) as st:
        df = st.to_pandas()
        for (row, column), value in case.changed.items():
            assert df[column].iloc[row] == value
        assert not df["chunk"].dropna().str.endswith("\r").any()
        for name in case.extra:
            want = [r[rows[0].index(name)] for r in rows[1:]]
            got = ["" if isinstance(v, float) else v for v in df[name].astype(object)]
            assert got == want
    record(
        case.name,
        f"Built (exit code 0): {case.checked}, and every other array equals the build of the untouched file.",
        "Nothing.",
    )


# ------------------------------------------------------------------------------ must be refused
@dataclass
class Refused:
    name: str
    edit: Callable[[Path, list[list[str]]], None]
    row: int | None  #: 0-based data row the error must name (None: the fault has no row)
    column: str | None
    value: object
    words: str  #: must appear in the message
    dataset: str = "bioscan5m"


def _cell(row: int, column: str, value: str, sep: str = ","):
    def edit(path: Path, rows: list[list[str]]) -> None:
        set_cell(rows, row, column, value)
        write_rows(path, rows, sep)

    return edit


def _raw_replace(row: int, column: str, new: bytes):
    """Put raw bytes (not UTF-8) into one cell."""

    def edit(path: Path, rows: list[list[str]]) -> None:
        marker = "@@MARK@@"
        set_cell(rows, row, column, marker)
        write_rows(path, rows, ",")
        path.write_bytes(path.read_bytes().replace(marker.encode(), new))

    return edit


def _bad_header(path: Path, rows: list[list[str]]) -> None:
    write_rows(path, rows, ",")
    path.write_bytes(path.read_bytes().replace(b"species", b"sp\xe9cies", 1))


def _drop_column(column: str):
    def edit(path: Path, rows: list[list[str]]) -> None:
        k = rows[0].index(column)
        write_rows(path, [r[:k] + r[k + 1 :] for r in rows], ",")

    return edit


def _extra_field(row: int):
    def edit(path: Path, rows: list[list[str]]) -> None:
        rows[row + 1].append("surplus")
        write_rows(path, rows, ",")

    return edit


def _duplicate(row: int, of: int):
    def edit(path: Path, rows: list[list[str]]) -> None:
        rows.insert(row + 1, list(rows[of + 1]))
        write_rows(path, rows, ",")

    return edit


def _empty(path: Path, rows: list[list[str]]) -> None:
    path.write_bytes(b"")


def _header_only(path: Path, rows: list[list[str]]) -> None:
    write_rows(path, rows[:1], ",")


REFUSED = [
    Refused(
        "invalid UTF-8 in a cell (Latin-1 é)",
        _raw_replace(6, "species", b"Megaselia s\xe9p."),
        6,
        "species",
        b"Megaselia s\xe9p.",
        "not valid UTF-8",
    ),
    Refused(
        "invalid UTF-8 in the header",
        _bad_header,
        None,
        "sp\ufffdcies",
        b"sp\xe9cies",
        "header is not valid UTF-8",
    ),
    Refused(
        "a required column missing from the header",
        _drop_column("species"),
        None,
        None,
        None,
        "missing required column(s) 'species'",
    ),
    Refused(
        "a data row with more fields than the header",
        _extra_field(9),
        None,
        None,
        None,
        "line 11 has 24 fields but the header has 23",
    ),
    Refused(
        "a duplicated processid",
        _duplicate(20, of=3),
        20,
        "processid",
        None,
        "duplicated id (also on data row 4)",
    ),
    Refused("an empty file (0 bytes)", _empty, None, None, None, "the file is empty"),
    Refused("a header and no data rows", _header_only, None, None, None, "has a header but no data rows"),
    Refused(
        "`..` as processid", _cell(7, "processid", ".."), 7, "processid", "..", "outside the image folder"
    ),
    Refused(
        "`../../etc/passwd` as processid",
        _cell(7, "processid", "../../etc/passwd"),
        7,
        "processid",
        "../../etc/passwd",
        "outside the image folder",
    ),
    Refused(
        "`/` inside processid",
        _cell(8, "processid", "ABC/123"),
        8,
        "processid",
        "ABC/123",
        "outside the image folder",
    ),
    Refused("`..` as chunk", _cell(9, "chunk", ".."), 9, "chunk", "..", "outside the image folder"),
    Refused(
        "an absolute path (`/etc`) as chunk",
        _cell(9, "chunk", "/etc"),
        9,
        "chunk",
        "/etc",
        "outside the image folder",
    ),
    Refused(
        "a NUL byte inside processid",
        _raw_replace(10, "processid", b"ABC\x00123"),
        10,
        "processid",
        "ABC\x00123",
        "control character",  # refused as a control character, before it could name a path
    ),
    Refused(
        "text in a numeric column", _cell(11, "coord-lat", "north"), 11, "coord-lat", "north", "not a number"
    ),
    Refused(
        "an unknown split name", _cell(12, "split", "training"), 12, "split", "training", "unknown split name"
    ),
    Refused(
        "a barcode letter that is not a nucleotide code",
        _cell(13, "dna_barcode", "ACGTXACGT"),
        13,
        "dna_barcode",
        "X",
        "not a nucleotide code",
    ),
]


def _1m_cell(row: int, column: str, value: str):
    def edit(path: Path, rows: list[list[str]]) -> None:
        set_cell(rows, row, column, value)
        write_rows(path, rows, "\t")

    return edit


REFUSED_1M = [
    Refused(
        "`..` inside image_file (BIOSCAN-1M)",
        _1m_cell(5, "image_file", "../../x.jpg"),
        5,
        "image_file",
        "../../x.jpg",
        "outside the image folder",
        "bioscan1m",
    ),
    Refused(
        "`/` inside image_file (BIOSCAN-1M)",
        _1m_cell(6, "image_file", "/etc/passwd"),
        6,
        "image_file",
        "/etc/passwd",
        "outside the image folder",
        "bioscan1m",
    ),
]


@pytest.mark.parametrize("case", REFUSED + REFUSED_1M, ids=[c.name for c in REFUSED + REFUSED_1M])
def test_these_are_refused_with_a_named_error(case, fault_root, tmp_path, record):
    root = fault_root(case.dataset, n_rows=64, seed=5)
    meta = root / METADATA[case.dataset]
    case.edit(meta, read_rows(meta, "\t" if case.dataset == "bioscan1m" else ","))
    err = in_process_error(root, tmp_path / "a.h5", case.dataset)
    assert err.path == str(meta)
    assert err.row == case.row
    assert err.column == case.column
    if case.value is not None:
        assert err.value == case.value
    proc = build_no_images(root, tmp_path / "b.h5", case.dataset)
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    assert message.startswith("bioscan-h5 build: error: " + str(meta))
    assert case.words in message
    if case.row is not None:
        assert f"data row {case.row + 1}" in message
    if case.column is not None:
        assert repr(case.column) in message
    assert not (tmp_path / "b.h5").exists() and not Path(fmt.partial_path(str(tmp_path / "b.h5"))).exists()
    named = [f"row {err.row}" if err.row is not None else "", f"column {err.column!r}" if err.column else ""]
    named += [f"value {err.value!r}" if err.value is not None else ""]
    record(
        case.name,
        f"Refused: `MetadataError` ({', '.join(n for n in named if n) or 'the file'}); `bioscan-h5 build`"
        f" exits with status 2 and prints `{sanitize(message, 400)}`",
        "Nothing: no store or partial file is written; the file is not changed.",
    )


def test_a_short_row_is_read_as_pandas_reads_it(fault_root, clean_store, tmp_path, record):
    """A data row with fewer fields than the header: its last fields are missing values.

    This is what pandas (and so ``bioscan-dataset``) does; the row is only refused when a
    field that may not be missing (the split, the id) is among those cut off.
    """
    root = fault_root(n_rows=64, seed=5)
    rows = [list(r) for r in clean_store["rows"]]
    header = rows[0]
    row = next(
        i
        for i, r in enumerate(rows[1:])
        if r[header.index("chunk")] == "" and r[header.index("index_bioscan_1M_insect")] == ""
    )
    rows[row + 1] = rows[row + 1][:-1]  # drop the (empty) chunk field itself
    write_rows(root / METADATA["bioscan5m"], rows, ",")
    out = tmp_path / "s.h5"
    proc = build_no_images(root, out)
    assert proc.returncode == 0, proc.stderr
    arrays, _ = store_arrays(out)
    assert differences(arrays, clean_store["arrays"]) == []
    rows[row + 1] = rows[row + 1][:-3]  # now the split is cut off too
    write_rows(root / METADATA["bioscan5m"], rows, ",")
    err = in_process_error(root, tmp_path / "b.h5")
    assert (err.row, err.column) == (row, "split")
    record(
        "a data row with fewer fields than the header",
        "Read as pandas and `bioscan-dataset` read it: the fields cut off are missing values. Cutting off"
        f" an empty last field builds a store equal to the untouched file's; cutting off the split is refused"
        f" (`MetadataError`, row {row}, column 'split': unknown split name).",
        "Nothing that the file held.",
    )


def test_strings_that_look_like_code_are_only_text(fault_root, tmp_path, record):
    """Values that would run if anything evaluated them come back as the same text."""
    root = fault_root(n_rows=64, seed=5)
    meta = root / METADATA["bioscan5m"]
    rows = read_rows(meta, ",")
    bait = {
        (2, "species"): "__import__('os').system('touch PWNED')",
        (3, "sampleid"): "{{7*7}} ${HOME} $(touch PWNED) `touch PWNED`",
        (4, "country"): "=cmd|' /C calc'!A0",
    }
    for (row, column), value in bait.items():
        set_cell(rows, row, column, value)
    write_rows(meta, rows, ",")
    out = tmp_path / "s.h5"
    proc = run_cli("build", "--root", root, "--no-images", "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with open_store(out) as st:
        df = st.to_pandas()
        species = st.vocab["species"]
    for (row, column), value in bait.items():
        assert df[column].iloc[row] == value
    assert bait[(2, "species")] in species
    assert not (tmp_path / "PWNED").exists()
    record(
        "values that look like code: a Python `__import__(...)` call, shell `$(...)` and backticks,"
        " a template `{{7*7}}`, a spreadsheet formula",
        "Stored and read back as the same text; nothing was evaluated (no file was created by them).",
        "Nothing.",
    )
