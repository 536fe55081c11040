"""Hostile stores (issue 14): values and layouts a crafted or damaged store may hold.

Each store is a copy of a real build, edited with h5py. A reader subprocess opens it and
reads everything: the store API (pixels, every column, vocabularies, labels, barcodes,
``info``), ``BIOSCAN5M`` samples with index and with text targets, and ``batch_loader``
batches. It must end with a named error from :mod:`bioscan_h5.errors` naming what is wrong,
or read exactly what the store holds; never die of a signal, hang, raise a bare builtin
error or serve a wrong sample (a target of 10**6, a row dropped from its split, another
row's pixels).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest

from bioscan_h5 import format as fmt
from bioscan_h5.build import BuildConfig, build
from bioscan_h5.layouts import SCHEMAS

from ._helpers import crash, run, sanitize

pytestmark = pytest.mark.subprocess

SECTION = "Bad or foreign store files"

#: Reads everything three ways, each on its own (the store API; ``BIOSCAN5M`` samples with index
#: and text targets; ``batch_loader`` batches); prints one JSON line: per way, a digest of what
#: came out, or the error.
READER = r"""
import hashlib, json, sys
import numpy as np

def store_api(path, kw, put):
    from bioscan_h5 import open_store
    with open_store(path) as st:
        put(np.ascontiguousarray(st.images[:]).tobytes())
        put(st.to_pandas().to_csv().encode())
        st.info()
        for rank in st.schema.ranks:
            put(json.dumps(st.vocab[rank]).encode())
            put(np.asarray(st.labels[rank]).tobytes())
        put(json.dumps(st.barcodes(), default=str).encode())

def samples(path, kw, put):
    from bioscan_h5 import BIOSCAN5M
    for target_format in ("index", "text"):
        ds = BIOSCAN5M(store=path, target_format=target_format, **kw)
        put(repr(len(ds)).encode())
        for i in range(len(ds)):
            sample = ds[i]
            put(repr(sample[1:]).encode())
            if "image" in ds.modality:
                put(np.ascontiguousarray(sample[0]).tobytes())

def batches(path, kw, put):
    from bioscan_h5 import BIOSCAN5M, batch_loader
    for batch in batch_loader(BIOSCAN5M(store=path, **kw), batch_size=16):
        for key in sorted(batch):
            value = batch[key]
            put(value.numpy().tobytes() if hasattr(value, "numpy") else repr(value).encode())

def outcome(way, path, kw):
    from bioscan_h5.errors import BioscanH5Error
    h = hashlib.sha256()
    try:
        way(path, kw, h.update)
        return {"outcome": "read", "digest": h.hexdigest()}
    except BioscanH5Error as exc:
        return {"outcome": "named", "type": type(exc).__name__, "message": str(exc)}
    except Exception as exc:
        return {"outcome": "other", "type": type(exc).__name__, "message": str(exc)[:500]}

path, kw = sys.argv[1], {"split": "all", "image_format": "numpy", **json.loads(sys.argv[2])}
print(json.dumps({w.__name__: outcome(w, path, kw) for w in (store_api, samples, batches)}), flush=True)
"""


def read_in_subprocess(path: Path, **kw) -> dict:
    proc = run([sys.executable, "-c", READER, str(path), json.dumps(kw)], timeout=120)
    sig = crash(proc.returncode)
    assert sig is None, f"the reader crashed ({sig}) on {path.name}: {proc.stderr[-2000:]}"
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _build(root: Path, out: Path, **kw) -> Path:
    cfg = {"image_size": 16, **kw.pop("content", {})}
    build(BuildConfig.from_content(root, cfg, out=str(out), workers=1, progress=False, **kw))
    return out


@pytest.fixture(scope="module")
def stores(_roots, tmp_path_factory) -> dict:
    """Two clean 64-row stores (16 px, every image decodable): 660-letter and whole barcodes."""
    root = _roots.get(n_rows=64, seed=11)
    base = tmp_path_factory.mktemp("hostile")
    good = _build(root, base / "good.h5")
    whole = _build(root, base / "whole.h5", content={"max_nucleotides": None})
    dna = {"modality": ["dna"], "reduce_repeated_barcodes": True, "max_nucleotides": None}
    return {
        "good": (good, read_in_subprocess(good), {}),
        "whole": (whole, read_in_subprocess(whole, **dna), dna),
    }


# ------------------------------------------------------------------------------ the edits
def _lengths_beyond_width(f: h5py.File) -> None:
    lengths = f[fmt.DNA_LENGTHS]
    lengths[3] = 10**6
    lengths[7] = f[fmt.DNA_CODES].shape[1] + 1


def _code(column: str, row: int, value: int):
    def edit(f: h5py.File) -> None:
        f[fmt.column_path(column, "codes")][row] = value

    return edit


def _attr(name: str, value):
    def edit(f: h5py.File) -> None:
        f.attrs[name] = value

    return edit


def _kind(column: str, kind: str):
    def edit(f: h5py.File) -> None:
        f[f"{fmt.COLUMNS}/{column}"].attrs[fmt.ATTR_KIND] = kind

    return edit


def _status(row: int, value: int):
    def edit(f: h5py.File) -> None:
        f[fmt.IMAGE_STATUS][row] = value

    return edit


def without_checksums(f: h5py.File) -> None:
    """Drop a copy's checksums (they are optional for readers), so that only its structure is checked."""
    if fmt.CHECKSUMS in f:
        del f[fmt.CHECKSUMS]


def _huge_shapes(f: h5py.File) -> None:
    """Every per-row array declares 2**40 rows (chunked, nothing allocated): a few KB on disk."""
    n = 2**40
    schema = SCHEMAS[f.attrs[fmt.ATTR_DATASET]]
    expected = fmt.expected_datasets(schema, int(f.attrs[fmt.ATTR_N_ROWS]), int(f.attrs[fmt.ATTR_IMAGE_SIZE]))
    without_checksums(f)
    if fmt.DNA_TAIL_OFFSETS in f:  # the whole-barcode block's offsets: one per row, and one more
        expected[fmt.DNA_TAIL_OFFSETS] = ("i8", (None,))
    for name in list(expected):
        old = f[name]
        if old.dtype.kind == "O" or name == fmt.DNA_TAIL_CODES:
            continue
        rows = n + 1 if name == fmt.DNA_TAIL_OFFSETS else n
        shape, dtype = (rows, *old.shape[1:]), old.dtype
        del f[name]
        f.create_dataset(name, shape=shape, dtype=dtype, chunks=(1, *shape[1:]))
    f.attrs[fmt.ATTR_N_ROWS] = n


@dataclass
class Case:
    name: str
    store: str  #: "good" (660 letters) or "whole" (--max-nucleotides none)
    edit: Callable[[h5py.File], None]
    words: tuple[str, ...]  #: in the error message
    kw: dict = field(default_factory=dict)  #: dataset arguments of the readers


CASES = [
    Case(
        "a `--max-nucleotides none` store whose barcode lengths exceed its width (10**6 and width + 1),"
        " read with `reduce_repeated_barcodes=True, max_nucleotides=None`",
        "whole",
        _lengths_beyond_width,
        ("'/dna/lengths'", "row 3", "1000000"),
    ),
    Case(
        "a label code of 10**6 (species, row 5)", "good", _code("species", 5, 10**6), ("'species'", "row 5")
    ),
    Case(
        "a label code of -5 (genus, row 9), read with `target_type=('species', 'genus')`",
        "good",
        _code("genus", 9, -5),
        ("'genus'", "row 9", "-5"),
        {"target_type": ["species", "genus"]},
    ),
    Case(
        "a split code outside the split vocabulary (99, row 2)",
        "good",
        _code("split", 2, 99),
        ("'split'", "row 2"),
    ),
    Case(
        "the `complete` attribute written as the text 'no'",
        "good",
        _attr(fmt.ATTR_COMPLETE, "no"),
        ("'complete'", "'no'"),
    ),
    Case(
        "the `max_nucleotides` attribute written as the text 'abc'",
        "good",
        _attr(fmt.ATTR_MAX_NUCLEOTIDES, "abc"),
        ("'max_nucleotides'", "'abc'"),
    ),
    Case(
        "a category column (species) whose `kind` attribute says 'int'",
        "good",
        _kind("species", "int"),
        ("'species'", "'int'"),
    ),
    Case(
        "an image status outside the enumeration (9, row 4)",
        "good",
        _status(4, 9),
        ("'/image_status'", "row 4"),
    ),
    Case(
        "every per-row array declaring 2**40 rows (1 TiB of status bytes alone) in a file of a few KB",
        "good",
        _huge_shapes,
        ("declares",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name[:60] for c in CASES])
def test_each_hostile_store_gives_a_named_error_or_the_right_data(case, stores, tmp_path, record):
    clean, _expected, kw = stores[case.store]
    path = tmp_path / "store.h5"
    shutil.copyfile(clean, path)
    with h5py.File(path, "r+", locking=False) as f:
        case.edit(f)
    result = read_in_subprocess(path, **kw, **case.kw)
    for way, res in result.items():
        assert res["outcome"] == "named" and res["type"] == "StoreFormatError", (way, res)
        for word in case.words:
            assert word in res["message"], (way, word, res["message"])
        assert "Rebuild" in res["message"]
    record(
        case.name,
        "`StoreFormatError` (also a `ValueError`) from `open_store`, `BIOSCAN5M` (index and text targets)"
        f" and `batch_loader` alike: {sanitize(result['samples']['message'], 400)}",
        "Nothing: the file is only read; no sample is served from it, no crash.",
    )


def test_the_kernels_clamp_lengths_to_the_width_jitted_and_python():
    """Kernels never read past a row, whatever the lengths say (both the numba kernel and its twin)."""
    from bioscan_h5.barcode_codes import _strip_hash_kernel, first_unique_rows

    rng = np.random.default_rng(0)
    codes = rng.choice(np.frombuffer(b"ACGTN", np.uint8), size=(6, 8))
    lengths = np.array([8, 10**6, 3, -1, 9, 8], dtype=np.int32)
    out = {}
    for name, kernel in (("jit", _strip_hash_kernel), ("python", _strip_hash_kernel.py_func)):
        hashes, stripped = np.zeros(6, np.uint64), np.zeros(6, np.int32)
        with np.errstate(over="ignore"):  # FNV-1a wraps around by design (numba does not warn)
            no_tail, offsets = np.zeros(0, np.uint8), np.zeros(len(lengths) + 1, np.int64)
            kernel(codes, lengths, no_tail, offsets, -1, hashes, stripped)
        out[name] = (hashes.tolist(), stripped.tolist())
        assert stripped.max() <= 8
    assert out["jit"] == out["python"]
    clamped = np.minimum(lengths, 8)
    assert (
        first_unique_rows(codes, lengths, None).tolist() == first_unique_rows(codes, clamped, None).tolist()
    )
