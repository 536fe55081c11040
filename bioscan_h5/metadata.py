"""Reading a BIOSCAN metadata file (CSV/TSV) into typed per-row arrays, with row-level errors.

Read in chunks with pandas' C parser (the peer's parser, missing values and float rules);
category vocabularies are merged and sorted at the end, so codes equal pandas' ``cat.codes``.
Line lengths are bounded first: one missing line break would have pandas hold the file as one line.
"""

from __future__ import annotations

import collections
import csv
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from . import format as fmt
from .barcode_codes import encode_barcodes
from .cells import CONTROL
from .columns import ColumnValueError, StoredColumn, codec_for
from .errors import MetadataError
from .format import ColumnSpec, DatasetSchema, Kind

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Table", "fingerprint", "metadata_error", "read_table"]

CHUNK_ROWS = 200_000
_LINE_BLOCK = 1 << 22


@dataclass
class Table:
    """A whole metadata file, column by column, rows in file order."""

    n_rows: int
    columns: dict[str, StoredColumn] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)  #: the file's column names, in order
    partitions: dict[str, np.ndarray] = field(default_factory=dict)  #: row lists (BIOSCAN-1M CLIBD files)
    dna_codes: np.ndarray | None = None
    dna_lengths: np.ndarray | None = None
    dna_full_lengths: np.ndarray | None = None
    #: the letters after the first ``max_nucleotides`` of each barcode, end to end (``full_barcodes``)
    dna_tail_codes: np.ndarray | None = None
    dna_tail_offsets: np.ndarray | None = None  #: int64 (N+1,): row i's tail is codes[o[i]:o[i+1]]

    def column(self, name: str) -> StoredColumn:
        """One column (the :class:`~bioscan_h5.layouts.ColumnSource` protocol)."""
        return self.columns[name]

    def partition(self, name: str) -> np.ndarray | None:
        """The rows of a BIOSCAN-1M CLIBD partition file, in its order (None if absent)."""
        return self.partitions.get(name)

    @property
    def partition_names(self) -> list[str]:
        return list(self.partitions)


def metadata_error(
    path: str,
    what: str,
    fix: str,
    row: int | None = None,
    column: str | None = None,
    value: object = None,
    id_value: object = None,
) -> MetadataError:
    """A :class:`MetadataError` naming the file (and row, column, value): ``what`` is wrong, how to ``fix`` it."""
    where = f"{path}"
    if row is not None:
        where += f", data row {row + 1}" + ("" if id_value is None else f" (id {id_value!r})")
    if column is not None:
        where += f", column {column!r}"
    shown = "" if value is None else f" (value: {value!r})"
    return MetadataError(f"{where}: {what}{shown}. {fix}", path=path, row=row, column=column, value=value)


def fingerprint(path: str) -> dict:
    """Name, size, modification time and SHA-256 of a source file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())  # the file hashed, even if the path is replaced meanwhile
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return {
        "name": os.path.basename(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": h.hexdigest(),
    }


def check_unchanged(path: str, fp: dict) -> None:
    """Raise :class:`MetadataError` if ``path`` is no longer the file :func:`fingerprint` described
    (a file rewritten between the fingerprint and the parse would give a store that records one
    file and holds the rows of another)."""
    st = os.stat(path)
    if (st.st_size, st.st_mtime_ns) != (fp["size"], fp["mtime_ns"]):
        raise MetadataError(
            f"{path}: the metadata file changed while the build read it (size {fp['size']} -> {st.st_size}"
            " bytes, or a new modification time), so the rows read may not be the file fingerprinted."
            " Wait until whatever writes it has finished, then run the same command again.",
            path=path,
        )


def _check_header(header: list[str], path: str) -> None:
    """A bounded number of columns, each named with printable text that can name an HDF5 group."""
    if len(header) > fmt.MAX_COLUMNS:
        raise metadata_error(
            path,
            f"the header has {len(header)} columns, more than the {fmt.MAX_COLUMNS} a store holds (the"
            " official files have 23 and 34; every column is parsed and stored on its own, so thousands"
            " would take minutes)",
            "Is this the official metadata file? Remove the extra columns.",
        )
    for name in header:
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or CONTROL.search(name):
            raise metadata_error(
                path,
                "a column name that cannot name a stored column (empty, '.', '..', or holding '/' or a"
                " control character)",
                "Rename the column in the header row.",
                value=name,
            )


def _column_kinds(schema: DatasetSchema, header: list[str], path: str) -> list[ColumnSpec]:
    _check_header(header, path)
    known = {c.name: c for c in schema.columns}
    missing = [c.name for c in schema.columns if c.required and c.name not in header]
    if schema.barcode_column not in header:
        missing.append(schema.barcode_column)
    if missing:
        raise metadata_error(
            path,
            f"missing required column(s) {', '.join(repr(m) for m in missing)}; found {header!r}",
            f"Is this the official {schema.name} metadata file? The header row must name every column.",
        )
    # Columns this package does not know are kept as text categories: nothing is dropped.
    return [
        known.get(h, ColumnSpec(h, Kind.CATEGORY, required=False))
        for h in header
        if h != schema.barcode_column
    ]


def _check_line_lengths(path: str, limit: int = fmt.MAX_LINE_BYTES) -> None:
    """Raise :class:`MetadataError` if a line of ``path`` is longer than ``limit`` bytes."""
    start, line, pos = 0, 1, 0  # where the current line starts, its number, bytes read so far
    with open(path, "rb") as fh:
        while block := fh.read(_LINE_BLOCK):
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10) + pos
            bounds = np.concatenate([[start], ends + 1])
            longest = np.flatnonzero(np.diff(bounds) - 1 > limit)
            if len(longest):
                _refuse_long_line(path, line + int(longest[0]), int(np.diff(bounds)[longest[0]] - 1), limit)
            line += len(ends)
            if len(ends):
                start = int(ends[-1]) + 1
            pos += len(block)
            if pos - start > limit:
                _refuse_long_line(path, line, pos - start, limit, at_least=True)


def _refuse_long_line(path: str, line: int, length: int, limit: int, at_least: bool = False) -> None:
    what = "the header" if line == 1 else f"line {line}"
    raise MetadataError(
        f"{path}: {what} (line {line}) is {'over ' if at_least else ''}{length / 1e6:.1f} MB long, more than"
        f" the {limit / 1e6:.1f} MB a metadata line may be (the official lines are under 3 KB): a line break"
        " is missing, or this is not a metadata file. Download the metadata file again.",
        path=path,
        row=None if line == 1 else line - 2,
    )


def read_header(path: str, sep: str) -> list[str]:
    """The column names of a metadata file (whose line lengths are checked first)."""
    import pandas as pd

    _check_line_lengths(path)
    try:
        _refuse_repeated_names(path, sep)
        return list(pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig").columns)
    except UnicodeDecodeError as exc:
        raise _bad_utf8_error(path, sep, exc) from None
    except pd.errors.EmptyDataError:
        raise metadata_error(path, "the file is empty", "Download the metadata file again.") from None


def _refuse_repeated_names(path: str, sep: str) -> None:
    """Refuse a header naming a column twice (pandas would rename the second ``name.1``)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        names = next(csv.reader(fh, delimiter=sep), [])
    dup = sorted(h for h, n in collections.Counter(names).items() if n > 1)
    if dup:
        raise metadata_error(
            path,
            "the header names a column more than once, so which one holds the values is ambiguous",
            "Remove or rename the repeated column(s).",
            value=dup,
        )


def read_table(
    path: str,
    schema: DatasetSchema,
    *,
    sep: str = ",",
    max_nucleotides: int | None = fmt.DEFAULT_MAX_NUCLEOTIDES,
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    full_barcodes: bool = False,
) -> Table:
    """Read and validate a metadata file.

    Parameters
    ----------
    path, sep : str
        The CSV/TSV file and its field separator.
    schema : DatasetSchema
        Which columns must be there and how each is stored.
    max_nucleotides : int or None
        Barcode width to store (``None``: the longest barcode).
    prepare : callable, optional
        Applied to each chunk of ``chunk_rows`` rows (all columns as text) before conversion,
        e.g. BIOSCAN-1M's label clean-up. It must act on each row independently.
    full_barcodes : bool
        Also keep the letters after the first ``max_nucleotides`` (:attr:`Table.dna_tail_codes`).

    Raises
    ------
    MetadataError
        Missing column, more than :data:`~bioscan_h5.format.MAX_COLUMNS` columns, a
        non-numeric value in a numeric column, an integer that is not whole or outside
        int64, a control character in a text value, a bad barcode letter, invalid UTF-8, or
        an empty file, naming the row, column and value.
    """
    import pandas as pd

    header = read_header(path, sep)
    specs = _column_kinds(schema, header, path)
    float_cols = [c.name for c in specs if c.kind is Kind.FLOAT]
    dtypes: dict[str, type | str] = {**dict.fromkeys(header, str), **dict.fromkeys(float_cols, "float64")}
    parts: dict[str, list] = {c.name: [] for c in specs}
    dna_parts: list[tuple[np.ndarray | None, np.ndarray, np.ndarray]] = []
    n = 0
    try:  # the reader is closed when an error is raised mid-file
        with pd.read_csv(path, sep=sep, dtype=dtypes, chunksize=chunk_rows, encoding="utf-8-sig") as reader:
            for chunk in reader:
                if prepare is not None:
                    chunk = prepare(chunk)
                for spec in specs:
                    parts[spec.name].append(_parse(chunk, spec, path, n, schema))
                dna_parts.append(_barcodes(chunk, schema, path, n, max_nucleotides, full_barcodes))
                n += len(chunk)
    except UnicodeDecodeError as exc:
        raise _bad_utf8_error(path, sep, exc, schema.id_column) from None
    except ValueError as exc:
        if isinstance(exc, MetadataError):
            raise
        _locate_bad_float(path, sep, header, float_cols, schema, chunk_rows)
        raise _parse_error(path, exc) from None
    table = Table(n_rows=n, header=header)
    # Each chunk's pieces are let go once merged: the per-chunk copies and the whole-file
    # arrays are never all held at once.
    for spec in specs:
        table.columns[spec.name] = codec_for(spec.kind).merge(spec.name, parts.pop(spec.name))
    _merge_barcodes(table, dna_parts, max_nucleotides)
    _check_unique(table, schema, path)
    return table


def _barcodes(
    chunk: pd.DataFrame,
    schema: DatasetSchema,
    path: str,
    offset: int,
    max_nucleotides: int | None,
    tails: bool = False,
):
    """The barcodes of a chunk as ``(codes, lengths, full_lengths, tail)``; a bad letter names its row.

    ``tail`` (with ``tails``): the letters after the first ``max_nucleotides`` of each barcode, end to end.
    """
    barcodes = chunk[schema.barcode_column].to_numpy(dtype=object, na_value=None)
    codes, lengths, full, bad = encode_barcodes(barcodes, max_nucleotides)
    if bad is not None:
        row, pos, letter = bad
        raise metadata_error(
            path,
            f"barcode letter {pos + 1} is not a nucleotide code (expected A, C, G, T, N, another IUPAC"
            " code or '-')",
            "Fix or remove the barcode in the metadata file.",
            row=offset + row,
            column=schema.barcode_column,
            value=letter,
            id_value=chunk[schema.id_column].iloc[row],
        )
    tail = None
    if tails and max_nucleotides is not None:
        long = np.flatnonzero(full > max_nucleotides)
        tail = np.frombuffer("".join(barcodes[i][max_nucleotides:] for i in long).encode("ascii"), np.uint8)
    return codes, lengths, full, tail


def _merge_barcodes(table: Table, dna_parts: list, max_nucleotides: int | None) -> None:
    """Each chunk's barcodes into ``table``; each chunk's codes are let go once copied."""
    width = max_nucleotides if max_nucleotides is not None else max([p[0].shape[1] for p in dna_parts] + [0])
    table.dna_codes = np.zeros((table.n_rows, width), dtype=fmt.DNA_DTYPE)
    start = 0
    for i, (codes, lengths, full, tail) in enumerate(dna_parts):
        table.dna_codes[start : start + len(codes), : codes.shape[1]] = codes
        start += len(codes)
        dna_parts[i] = (None, lengths, full, tail)
    table.dna_lengths = np.concatenate([p[1] for p in dna_parts]) if dna_parts else np.zeros(0, np.int32)
    table.dna_full_lengths = np.concatenate([p[2] for p in dna_parts]) if dna_parts else np.zeros(0, np.int32)
    if dna_parts and dna_parts[0][3] is not None:
        extra = np.maximum(table.dna_full_lengths.astype(np.int64) - table.dna_lengths, 0)
        extra[table.dna_lengths < 0] = 0
        table.dna_tail_offsets = np.concatenate([[0], np.cumsum(extra)]).astype(fmt.OFFSET_DTYPE)
        table.dna_tail_codes = np.concatenate([p[3] for p in dna_parts]).astype(fmt.DNA_DTYPE)


def _parse_error(path: str, exc: ValueError) -> MetadataError:
    """The :class:`MetadataError` for a parser failure that is not a bad number."""
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if fields:
        expected, line, saw = fields.groups()
        return metadata_error(
            path,
            f"line {line} has {saw} fields but the header has {expected}",
            "Quote values that contain the separator, or remove the extra fields.",
        )
    return metadata_error(path, f"could not be parsed: {str(exc).strip()}", "Check the file.")


def _bad_utf8_error(path: str, sep: str, exc: UnicodeDecodeError, id_column: str | None = None):
    """A :class:`MetadataError` naming the first header name or cell that is not UTF-8 (the
    file is read again with undecodable bytes kept as lone surrogates, which are looked for)."""
    import pandas as pd

    fix = "Re-save the file as UTF-8."
    opts = {"sep": sep, "dtype": str, "encoding": "utf-8-sig", "encoding_errors": "surrogateescape"}
    for name in pd.read_csv(path, nrows=0, **opts).columns:
        if _NOT_UTF8.search(name):
            shown = _raw(name).decode("utf-8", "replace")  # a name that can be printed
            return metadata_error(path, "the header is not valid UTF-8", fix, column=shown, value=_raw(name))
    with pd.read_csv(path, chunksize=CHUNK_ROWS, **opts) as reader:
        return _first_bad_utf8(path, reader, id_column, fix) or metadata_error(
            path, f"the file is not valid UTF-8 ({exc})", fix
        )


def _raw(text: str) -> bytes:
    """The bytes a ``surrogateescape``-decoded text came from."""
    return text.encode("utf-8", "surrogateescape")


def _first_bad_utf8(path: str, reader, id_column: str | None, fix: str) -> MetadataError | None:
    import pandas as pd

    n = 0
    for chunk in reader:
        bad = np.column_stack([chunk[c].str.contains(_NOT_UTF8, na=False).to_numpy() for c in chunk.columns])
        hits = np.flatnonzero(bad)  # row by row: the earliest row, then the leftmost column
        if hits.size:
            r, k = divmod(int(hits[0]), bad.shape[1])
            col = chunk.columns[k]
            ids = chunk.get(id_column)
            bad_id = ids is None or pd.isna(ids.iloc[r])
            return metadata_error(
                path,
                "the value is not valid UTF-8",
                fix,
                row=n + r,
                column=col,
                value=_raw(chunk[col].iloc[r]),
                id_value=None if bad_id else _raw(ids.iloc[r]).decode("utf-8", "replace"),
            )
        n += len(chunk)
    return None


#: A byte that was not UTF-8, as ``surrogateescape`` decodes it.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _locate_bad_float(path, sep, header, float_cols, schema, chunk_rows) -> None:
    import pandas as pd

    n = 0
    opts = {"sep": sep, "dtype": dict.fromkeys(header, str), "chunksize": chunk_rows, "encoding": "utf-8-sig"}
    with pd.read_csv(path, usecols=[schema.id_column, *float_cols], **opts) as reader:  # closed on the error
        for chunk in reader:
            for col in float_cols:
                s = chunk[col]
                conv = pd.to_numeric(s, errors="coerce")
                bad = np.flatnonzero(s.notna().to_numpy() & conv.isna().to_numpy())
                if bad.size:
                    r = int(bad[0])
                    raise metadata_error(
                        path,
                        "not a number",
                        "Numeric columns hold decimal numbers or nothing.",
                        row=n + r,
                        column=col,
                        value=s.iloc[r],
                        id_value=chunk[schema.id_column].iloc[r],
                    )
            n += len(chunk)


def _parse(chunk: pd.DataFrame, spec: ColumnSpec, path: str, offset: int, schema: DatasetSchema):
    """One column of a chunk as its codec's piece; a value it cannot hold names its row."""
    try:
        return codec_for(spec.kind).parse(chunk[spec.name])
    except ColumnValueError as exc:
        raise metadata_error(
            path,
            exc.what,
            exc.fix,
            row=offset + exc.position,
            column=spec.name,
            value=exc.value,
            id_value=chunk[schema.id_column].iloc[exc.position],
        ) from None


def _check_unique(table: Table, schema: DatasetSchema, path: str) -> None:
    ids = table.columns[schema.id_column].value_array
    empty = np.flatnonzero(ids == b"")
    if empty.size:
        raise metadata_error(
            path,
            "the id is empty",
            "Every row needs its id.",
            row=int(empty[0]),
            column=schema.id_column,
            value="",
        )
    order = np.argsort(ids, kind="stable")
    dup = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if dup.size:
        first, second = int(order[dup[0]]), int(order[dup[0] + 1])
        raise metadata_error(
            path,
            f"duplicated id (also on data row {first + 1})",
            "Each specimen must appear once; remove the repeated row.",
            row=second,
            column=schema.id_column,
            value=ids[first].decode("utf-8"),
        )
