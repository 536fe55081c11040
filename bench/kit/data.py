"""The data every read benchmark shares, made once under the work folder.

A generated BIOSCAN-5M root (``tools/make_sample_data.py``, clean images) of ``store_rows``
rows and its default raw store (a dense store: every row decoded). An epoch reads a random
subset of its rows (so that, as with a store larger than the page cache, the neighbours
that readahead fetches are mostly not rows of the epoch); every process first reads the
last ``warmup`` rows, a gap of :data:`GAP` rows away (further than readahead reaches). The
pixel layout the
plain anchors read (``rows.npy``: the store row of each dataset index of ``split="all"``;
``labels.npy``: its species index); FFCV ``.beton`` files of the same pixels; and the hook
for issue 12's JPEG store.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import numpy as np

__all__ = ["GAP", "ReadData", "ffcv_beton", "jpeg_store", "prepare", "run_json", "sample_root"]

#: Rows between the epochs' rows and the warm-up rows: 12.6 MB at 256 px, more than the
#: 4 MB that memory-map read-around fetches before a faulting page (8 MB window).
GAP = 64

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclasses.dataclass
class ReadData:
    """Paths and geometry of a prepared sample root (see :func:`prepare`)."""

    root: str
    store: str
    store_rows: int  #: dataset indices ``0..store_rows-1`` (``split="all"``)
    warmup: int  #: the last ``warmup`` indices, read before the epoch by every cell
    image_size: int
    offset: int  #: byte offset of the store's pixel block
    n_rows: int  #: rows of the store
    rows: str  #: ``.npy``: store row of each dataset index
    labels: str  #: ``.npy``: species index of each dataset index

    @property
    def images(self) -> str:
        """The folder of source JPEGs (what the peer reads)."""
        return os.path.join(self.root, "bioscan5m", "images")

    @property
    def metadata(self) -> str:
        """The folder of the metadata file (what the peer's constructor parses)."""
        return os.path.join(self.root, "bioscan5m", "metadata")

    @property
    def layout(self) -> dict:
        """What the plain anchors need to read pixels without bioscan-h5."""
        return {
            "path": self.store,
            "offset": self.offset,
            "image_size": self.image_size,
            "n_rows": self.n_rows,
            "rows": self.rows,
        }

    @property
    def epoch_pool(self) -> int:
        """Epochs draw their rows from dataset indices ``0..epoch_pool-1``."""
        return self.store_rows - self.warmup - GAP


def sample_root(work: str, store_rows: int) -> tuple[str, str]:
    """A clean generated root of ``store_rows`` rows and its default store, made once: (root, store)."""
    import make_sample_data

    from bioscan_h5.build import BuildConfig, build

    root = os.path.join(work, f"root{store_rows}")
    store = os.path.join(root, "bioscan5m", "h5", "bioscan5m_cropped_256_256px.h5")
    if not os.path.exists(store):
        _log(f"generating a {store_rows}-row sample root in {root} and building its store ...")
        t0 = time.perf_counter()
        make_sample_data.make_bioscan5m_root(root, n_rows=store_rows, seed=0, faults=False, overwrite=True)
        build(BuildConfig(root=root, progress=False))
        _log(f"  {time.perf_counter() - t0:.0f} s")
    return root, store


def prepare(work: str, store_rows: int, warmup: int) -> ReadData:
    """:func:`sample_root`, checked (every row decoded), and the layout files the anchors read."""
    from bioscan_h5 import BIOSCAN5M
    from bioscan_h5 import format as fmt

    n = store_rows
    root, store = sample_root(work, n)
    ds = BIOSCAN5M(root, split="all")
    st = ds.store
    if len(ds) != n or not bool(np.all(st.image_ok[ds.rows])) or n - warmup - GAP < 256:
        raise RuntimeError(f"{store}: expected {n} rows, all decoded, and more than {warmup + GAP + 256}")
    rows = os.path.join(root, "rows.npy")
    labels = os.path.join(root, "labels.npy")
    np.save(rows, np.asarray(ds.rows, dtype=np.int64))
    np.save(labels, np.asarray(st.labels["species"][ds.rows], dtype=np.int64))
    return ReadData(
        root=root,
        store=store,
        store_rows=n,
        warmup=warmup,
        image_size=int(st.image_size),
        offset=int(st.attrs[fmt.ATTR_PIXEL_OFFSET]),
        n_rows=int(st.n_rows),
        rows=rows,
        labels=labels,
    )


def run_json(argv: list[str], timeout: float = 900) -> dict:
    """Run a cell command (cwd: the repository) and parse the JSON of its last output line."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO, *filter(None, [env.get("PYTHONPATH")])])
    res = subprocess.run(
        argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout, check=False
    )
    lines = res.stdout.strip().splitlines()
    if res.returncode or not lines:
        raise RuntimeError(f"{' '.join(argv[:3])} ... failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return json.loads(lines[-1])


def ffcv_beton(data: ReadData, ffcv_python: str, mode: str, quality: int = 90) -> str:
    """A ``.beton`` of the store's pixels (``mode`` ``"raw"`` or ``"jpg"``), written once."""
    out = os.path.join(data.root, f"ffcv_{mode}{quality if mode == 'jpg' else ''}.beton")
    if not os.path.exists(out):
        _log(f"writing {out} with FFCV ...")
        spec = {**data.layout, "kind": "write", "labels": data.labels, "mode": mode, "quality": quality}
        run_json([ffcv_python, "-m", "bench.kit.ffcv_cell", json.dumps(spec | {"out": out + ".partial"})])
        os.replace(out + ".partial", out)
    return out


def jpeg_store(data: ReadData) -> str | None:
    """Issue 12's JPEG store of the same root (``build --pixels jpeg``); None while that kind is absent."""
    from bioscan_h5.build import BuildConfig, build

    if "pixels" not in {f.name for f in dataclasses.fields(BuildConfig)}:
        return None
    out = os.path.join(data.root, "bioscan5m", "h5", "bench_jpeg_store.h5")
    if not os.path.exists(out):
        _log(f"building the JPEG store {out} ...")
        build(BuildConfig(root=data.root, out=out, progress=False, **{"pixels": "jpeg"}))
    return out
