#!/usr/bin/env python
"""Regenerate ``golden_v2.h5`` and ``golden_v2.json``: a tiny store of format version 2.

The golden store is kept in the repository so that every later version of bioscan-h5 is
tested against a file written by format version 2 (``tests/store/test_format.py::test_golden_v2_store_still_opens``).
Only regenerate it on purpose (never to make that test pass): a new format version must
keep reading the old file.

The expected values in ``golden_v2.json`` come from the sources where possible: identifiers,
labels, barcodes and splits from ``bioscan_dataset.load_bioscan5m_metadata`` (the peer), image
sizes and bad rows from the sample-data tool's manifest. Pixel sums and one row of pixels
are taken from the store as written.

Usage::

    python tests/store/data/make_golden.py      # writes tests/store/data/golden_v2.{h5,json}
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))  # run as a script from its folder: the repository root holds `tools`

from bioscan_h5 import format as fmt  # noqa: E402
from bioscan_h5.build import BuildConfig, build  # noqa: E402
from bioscan_h5.layouts import BIOSCAN5M_RANKS  # noqa: E402
from bioscan_h5.store import open_store  # noqa: E402
from tools import make_sample_data  # noqa: E402

N_ROWS = 64  # the generator's minimum: 8 rows in each of the 8 splits
IMAGE_SIZE = 16
SEED = 7


def _none(v):
    return None if pd.isna(v) else v


def expected_values(root: Path, manifest: dict, store: Path) -> dict:
    """What the test checks, mostly computed from the sources rather than the store."""
    from bioscan_dataset import load_bioscan5m_metadata

    meta = root / manifest["metadata"]
    peer = load_bioscan5m_metadata(str(meta), max_nucleotides=660)
    whole = load_bioscan5m_metadata(str(meta), max_nucleotides=None)
    bad = set(manifest["undecodable_rows"])
    sizes = manifest["image_sizes"]["cropped_256"]
    with open_store(store) as st:
        images = np.asarray(st.images)
        status = st.image_status.tolist()
    assert [i for i, s in enumerate(status) if s != fmt.ImageStatus.OK] == sorted(bad)
    probe = next(i for i in range(N_ROWS) if i not in bad and sizes[i][0] != sizes[i][1])
    raw = pd.read_csv(meta, dtype=str, keep_default_na=False)
    return {
        "format_version": fmt.FORMAT_VERSION,
        "n_rows": N_ROWS,
        "image_size": IMAGE_SIZE,
        "processid": peer["processid"].tolist(),
        "labels": {r: peer[f"{r}_index"].astype(int).tolist() for r in BIOSCAN5M_RANKS},
        "vocab": {r: [str(c) for c in peer[r].cat.categories] for r in BIOSCAN5M_RANKS},
        "barcodes": [_none(b) for b in peer["dna_barcode"]],
        "dna_full_lengths": [-1 if pd.isna(b) else len(b) for b in whole["dna_barcode"]],
        "rows_per_split": {s: peer.index[peer["split"] == s].tolist() for s in sorted(set(peer["split"]))},
        "image_status": status,
        "image_source_size": [[0, 0] if i in bad else sizes[i] for i in range(N_ROWS)],
        "pixel_sums": images.reshape(N_ROWS, -1).sum(axis=1).tolist(),
        "probe_row": probe,
        "probe_pixels": images[probe].tolist(),
        "columns": {
            "coord-lat": [_none(v) for v in peer["coord-lat"].tolist()],
            "index_bioscan_1M_insect": [
                None if v == "" else int(float(v)) for v in raw["index_bioscan_1M_insect"]
            ],
            "chunk": [None if v == "" else v for v in raw["chunk"]],
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(HERE), help="where to write golden_v2.{h5,json}")
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        manifest = make_sample_data.make_bioscan5m_root(root, n_rows=N_ROWS, seed=SEED, faults=True)
        store = Path(tmp) / "golden_v2.h5"
        build(BuildConfig(root=str(root), image_size=IMAGE_SIZE, out=str(store), workers=1, progress=False))
        expected = expected_values(root, manifest, store)
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store, out_dir / "golden_v2.h5")
    (out_dir / "golden_v2.json").write_text(json.dumps(expected, ensure_ascii=False) + "\n", encoding="utf-8")
    size = (out_dir / "golden_v2.h5").stat().st_size
    print(f"wrote {out_dir / 'golden_v2.h5'} ({size} bytes) and golden_v2.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
