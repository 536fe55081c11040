"""Bad or foreign store files: each one opened and read in a subprocess.

A reader subprocess opens the file with :func:`bioscan_h5.open_store` and reads everything
the store API offers (pixels, every column through ``to_pandas``, vocabularies, labels,
barcodes, ``info``). It must end with a named error from :mod:`bioscan_h5.errors` saying
what is wrong and what to do, never die of a signal (a segfault reads as ``-11``), and never
hang (each run has a timeout). Single flipped bytes are swept over the whole file: wherever
HDF5's own structures are hit the result must be a named error or no change at all; raw
array bytes (pixels, labels, barcodes) are not checked by a plain read, and the table says
what happens there (``test_checksums.py`` shows that ``verify --full`` and ``verify_reads``
find them in format 2).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from bioscan_h5 import format as fmt

from ._helpers import REPO, crash, run, run_cli, sanitize, subprocess_env

pytestmark = pytest.mark.subprocess

SECTION = "Bad or foreign store files"

#: Reads everything through the store API; prints one JSON line: what came out.
READER = r"""
import hashlib, json, sys
import numpy as np

def digest(path):
    from bioscan_h5 import open_store
    h = hashlib.sha256()
    with open_store(path) as st:
        h.update(np.ascontiguousarray(st.images[:]).tobytes())
        h.update(st.to_pandas().to_csv().encode())
        info = st.info()
        info.pop("path")
        h.update(json.dumps(info, sort_keys=True, default=str).encode())
        for rank in st.schema.ranks:
            h.update(json.dumps(st.vocab[rank]).encode())
            h.update(np.asarray(st.labels[rank]).tobytes())
        h.update(json.dumps(st.barcodes(), default=str).encode())
    return h.hexdigest()

def outcome(path):
    from bioscan_h5.errors import BioscanH5Error
    try:
        return {"outcome": "read", "digest": digest(path)}
    except BioscanH5Error as exc:
        return {"outcome": "named", "type": type(exc).__name__,
                "bases": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}
    except Exception as exc:
        return {"outcome": "other", "type": type(exc).__name__, "message": str(exc)}

if sys.argv[1] == "one":
    print(json.dumps(outcome(sys.argv[2])), flush=True)
else:  # "sweep SOURCE SCRATCH OFFSET...": flip one byte at each offset in turn
    data = open(sys.argv[2], "rb").read()
    for off in map(int, sys.argv[4:]):
        flipped = bytearray(data)
        flipped[off] ^= 0xFF
        with open(sys.argv[3], "wb") as fh:
            fh.write(flipped)
        print(json.dumps({"try": off}), flush=True)
        print(json.dumps({"offset": off, **outcome(sys.argv[3])}), flush=True)
"""


def read_in_subprocess(path: Path) -> dict:
    proc = run([sys.executable, "-c", READER, "one", str(path)], timeout=60)
    sig = crash(proc.returncode)
    assert sig is None, f"the reader crashed ({sig}) on {path.name}: {proc.stderr[-2000:]}"
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ the store
@pytest.fixture(scope="module")
def good(_roots, tmp_path_factory) -> dict:
    """A complete 64-row store (16 px) and what reading it gives."""
    root = _roots.get(n_rows=64, seed=7)
    base = tmp_path_factory.mktemp("good")
    out = base / "good.h5"
    proc = run_cli("build", "--root", root, "--image-size", 16, "--workers", 1, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    result = read_in_subprocess(out)
    assert result["outcome"] == "read", result
    with h5py.File(out, "r", locking=False) as f:
        pixel_offset = int(f.attrs[fmt.ATTR_PIXEL_OFFSET])
        extents = []

        def visit(name: str, obj) -> None:
            if not isinstance(obj, h5py.Dataset):
                return
            if obj.chunks:
                obj.id.chunk_iter(lambda c: extents.append((c.byte_offset, c.byte_offset + c.size, name)))
            elif obj.id.get_offset() is not None:
                start = obj.id.get_offset()
                extents.append((start, start + obj.id.get_storage_size(), name))

        f.visititems(visit)
    return {
        "path": out,
        "digest": result["digest"],
        "pixel_offset": pixel_offset,
        "extents": extents,
        "base": base,
    }


def copy_of(good: dict, tmp_path: Path) -> Path:
    dst = tmp_path / "store.h5"
    shutil.copyfile(good["path"], dst)
    return dst


# ------------------------------------------------------------------------------ the cases
def _truncate(size: Callable[[int], int]):
    def make(path: Path, good: dict) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: size(len(data))])

    return make


def _flip(offsets: range):
    def make(path: Path, good: dict) -> None:
        data = bytearray(path.read_bytes())
        for off in offsets:
            data[off] ^= 0xFF
        path.write_bytes(bytes(data))

    return make


def _replace(data: Callable[[Path], bytes]):
    def make(path: Path, good: dict) -> None:
        path.write_bytes(data(path))

    return make


def _foreign_hdf5(path: Path, good: dict) -> None:
    path.unlink()
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((4, 8, 8, 3), np.uint8))
        f.attrs["title"] = "someone else's file"


def _attr(name: str, value):
    def make(path: Path, good: dict) -> None:
        with h5py.File(path, "r+", locking=False) as f:
            if value is None:
                del f.attrs[name]
            else:
                f.attrs[name] = value

    return make


def _dataset(name: str, replacement: Callable[[h5py.File, np.ndarray], None] | None):
    def make(path: Path, good: dict) -> None:
        with h5py.File(path, "r+", locking=False) as f:
            old = f[name][()]
            del f[name]
            if replacement is not None:
                replacement(f, old)

    return make


def _outside_file(path: Path, name: str, data: np.ndarray) -> Path:
    outside = path.parent / "outside" / "elsewhere.h5"
    outside.parent.mkdir(exist_ok=True)
    with h5py.File(outside, "a") as f:
        f.create_dataset(name, data=data)
    return outside


def _external_link(f: h5py.File, old: np.ndarray) -> None:
    outside = _outside_file(Path(f.filename), "lengths", old)
    f[fmt.DNA_LENGTHS] = h5py.ExternalLink(str(outside), "/lengths")


def _soft_link(f: h5py.File, old: np.ndarray) -> None:
    f.create_dataset("elsewhere/lengths", data=old)
    f[fmt.DNA_LENGTHS] = h5py.SoftLink("/elsewhere/lengths")


def _virtual(f: h5py.File, old: np.ndarray) -> None:
    outside = _outside_file(Path(f.filename), "lengths", old)
    layout = h5py.VirtualLayout(shape=old.shape, dtype=old.dtype)
    layout[:] = h5py.VirtualSource(str(outside), "lengths", shape=old.shape)
    f.create_virtual_dataset(fmt.DNA_LENGTHS, layout)


def _external_storage(f: h5py.File, old: np.ndarray) -> None:
    raw = Path(f.filename).parent / "outside.raw"
    raw.write_bytes(old.tobytes())
    f.create_dataset(fmt.DNA_LENGTHS, shape=old.shape, dtype=old.dtype, external=[(str(raw), 0, old.nbytes)])


def _special(kind: str):
    def make(path: Path, good: dict) -> None:
        path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "dir":
            path.mkdir()
        else:
            path.symlink_to("/dev/zero")

    return make


def _partial_only(path: Path, good: dict) -> None:
    _attr(fmt.ATTR_COMPLETE, False)(path, good)
    path.rename(fmt.partial_path(str(path)))


@dataclass
class Case:
    name: str
    make: Callable[[Path, dict], None]
    error: str  #: the class from bioscan_h5.errors
    advice: str  #: words of the message saying what to do


CASES = [
    Case("an empty file (0 bytes)", _truncate(lambda n: 0), "StoreFormatError", "rebuild"),
    Case("truncated to its first 1 KB", _truncate(lambda n: 1024), "StoreFormatError", "rebuild"),
    Case("truncated to half its size", _truncate(lambda n: n // 2), "StoreFormatError", "rebuild"),
    Case("its last byte cut off", _truncate(lambda n: n - 1), "StoreFormatError", "rebuild"),
    Case(
        "8 bytes flipped in the superblock (the file header)",
        _flip(range(20, 28)),
        "StoreFormatError",
        "rebuild",
    ),
    Case("the HDF5 signature damaged", _flip(range(0, 4)), "StoreFormatError", "rebuild"),
    Case(
        "a JPEG renamed .h5",
        _replace(lambda p: b"\xff\xd8\xff\xe0" + bytes(5000)),
        "StoreFormatError",
        "rebuild",
    ),
    Case(
        "a text file renamed .h5",
        _replace(lambda p: b"processid,sampleid\n" * 100),
        "StoreFormatError",
        "rebuild",
    ),
    Case("an HDF5 file that is not a store", _foreign_hdf5, "StoreFormatError", "Build a store"),
    Case(
        f"a store of a newer format version ({fmt.FORMAT_VERSION + 1})",
        _attr(fmt.ATTR_VERSION, fmt.FORMAT_VERSION + 1),
        "StoreVersionError",
        "Upgrade",
    ),
    Case("a format version that is not a number", _attr(fmt.ATTR_VERSION, "1"), "StoreFormatError", ""),
    Case("the n_rows attribute missing", _attr(fmt.ATTR_N_ROWS, None), "StoreFormatError", "Rebuild"),
    Case(
        "the image_size attribute written as text",
        _attr(fmt.ATTR_IMAGE_SIZE, "sixteen"),
        "StoreFormatError",
        "Rebuild",
    ),
    Case(
        "an unknown dataset name in the dataset attribute",
        _attr(fmt.ATTR_DATASET, "bioscan9m"),
        "StoreFormatError",
        "",
    ),
    Case("a dataset missing (/dna/lengths)", _dataset(fmt.DNA_LENGTHS, None), "StoreFormatError", "Rebuild"),
    Case(
        "a dataset of the wrong shape (/image_status one row longer)",
        _dataset(fmt.IMAGE_STATUS, lambda f, old: f.create_dataset(fmt.IMAGE_STATUS, data=np.append(old, 0))),
        "StoreFormatError",
        "Rebuild",
    ),
    Case(
        "a dataset of the wrong dtype (species codes as float64)",
        _dataset(
            fmt.column_path("species", "codes"),
            lambda f, old: f.create_dataset(fmt.column_path("species", "codes"), data=old.astype(np.float64)),
        ),
        "StoreFormatError",
        "Rebuild",
    ),
    Case(
        "pixels of another size than the image_size attribute says",
        _dataset(
            fmt.IMAGES, lambda f, old: f.create_dataset(fmt.IMAGES, data=np.zeros((64, 8, 8, 3), np.uint8))
        ),
        "StoreFormatError",
        "Rebuild",
    ),
    Case(
        "an incomplete store (its build did not finish)",
        _attr(fmt.ATTR_COMPLETE, False),
        "StoreIncompleteError",
        "Rerun the same",
    ),
    Case(
        "only the .partial file of a build in progress",
        _partial_only,
        "StoreNotFoundError",
        "rerun the build",
    ),
    Case(
        "an external link to a file outside the store",
        _dataset(fmt.DNA_LENGTHS, _external_link),
        "StoreFormatError",
        "rebuild",
    ),
    Case(
        "a soft link inside the store", _dataset(fmt.DNA_LENGTHS, _soft_link), "StoreFormatError", "rebuild"
    ),
    Case(
        "a virtual dataset mapping a file outside the store",
        _dataset(fmt.DNA_LENGTHS, _virtual),
        "StoreFormatError",
        "Rebuild",
    ),
    Case(
        "a dataset whose raw data lives in an outside file (external storage)",
        _dataset(fmt.DNA_LENGTHS, _external_storage),
        "StoreFormatError",
        "Rebuild",
    ),
    Case("a named pipe (FIFO) at the store path", _special("fifo"), "StoreFormatError", "Pass the .h5 file"),
    Case("a directory at the store path", _special("dir"), "StoreFormatError", "Pass the .h5 file"),
    Case(
        "a symbolic link to /dev/zero at the store path",
        _special("zero"),
        "StoreFormatError",
        "Pass the .h5 file",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_bad_store_gives_a_named_error(case, good, tmp_path, record):
    path = copy_of(good, tmp_path)
    case.make(path, good)
    result = read_in_subprocess(path)
    assert result["outcome"] == "named", result
    assert result["type"] == case.error, result
    assert "BioscanH5Error" in result["bases"]
    assert case.advice.lower() in result["message"].lower(), result["message"]
    builtin = next(b for b in result["bases"] if b in ("ValueError", "RuntimeError", "FileNotFoundError"))
    record(
        case.name,
        f"`{result['type']}` (also a `{builtin}`): {sanitize(result['message'], 420)}",
        "Nothing: the file is only read; no crash, no hang.",
    )


def test_bioscan5m_and_info_report_the_same_errors(good, tmp_path, record):
    """The dataset class and ``bioscan-h5 info`` go through the same checks."""
    cases = {c.name: c for c in CASES}
    picked = [
        cases["truncated to half its size"],
        cases[f"a store of a newer format version ({fmt.FORMAT_VERSION + 1})"],
        cases["an incomplete store (its build did not finish)"],
        cases["a virtual dataset mapping a file outside the store"],
    ]
    code = (
        "import sys\nfrom bioscan_h5 import BIOSCAN5M\nfrom bioscan_h5.errors import BioscanH5Error\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n        BIOSCAN5M(split='all', store=path)[0]\n        print('read')\n"
        "    except BioscanH5Error as exc:\n        print(type(exc).__name__)\n"
    )
    paths = []
    for i, case in enumerate(picked):
        folder = tmp_path / str(i)
        folder.mkdir()
        paths.append(copy_of(good, folder))
        case.make(paths[-1], good)
    proc = run([sys.executable, "-c", code, *map(str, paths)], timeout=120)
    assert crash(proc.returncode) is None and proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [c.error for c in picked]
    for case, path in zip(picked, paths):
        info = run_cli("info", path)
        assert info.returncode == (0 if case.error == "StoreIncompleteError" else 2), info.stderr
        assert "Traceback" not in info.stderr
    record(
        "the same damaged files opened by `BIOSCAN5M(store=...)` and `bioscan-h5 info`",
        "The dataset raises the same named errors; `info` prints them on one line and exits with status 2"
        " (it opens incomplete stores on purpose, and says INCOMPLETE).",
        "Nothing.",
    )


# ------------------------------------------------------------------------------ flipped bytes
def sweep(good: dict, offsets: list[int], scratch: Path) -> dict[int, dict]:
    """Flip each byte in turn and read the file in a subprocess; restart past any crash or hang."""
    results: dict[int, dict] = {}
    todo = list(offsets)
    while todo:
        argv = [sys.executable, "-c", READER, "sweep", str(good["path"]), str(scratch), *map(str, todo)]
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=subprocess_env(), cwd=REPO
        )
        current = None
        try:
            out, _ = proc.communicate(timeout=30 + 2 * len(todo))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        for line in out.splitlines():
            item = json.loads(line)
            if "try" in item:
                current = item["try"]
            else:
                results[item["offset"]] = item
                current = None
        if current is not None:  # died or hung on this one
            sig = crash(proc.returncode)
            results[current] = {"offset": current, "outcome": f"crash:{sig}" if sig else "hang"}
        todo = [o for o in todo if o not in results]
    return results


def region_of(good: dict, offset: int) -> str:
    for start, end, name in good["extents"]:
        if start <= offset < end:
            if name == fmt.IMAGES:
                return "pixels"
            return "vlen-refs" if name.endswith("/categories") else "raw"
    return "hdf5"


def test_single_bytes_flipped_across_the_file(good, tmp_path, record):
    size = os.path.getsize(good["path"])
    rng = np.random.default_rng(2)
    hdf5 = [o for o in range(0, size, 97) if region_of(good, o) == "hdf5"]
    raw = [o for o in range(0, size, 13) if region_of(good, o) in ("raw", "vlen-refs")]
    offsets = hdf5[:: max(1, len(hdf5) // 120)] + sorted(rng.choice(raw, 40, replace=False).tolist())
    results = sweep(good, offsets, tmp_path / "flipped.h5")
    by_region: dict[str, dict[str, int]] = {}
    for off, res in results.items():
        kind = res["outcome"]
        if kind == "read":
            kind = "unchanged" if res["digest"] == good["digest"] else "changed"
        elif kind == "named":
            kind = res["type"]
        by_region.setdefault(region_of(good, off), {}).setdefault(kind, 0)
        by_region[region_of(good, off)][kind] += 1
    bad = {o: r for o, r in results.items() if r["outcome"] not in ("read", "named")}
    assert not bad, bad  # no crash, no hang, no error outside bioscan_h5.errors
    assert set(by_region["hdf5"]) <= {"StoreFormatError", "unchanged"}, by_region
    assert by_region["hdf5"].get("StoreFormatError", 0) > len(hdf5[:: max(1, len(hdf5) // 120)]) // 2
    meta = by_region["hdf5"]
    record(
        f"one byte flipped, in turn, at {sum(meta.values())} places in the HDF5 structures (superblock,"
        " object headers, attributes, B-trees, heaps)",
        f'{meta.get("StoreFormatError", 0)} gave `StoreFormatError` ("... is damaged: reading ... failed'
        ' (...). Rebuild it ..."), at open or at the first read of the damaged part;'
        f" {meta.get('unchanged', 0)} hit bytes HDF5 does not use (padding, free space) and changed nothing."
        " No crash, no hang, no other exception.",
        "Nothing: the file is only read.",
    )
    rawres: collections.Counter = collections.Counter()
    for region in ("raw", "vlen-refs"):
        rawres.update(by_region.get(region, {}))
    changed = rawres.get("changed", 0)
    record(
        f"one byte flipped, in turn, at {sum(rawres.values())} places in the raw arrays other than pixels"
        " (label codes, numbers, strings, barcodes, string references)",
        f"{rawres.get('StoreFormatError', 0)} gave `StoreFormatError` (a value that cannot be valid: bytes that"
        " are not UTF-8, a barcode letter that is not ASCII, a label code outside the vocabulary, a broken"
        f" string reference); {changed} were read back as a different value, without an error;"
        f" {rawres.get('unchanged', 0)} changed nothing visible.",
        f"Not detected by a plain read in {changed} of {sum(rawres.values())} cases: a flipped bit in a label"
        " code or a number reads as another valid value. The store's checksums (format 2) find each one:"
        " `bioscan-h5 verify --full`, or `verify_reads=True` as rows are served (rows below).",
    )


def test_bytes_flipped_in_the_middle_of_the_pixel_block(good, tmp_path, record):
    path = copy_of(good, tmp_path)
    row, nbytes = 32, 16 * 16 * 3
    offsets = range(good["pixel_offset"] + row * nbytes + 100, good["pixel_offset"] + row * nbytes + 108)
    _flip(offsets)(path, good)
    result = read_in_subprocess(path)
    assert result["outcome"] == "read", result
    code = (
        "import sys, numpy as np\nfrom bioscan_h5 import open_store\n"
        "a = np.asarray(open_store(sys.argv[1]).images[:]); b = np.asarray(open_store(sys.argv[2]).images[:])\n"
        "print(*np.flatnonzero((a != b).ravel()))\n"
    )
    diff = run([sys.executable, "-c", code, str(good["path"]), str(path)], timeout=60)
    assert diff.returncode == 0, diff.stderr
    changed = [int(v) for v in diff.stdout.split()]
    assert changed == [row * nbytes + 100 + i for i in range(8)]
    record(
        "8 bytes flipped in the middle of the pixel block",
        "Opened and read without an error: the 8 pixel bytes read back flipped (row 32 only), everything"
        " else unchanged. A plain read does not check pixels; the store's checksums (format 2) do:"
        " `bioscan-h5 verify --full` names the row, `verify_reads=True` refuses to serve it (rows below).",
        "The flipped bytes, unless checked: no crash.",
    )


def test_a_reader_killed_while_reading_leaves_the_file_as_it_was(good, tmp_path, record):
    """SIGKILL of a process reading the store: read-only opening changes nothing on disk."""
    path = copy_of(good, tmp_path)
    before = path.read_bytes()
    code = "import sys\nfrom bioscan_h5 import open_store\nst = open_store(sys.argv[1])\nprint('open', flush=True)\nwhile True:\n    st.images[:]\n"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, env=subprocess_env()
    )
    assert proc.stdout.readline().strip() == "open"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    assert path.read_bytes() == before
    assert read_in_subprocess(path)["digest"] == good["digest"]
    record(
        "a reading process killed with SIGKILL while the store is open",
        "The file is byte for byte unchanged (it is opened read-only, without HDF5 file locking, so no"
        " status flag or lock is left behind) and opens normally afterwards.",
        "Nothing.",
    )
