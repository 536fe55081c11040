"""Canadian Invertebrates: a DNA-only store, its dataset, tokenizers, batches and download.

(Parity with the peer's rules: ``tests/parity/test_parity_caninv.py``.)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import bioscan_h5
from bioscan_h5 import CanadianInvertebrates, batch_loader, open_store
from bioscan_h5 import format as fmt
from bioscan_h5.tokenizers import barcodebert_tokenizer, get_tokenizer
from tools import make_sample_data

CSV = "CanadianInvertebrates/CanInv_metadata.csv"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("caninv-ds") / "root"
    make_sample_data.make_canadian_invertebrates_root(base, n_rows=200, seed=1)
    return base


@pytest.fixture(scope="module")
def store(root) -> Path:
    from bioscan_h5.build import BuildConfig, build

    res = build(BuildConfig(root=str(root), dataset="canadian_invertebrates", progress=False))
    return Path(res.store)


def test_the_store_is_dna_only(root, store):
    assert store == root / "CanadianInvertebrates" / "h5" / "canadian_invertebrates.h5"
    with h5py.File(store, "r", locking=False) as f:
        assert fmt.IMAGES not in f and fmt.IMAGE_STATUS not in f and fmt.IMAGE_SOURCE_SIZE not in f
        assert f.attrs[fmt.ATTR_IMAGE_PACKAGE] == "" and f.attrs[fmt.ATTR_IMAGE_SIZE] == 0
        assert fmt.DNA_TAIL_OFFSETS in f  # whole barcodes, as every default store
    with open_store(store) as st:
        assert st.dataset == "canadian_invertebrates" and not st.has_images and len(st) == 200
        info = st.info()
        assert info["image_shape"] is None and info["rows_per_split"]["train"]["images"] == 0
        assert sum(v["rows"] for v in info["rows_per_split"].values()) == 200
        assert (
            st.indices("seen").tolist()
            == np.flatnonzero(np.isin(st.column_values("split"), ["train", "val", "test"])).tolist()
        )
        with pytest.raises(ValueError, match="no images"):
            st.images  # noqa: B018
        assert "no images" in repr(st)


def test_dataset_reads_the_store_and_refuses_images(root, store):
    ds = CanadianInvertebrates(str(root), split="train")
    assert ds.store_path == str(store) and len(ds) > 0
    dna, target = ds[0]
    assert isinstance(dna, str) and type(target) is int
    with pytest.raises(ValueError, match=r"Unfamiliar modality: 'image'.*no images"):
        CanadianInvertebrates(str(root), modality=("image", "dna"))
    assert bioscan_h5.CanadianInvertebrates is CanadianInvertebrates
    from bioscan_h5.canadian_invertebrates import VALID_SPLITS

    assert VALID_SPLITS == ["pretrain", "train", "val", "test", "test_unseen"]


def test_tokenizers_and_batch_loader(root, store):
    tok = barcodebert_tokenizer()
    ds = CanadianInvertebrates(str(root), split="all", dna_transform=tok, target_type=["genus", "dna_bin"])
    plain = CanadianInvertebrates(str(root), split="all", target_type=["genus", "dna_bin"])
    for i in (0, 7, len(ds) - 1):
        assert torch.equal(ds[i][0], tok(plain[i][0]))
    seen = 0
    for batch in batch_loader(ds, batch_size=64, num_workers=0):
        assert batch["dna"].shape == (len(batch["index"]), tok.num_tokens)
        for k, i in enumerate(batch["index"].tolist()):
            assert torch.equal(batch["dna"][k], ds[i][0])
            assert batch["target"][k].tolist() == list(plain[i][1])
        seen += len(batch["index"])
    assert seen == len(ds)
    codes = next(iter(batch_loader(plain, batch_size=16)))
    assert codes["dna"].dtype == torch.uint8 and codes["dna"].shape[1] == 660
    mamba = CanadianInvertebrates(str(root), split="val", dna_transform=get_tokenizer("barcodemamba"))
    assert mamba[0][0].shape == (660,)


@pytest.mark.subprocess
def test_cli_build_and_info(root, run_cli, tmp_path):
    out = tmp_path / "c.h5"
    res = run_cli(
        "build", "--root", root, "--dataset", "canadian_invertebrates", "--out", out, "--no-progress"
    )
    assert res.returncode == 0, res.stderr
    assert "200 rows in " in res.stdout and "; 0 images decoded, 0 missing, 0 bad" in res.stdout
    res = run_cli("info", out)
    assert res.returncode == 0, res.stderr
    assert "no images (a DNA-only dataset)" in res.stdout and "whole barcodes: kept" in res.stdout


def test_download_from_a_mirror_folder(root, tmp_path, monkeypatch):
    """``download=True`` fetches the CSV (a folder mirror here) and checks its MD5."""
    data = (root / CSV).read_bytes()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "CanInv_metadata.csv").write_bytes(data)
    table = json.loads((Path(bioscan_h5.__file__).parent / "download" / "archives.json").read_text())
    entry = table["datasets"]["canadian_invertebrates"]["archives"][0]
    entry["md5"] = hashlib.md5(data).hexdigest()
    entry["check"] = {CSV: entry["md5"]}
    (mirror / "manifest.json").write_text(json.dumps(table))
    dest = tmp_path / "fresh"
    ds = CanadianInvertebrates(str(dest), split="test", download=True, mirror=str(mirror))
    assert (dest / CSV).read_bytes() == data and len(ds) == len(
        CanadianInvertebrates(str(root), split="test")
    )


def test_generator_manifest_and_determinism(tmp_path):
    a = make_sample_data.make_canadian_invertebrates_root(tmp_path / "a", n_rows=80, seed=5)
    make_sample_data.make_canadian_invertebrates_root(tmp_path / "b", n_rows=80, seed=5)
    assert (tmp_path / "a" / CSV).read_bytes() == (tmp_path / "b" / CSV).read_bytes()
    assert a["n_rows"] == 80 and sum(a["rows_per_split"].values()) == 80
    header = (tmp_path / "a" / CSV).read_text().splitlines()[0].split(",")
    assert header == list(make_sample_data.CANINV_COLUMNS)
    assert a["barcode_cases"]["duplicate_beyond_660"] and not a["barcode_cases"]["duplicate_exact"]
    with pytest.raises(FileExistsError):
        make_sample_data.make_canadian_invertebrates_root(tmp_path / "a", n_rows=80)
    assert make_sample_data.main(["--out", str(tmp_path / "c"), "--dataset", "canadian_invertebrates"]) == 0
    assert (tmp_path / "c" / CSV).is_file()
