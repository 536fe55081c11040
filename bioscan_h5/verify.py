"""``bioscan-h5 verify``: check a store against the sources it was built from, or against itself.

:func:`verify_store` re-decodes a sample of rows from the sources (``--root``);
:func:`verify_full` checks every row and array against the store's checksums (``--full``);
:func:`run_verify` runs either or both and words the verdict (the CLI prints it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from tqdm.auto import tqdm

from . import format as fmt
from .checksums import missing_checksums
from .errors import BioscanH5Error
from .format import ImageStatus
from .layouts import get_layout
from .metadata import fingerprint
from .store import load_table_columns, open_store

__all__ = ["FullReport", "Verdict", "run_verify", "verify_full", "verify_store"]


def verify_store(store_path: str, root: str, sample: int = 64, seed: int = 0) -> list[str]:
    """Re-decode a random sample of rows from the sources and compare with the store.

    Also checks the format version, that the build completed, and the metadata file's hash.
    Returns the problems found (empty when the store matches).
    """
    problems: list[str] = []
    try:
        st = open_store(store_path)
    except BioscanH5Error as exc:
        return [str(exc)]
    with st:
        layout = get_layout(st.dataset)
        meta = layout.find_metadata(root)
        recorded = json.loads(st.attrs[fmt.ATTR_SOURCE])
        if fingerprint(meta)["sha256"] != recorded.get("sha256"):
            problems.append(f"{meta} is not the metadata file the store was built from (sha256 differs)")
        table = load_table_columns(st.file, layout.path_columns)
        status = np.asarray(st.image_status)
        built = np.flatnonzero(status != ImageStatus.PENDING)
        rng = np.random.default_rng(seed)
        rows = (
            np.sort(rng.choice(built, size=min(sample, built.size), replace=False)) if built.size else built
        )
        image_dir = layout.image_dir(root, st.attrs[fmt.ATTR_IMAGE_PACKAGE])
        real = os.path.realpath(image_dir)
        for r, rel in zip(rows, layout.image_relpaths(table, rows)):
            problem = _check_row(st, int(r), os.path.join(image_dir, rel), real, int(status[r]))
            if problem:
                problems.append(f"row {r} ({rel}): {problem}")
    return problems


@dataclass
class FullReport:
    """What ``bioscan-h5 verify --full`` found.

    ``checked`` is False when the store could not be opened or scanned (its problems say why);
    ``problems`` has a line per damaged array and row; ``damaged_rows``: row -> arrays to blame.
    """

    checked: bool
    problems: list[str] = field(default_factory=list)
    damaged_rows: dict[int, list[str]] = field(default_factory=dict)


def _bounds_problems(st) -> list[str]:
    """Every array that indexes something, checked in full (each would fail on its first use)."""
    arrays = ("dna_lengths", "dna_tail", "longest_barcode", "image_status")
    checks: list[Callable[[], object]] = [
        partial(st.column, c) for c in st.columns if st.column_kind(c) is fmt.Kind.CATEGORY
    ]
    checks += [partial(getattr, st, a) for a in arrays]
    checks += [partial(st.partition, p) for p in st.partition_names]
    checks += [partial(st.tokens, t) for t in st.tokenizations]
    if st.has_images:
        checks += st.codec.structure_checks(st)
    problems = []
    for check in checks:
        try:
            check()
        except BioscanH5Error as exc:
            problems.append(str(exc))
    return problems


def verify_full(store_path: str, progress: bool = True, threads: int | None = None) -> FullReport:
    """Check a whole store: its structure, the bounds of its arrays, and every checksum.

    ``progress`` shows a bar over twice the rows (their metadata, then their images);
    ``threads`` check pixel rows (default: the cores, up to 8).
    """
    try:
        st = open_store(store_path)
    except BioscanH5Error as exc:
        return FullReport(checked=False, problems=[str(exc)])
    with st:
        problems = _bounds_problems(st)
        if not st.has_checksums:
            return FullReport(checked=True, problems=[*problems, missing_checksums(store_path)])
        try:
            checksums = st.checksums
        except BioscanH5Error as exc:
            return FullReport(checked=False, problems=[*problems, str(exc)])
        with tqdm(
            total=2 * st.n_rows, desc="verifying", unit="row", unit_scale=True, disable=not progress
        ) as bar:
            try:
                damage = checksums.scan(progress=bar.update, threads=threads)
            except BioscanH5Error as exc:  # a table the scan itself depends on (found above too)
                return FullReport(checked=False, problems=list(dict.fromkeys([*problems, str(exc)])))
        for name, ranges in sorted(damage.arrays.items()):
            spans = ", ".join(f"{lo}-{hi - 1}" for lo, hi in ranges)
            problems.append(f"array {name!r} does not match its checksum (rows {spans})")
        for row, arrays in sorted(damage.rows.items()):
            problems.append(f"row {row}{_row_id(st, row)}: damaged: {', '.join(arrays)}")
        return FullReport(checked=True, problems=problems, damaged_rows=dict(sorted(damage.rows.items())))


@dataclass
class Verdict:
    """What ``bioscan-h5 verify`` found: the ``lines`` to print (``FAIL`` ones, or one ``OK``); ``sound``."""

    lines: list[str]
    sound: bool


def run_verify(
    store_path: str,
    root: str | None = None,
    full: bool = False,
    sample: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> Verdict:
    """Check a store against its sources (``root``: :func:`verify_store`), its checksums (``full``), or both."""
    problems: list[str] = []
    done: list[str] = []
    if full:  # a report that could not check everything always holds the problem that stopped it
        problems += verify_full(store_path, progress=progress).problems
        done.append("every row and array matches its checksum")
    if root is not None:
        problems += verify_store(store_path, root, sample=sample, seed=seed)
        done.insert(0, f"format, completeness and {sample} re-decoded rows match the sources")
    if problems:
        return Verdict([f"FAIL {p}" for p in problems], sound=False)
    return Verdict([f"OK {store_path}: {'; '.join(done)}"], sound=True)


def _row_id(st, row: int) -> str:
    """`` (processid 'X')`` for messages, or nothing when the id cannot be read."""
    try:
        return f" ({st.schema.id_column} {st.column_values(st.schema.id_column, [row])[0]!r})"
    except Exception:  # the id column itself may be the damaged one
        return ""


def _check_row(st, row: int, path: str, real: str, status: int) -> str:
    """What is wrong with a row of ``st`` against its source file ("" if nothing)."""
    got, differs, what = st.codec.check_row(st, row, path, real)
    if int(got) != status:
        return f"store says {ImageStatus(status).name}, source is {ImageStatus(int(got)).name}"
    return what if differs else ""
