"""JPEG stores (issue 12) beside issue 13's whole barcodes, DNA-only datasets, store layouts and
spawned workers: the two sides merged.

* a JPEG store keeps whole barcodes, and records all three new content arguments;
* ``--pixels jpeg`` for a DNA-only dataset is refused with a clear message;
* the layouts name JPEG stores (the old BIOSCAN-1M layout included); DNA-only stores ignore
  the pixel kind;
* a JPEG build's reading workers are spawned without the user's main module and import only
  the light worker modules.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bioscan_h5 import BIOSCAN1M, open_store
from bioscan_h5 import format as fmt
from bioscan_h5.build import BuildConfig, build
from bioscan_h5.build.config import recorded_content
from bioscan_h5.errors import InvalidArgumentError
from bioscan_h5.layouts import get_layout
from tools import make_sample_data

TSV = "BIOSCAN_Insect_Dataset_metadata.tsv"


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}


# ------------------------------------------------------------------------------ content
def test_a_jpeg_store_keeps_whole_barcodes(jpeg_store_5m, store_5m):
    with open_store(jpeg_store_5m) as st, open_store(store_5m) as raw:
        args = json.loads(st.attrs[fmt.ATTR_BUILD_ARGS])
        assert (args["pixels"], args["jpeg_quality"], args["full_barcodes"]) == ("jpeg", None, True)
        assert st.codec.name == "jpeg" and st.full_barcodes and st.dna_tail is not None
        rows = np.arange(st.n_rows)
        assert st.barcodes(rows) == raw.barcodes(rows)


def test_recorded_content_completes_the_stores_of_either_branch():
    before_both = recorded_content(json.dumps({"max_nucleotides": 660}))
    assert (before_both["pixels"], before_both["jpeg_quality"], before_both["full_barcodes"]) == (
        "raw",
        None,
        False,
    )
    jpeg_only = recorded_content(json.dumps({"max_nucleotides": 660, "pixels": "jpeg", "jpeg_quality": 90}))
    assert (jpeg_only["pixels"], jpeg_only["jpeg_quality"], jpeg_only["full_barcodes"]) == ("jpeg", 90, False)
    assert recorded_content(json.dumps({"max_nucleotides": None}))["full_barcodes"] is True


# ------------------------------------------------------------------------------ DNA-only datasets
@pytest.mark.parametrize("kw", [{"pixels": "jpeg"}, {"pixels": "jpeg", "jpeg_quality": 90}])
def test_a_jpeg_store_of_a_dna_only_dataset_is_refused(tmp_path, kw):
    with pytest.raises(InvalidArgumentError, match="'canadian_invertebrates' is a DNA-only dataset"):
        BuildConfig(root=str(tmp_path), dataset="canadian_invertebrates", **kw)


@pytest.mark.subprocess
def test_the_command_line_refuses_it_too(tmp_path, run_cli):
    root = tmp_path / "root"
    make_sample_data.make_canadian_invertebrates_root(root, n_rows=50, seed=1)
    res = run_cli("build", "--root", str(root), "--dataset", "canadian_invertebrates", "--pixels", "jpeg")
    assert res.returncode == 2, res.stderr
    assert "DNA-only" in res.stderr and "--pixels" in res.stderr
    assert not (root / "CanadianInvertebrates" / "h5").exists() or not any(
        (root / "CanadianInvertebrates" / "h5").iterdir()
    )


def test_a_dna_only_store_reports_no_pixel_kind(tmp_path):
    root = tmp_path / "root"
    make_sample_data.make_canadian_invertebrates_root(root, n_rows=50, seed=2)
    res = build(BuildConfig(root=str(root), dataset="canadian_invertebrates", progress=False, workers=1))
    with open_store(res.store) as st:
        info = st.info()
    assert info["image_shape"] is None and info["pixels"] is None and info["image_bytes"] == 0


# ------------------------------------------------------------------------------ where stores go
def test_the_layouts_name_jpeg_stores(tmp_path):
    root = str(tmp_path)
    path = get_layout("bioscan5m").store_path(root, "cropped_256", 256, "crop", "_jpeg90")
    assert path == os.path.join(root, "bioscan5m", "h5", "bioscan5m_cropped_256_256px_jpeg90.h5")
    assert path == fmt.default_store_path(root, "bioscan5m", "cropped_256", 256, "crop", "_jpeg90")
    caninv = get_layout("canadian_invertebrates")
    plain = caninv.store_path(root, "cropped_256", 256)
    assert caninv.store_path(root, "cropped_256", 256, "crop", "jpeg") == plain  # no images: one store
    assert plain == os.path.join(root, "CanadianInvertebrates", "h5", "canadian_invertebrates.h5")
    cfg = BuildConfig(root=root, pixels="jpeg", fit="pad", image_size=128, workers=1)
    assert cfg.out == os.path.join(root, "bioscan5m", "h5", "bioscan5m_cropped_256_128px_pad_jpeg.h5")


def test_a_jpeg_store_of_the_old_bioscan1m_layout(make_root):
    root = Path(make_root(dataset="bioscan1m", faults=False).root)
    shutil.move(root / "bioscan1m" / TSV, root / TSV)
    shutil.move(root / "bioscan1m", root / "bioscan")
    res = build(BuildConfig(root=str(root), dataset="bioscan1m", pixels="jpeg", progress=False, workers=1))
    assert Path(res.store) == root / "bioscan" / "h5" / "bioscan1m_cropped_256_256px_jpeg.h5"
    assert not (root / "bioscan1m").exists()
    ds = BIOSCAN1M(str(root), split="test", image_size=256, build=False, modality=("image", "dna"))
    assert Path(ds.store_path) == Path(res.store)  # discovery finds the JPEG store there
    assert len(ds) > 0 and ds[0][0].mode in ("RGB", "L", "CMYK")


# ------------------------------------------------------------------------------ the reading workers
READER_SCRIPT = """\
import json
from bioscan_h5.build.pool import read_batches

print("script body runs", flush=True)
jobs = [(i, "sorted(__import__('sys').modules)") for i in range(8)]
modules = set()
for row, *names in read_batches(jobs, eval, workers=2, batch=2):  # eval: each job lists its worker's modules
    modules.update(names)
print(json.dumps(sorted(modules)))
"""

JPEG_BUILD_SCRIPT = """\
from bioscan_h5.build import BuildConfig, build

print("script body runs", flush=True)
res = build(BuildConfig(root={root!r}, pixels="jpeg", workers=2, batch_size=8, progress=False))
print("decoded", res.decoded_now, flush=True)
"""


@pytest.mark.subprocess
def test_the_reading_workers_run_the_light_modules_only(tmp_path):
    script = tmp_path / "reader.py"
    script.write_text(READER_SCRIPT)
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=_env(), cwd=tmp_path
    )
    out = textwrap.indent(res.stdout + res.stderr, "  ")
    assert res.returncode == 0, out
    assert res.stdout.count("script body runs") == 1, out  # never in a worker
    modules = json.loads(res.stdout.splitlines()[-1])
    assert "bioscan_h5._decode_worker" in modules, out
    heavy = [
        m
        for m in modules
        if m.startswith(("bioscan_h5.build", "bioscan_h5.store", "h5py", "numba", "pandas", "torch"))
    ]
    assert heavy == [], heavy


@pytest.mark.subprocess
def test_an_unguarded_script_builds_a_jpeg_store_once(make_root, tmp_path):
    root = make_root()
    script = tmp_path / "build_jpeg.py"
    script.write_text(JPEG_BUILD_SCRIPT.format(root=str(root.root)))
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, env=_env(), cwd=tmp_path
    )
    out = textwrap.indent(res.stdout + res.stderr, "  ")
    assert res.returncode == 0, out
    assert res.stdout.count("script body runs") == 1, out
    assert "BrokenProcessPool" not in res.stderr and "BuildLockedError" not in res.stderr, out
    stores = sorted(p.name for p in (root.dataset_dir / "h5").iterdir())
    assert "bioscan5m_cropped_256_256px_jpeg.h5" in stores and not [s for s in stores if ".partial" in s]
    with open_store(root.dataset_dir / "h5" / "bioscan5m_cropped_256_256px_jpeg.h5") as st:
        assert st.codec.name == "jpeg" and int(st.image_ok.sum()) > 0
