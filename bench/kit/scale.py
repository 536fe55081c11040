"""The full-scale constructor benchmark: ``BIOSCAN5M(split="train")`` on 5.15M metadata rows.

A generated full-scale metadata file (``tools/make_fullscale_metadata.py``, about 4.5 GB)
and a ``--no-images`` store built from it, both made once under the work folder. The
store's image statuses are set to "decoded" so that the constructor takes its whole path
with the default modality (it reads statuses, never pixels). Ours and the peer's
constructor each run in a fresh subprocess: seconds and peak memory growth (VmHWM).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

__all__ = ["construct", "scale_csv", "scale_store"]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def scale_csv(root: str, n_rows: int) -> str:
    """The generated ``n_rows``-row metadata file of a BIOSCAN-5M root, written once."""
    from make_fullscale_metadata import write_scale_csv

    csv = os.path.join(root, "bioscan5m", "metadata", "csv", "BIOSCAN_5M_Insect_Dataset_metadata.csv")
    if not os.path.exists(csv):
        os.makedirs(os.path.dirname(csv), exist_ok=True)
        _log(f"generating a {n_rows:,}-row metadata file {csv} ...")
        t0 = time.perf_counter()
        write_scale_csv(csv, n_rows)
        _log(f"  {time.perf_counter() - t0:.0f} s, {os.path.getsize(csv) / 1e9:.2f} GB")
    return csv


def scale_store(work: str, n_rows: int) -> tuple[str, str]:
    """The generated full-scale root (CSV) and its ``--no-images`` store, made once."""
    import h5py
    from make_fullscale_metadata import SPLITS

    from bioscan_h5 import format as fmt
    from bioscan_h5.build import BuildConfig, build

    root = os.path.join(work, f"scale{n_rows}")
    scale_csv(root, n_rows)
    store = os.path.join(root, "bioscan5m", "h5", "bioscan5m_cropped_256_256px.h5")
    if not os.path.exists(store):
        _log("building the metadata-only store (bioscan-h5 build --no-images) ...")
        t0 = time.perf_counter()
        build(BuildConfig(root=root, no_images=True, progress=False))
        with h5py.File(store, "r+", locking=False) as f:
            f[fmt.IMAGE_STATUS][...] = fmt.ImageStatus.OK
            f.attrs[fmt.ATTR_SPLITS_BUILT] = json.dumps(list(SPLITS))
        _log(f"  {time.perf_counter() - t0:.0f} s")
    return root, store


_CONSTRUCT = """
import json, sys, time
sys.path.insert(0, {repo!r})
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
if {who!r} == "ours":
    from bioscan_h5 import BIOSCAN5M as cls
else:
    import bioscan_dataset

    class cls(bioscan_dataset.BIOSCAN5M):
        def _check_integrity(self, verbose=1):
            return True

import torch, pandas, PIL  # imported by both: not part of the construction
before = hwm()
t0 = time.perf_counter()
ds = cls({root!r}, split="train")
dt = time.perf_counter() - t0
print(json.dumps({{"seconds": dt, "extra_bytes": hwm() - before, "len": len(ds)}}))
"""


def construct(who: str, root: str, repo: str) -> dict:
    """Construct ``BIOSCAN5M(root, split="train")`` (``who``: ``"ours"`` or ``"peer"``) in a fresh process."""
    code = _CONSTRUCT.format(repo=repo, who=who, root=root)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f"{who} constructor failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])
