"""BIOSCAN-1M: building a store from the official root, and :class:`bioscan_h5.BIOSCAN1M` over it.

The builder half checks what the store keeps of a generated BIOSCAN-1M root (TSV metadata,
images at ``images/<package>/part<chunk_number>/<image_file>``, every partitioning column,
the CLIBD partition files) and the errors it gives for bad metadata. The dataset half checks
what BIOSCAN-5M's dataset offers beyond the peer, for BIOSCAN-1M: the store API, worker
safety, batch loading, pickling, auto-build, tokenizers as ``dna_transform``, and the
``max_nucleotides`` rules. Comparisons with ``bioscan-dataset`` itself are in
``test_parity_1m.py``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from bioscan_h5 import (
    BIOSCAN1M,
    ImageUnavailableError,
    MetadataError,
    SplitNotBuiltError,
    StoreNotFoundError,
    batch_loader,
    open_store,
)
from bioscan_h5.build import BuildConfig, build
from bioscan_h5.format import ImageStatus
from tests.helpers.bioscan1m import CLIBD_BASE, PV_1M, RANKS, make_sample_data

TSV = "BIOSCAN_Insect_Dataset_metadata.tsv"
#: The build status each kind of bad image file gets.
FAULT_STATUS = {
    "zero_bytes": ImageStatus.EMPTY,
    "truncated": ImageStatus.UNDECODABLE,
    "not_an_image": ImageStatus.UNDECODABLE,
    "missing": ImageStatus.MISSING,
    "cmyk": ImageStatus.OK,
    "grayscale": ImageStatus.OK,
    "png_named_jpg": ImageStatus.OK,
}


# ------------------------------------------------------------------------------ fixtures
def _cli(*args: object) -> None:
    import subprocess

    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([repo, *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, "-m", "bioscan_h5.cli", "build", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def r1m(tmp_path_factory) -> dict:
    """A generated root, its default store and a whole-barcode store, both built by the CLI."""
    base = tmp_path_factory.mktemp("bioscan1m")
    root = base / "root"
    manifest = make_sample_data.make_bioscan1m_root(
        root, n_rows=240, seed=0, packages=("cropped_256",), faults=True
    )
    _cli("--root", root, "--dataset", "bioscan1m", "--workers", "1", "--no-progress")
    full = base / "whole_barcodes.h5"
    _cli(
        "--root",
        root,
        "--dataset",
        "bioscan1m",
        "--max-nucleotides",
        "none",
        "--no-images",
        "--out",
        full,
        "--no-progress",
    )
    cut = base / "cut_barcodes.h5"  # a store that keeps only the first 660 letters
    _cli(
        "--root",
        root,
        "--dataset",
        "bioscan1m",
        "--no-full-barcodes",
        "--no-images",
        "--out",
        cut,
        "--no-progress",
    )
    store = root / "bioscan1m" / "h5" / "bioscan1m_cropped_256_256px.h5"
    assert store.is_file()
    raw = pd.read_csv(root / "bioscan1m" / TSV, sep="\t", dtype=str, keep_default_na=False)
    return {
        "root": str(root),
        "manifest": manifest,
        "store": str(store),
        "full_store": str(full),
        "cut_store": str(cut),
        "raw": raw,
    }


def _fresh_root(tmp_path: Path, request) -> Path:
    """A private copy of the generated root (through conftest's ``make_root`` when present)."""
    try:
        make_root = request.getfixturevalue("make_root")
    except pytest.FixtureLookupError:
        make_sample_data.make_bioscan1m_root(tmp_path / "own", n_rows=240, seed=0, faults=True)
        return tmp_path / "own"
    return Path(make_root("bioscan1m", n_rows=240, seed=0, packages=("cropped_256",), faults=True).root)


@pytest.fixture
def fresh_root(tmp_path, request) -> Path:
    return _fresh_root(tmp_path, request)


def _quiet_build(root, **kw):
    kw.setdefault("workers", 1)
    return build(BuildConfig(root=str(root), dataset="bioscan1m", progress=False, **kw))


def _edit_tsv(root: Path, row: int, column: str, value: str) -> None:
    path = root / "bioscan1m" / TSV
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split("\t")
    cells = lines[row + 1].split("\t")
    cells[header.index(column)] = value
    lines[row + 1] = "\t".join(cells)
    path.write_text("\n".join(lines), encoding="utf-8")


def _quiet(cls=BIOSCAN1M, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # too-fine target ranks
        return cls(*args, **kw)


# ------------------------------------------------------------------------------ builder: content
@pytest.mark.subprocess
def test_cli_build_flags_bad_images(r1m):
    manifest = r1m["manifest"]
    with open_store(r1m["store"]) as st:
        assert st.dataset == "bioscan1m" and st.n_rows == manifest["n_rows"] == 240
        assert st.image_size == 256 and st.images.shape == (240, 256, 256, 3)
        status = np.asarray(st.image_status)
    faults = [f for f in manifest["faults"] if f["package"] == "cropped_256"]
    assert {f["kind"] for f in faults} == set(FAULT_STATUS)
    for f in faults:
        assert status[f["row"]] == FAULT_STATUS[f["kind"]], f
    bad = np.flatnonzero(status != ImageStatus.OK)
    assert bad.tolist() == sorted(manifest["undecodable_rows"])
    # The build report lists each bad row with its sampleid, path and status.
    report = json.loads(Path(r1m["store"] + ".report.json").read_text())
    rows = {b["row"]: b for b in report["bad_images"]}
    assert sorted(rows) == sorted(manifest["undecodable_rows"])
    assert report["counts"]["OK"] == 240 - len(rows)
    for f in faults:
        if f["row"] in rows:
            entry = rows[f["row"]]
            assert entry["id"] == f["sampleid"] and entry["status"] == FAULT_STATUS[f["kind"]].name
            assert f["path"] == f"bioscan1m/images/cropped_256/{entry['path']}"


def test_store_keeps_every_partitioning_column(r1m):
    raw, counts = r1m["raw"], r1m["manifest"]["rows_per_partition"]
    with open_store(r1m["store"]) as st:
        assert set(PV_1M) | {"clibd_split"} <= set(st.columns)
        for pv in PV_1M:
            for split in ("train", "validation", "test", "no_split"):
                rows = st.indices(split, pv)
                assert rows.tolist() == np.flatnonzero(raw[pv] == split).tolist(), (pv, split)
                assert len(rows) == counts[pv][split]
            assert st.indices("val", pv).tolist() == st.indices("validation", pv).tolist()
            assert (
                st.indices("train+test", pv).tolist()
                == np.flatnonzero(raw[pv].isin(["train", "test"])).tolist()
            )
            assert st.indices("all", pv).tolist() == list(range(240))
        # The default partitioning version is the peer's.
        assert st.indices("train").tolist() == st.indices("train", "large_diptera_family").tolist()
        assert st.indices(None).tolist() == list(range(240))


def test_store_keeps_the_clibd_files_as_rows_in_file_order(r1m):
    folder = Path(r1m["root"]) / "bioscan1m" / "CLIBD_partitioning"
    ids = r1m["raw"]["sampleid"].to_numpy()
    split_of_row = np.full(240, "", dtype=object)
    with open_store(r1m["store"]) as st:
        for name, n in r1m["manifest"]["clibd_files"].items():
            want = (folder / f"{name}.txt").read_text().split()
            rows = np.asarray(st.file[f"partitions/{name}"][()])
            assert len(rows) == n == len(want)
            assert ids[rows].tolist() == want, name
            assert st.indices(name, "clibd").tolist() == rows.tolist()
            if name in CLIBD_BASE:
                split_of_row[rows] = name
        # Each row's CLIBD split, as the peer's clibd_split column (every row in one base file).
        assert (split_of_row != "").all()
        assert st.column_values("clibd_split").tolist() == split_of_row.tolist()
        # BIOSCAN-5M names are aliases; "+" unions follow the metadata file's order.
        assert st.indices("key_unseen", "clibd").tolist() == st.indices("test_unseen_keys", "clibd").tolist()
        union = st.indices("pretrain+train", "clibd")
        assert union.tolist() == np.flatnonzero(np.isin(split_of_row, ["no_split", "train_seen"])).tolist()
        with pytest.raises(ValueError, match="Invalid split value: 'bogus'"):
            st.indices("bogus", "clibd")
        with pytest.raises(ValueError, match="Invalid partitioning version: 'bogus'"):
            st.indices("train", "bogus")


def test_store_holds_the_cleaned_labels(r1m):
    """The peer's clean-up is applied at build time: no ``not_classified``, placeholders added."""
    from bioscan_dataset import load_bioscan1m_metadata as peer_load

    peer = peer_load(Path(r1m["root"]) / "bioscan1m" / TSV)
    with open_store(r1m["store"]) as st:
        for rank in RANKS:
            vocab = st.vocab[rank]
            assert vocab == list(peer[rank].cat.categories), rank
            assert "not_classified" not in vocab
            codes = np.asarray(st.labels[rank])
            assert codes.tolist() == peer[f"{rank}_index"].tolist(), rank
    cases = r1m["manifest"]["label_fix_cases"]
    tribes = {"tribe_asteia": "Asteiini", "tribe_nemorilla": "Winthemiini", "tribe_philaenus": "Philaenini"}
    for case, tribe in tribes.items():
        assert (peer.loc[cases[case], "tribe"] == tribe).all()
        assert (r1m["raw"].loc[cases[case], "tribe"] != tribe).all()


def test_images_come_from_part_folders_by_image_file(r1m):
    ds = BIOSCAN1M(
        r1m["root"], split="all", modality=("image", "image_path"), target_type=[], drop_bad_images=True
    )
    raw = r1m["raw"]
    image_dir = Path(r1m["root"]) / "bioscan1m" / "images" / "cropped_256"
    for i in (0, 1, 50, len(ds) - 1):
        row = int(ds.rows[i])
        rel = f"part{raw['chunk_number'][row]}/{raw['image_file'][row]}"
        img, path, _ = ds[i]
        assert path == rel
        with Image.open(image_dir / rel) as src:
            src = src.convert("RGB")
            w, _h = src.size
            left = int(round((w - 256) / 2.0))
            want = np.asarray(src.crop((left, 0, left + 256, 256)))
        assert np.array_equal(np.asarray(img), want)
    # (the peer's metadata frame has no image_path column: the modality serves it)
    assert [ds[i][1] for i in range(3)] == [
        f"part{raw['chunk_number'][r]}/{raw['image_file'][r]}" for r in ds.rows[:3]
    ]


def test_image_file_and_chunk_number_locate_the_image(fresh_root):
    """The builder uses image_file and chunk_number, not processid, to find an image."""
    images = fresh_root / "bioscan1m" / "images" / "cropped_256"
    raw = pd.read_csv(fresh_root / "bioscan1m" / TSV, sep="\t", dtype=str, keep_default_na=False)
    row = 3
    old = images / f"part{raw['chunk_number'][row]}" / raw["image_file"][row]
    new_dir = images / "part200"
    new_dir.mkdir()
    shutil.move(old, new_dir / "renamed image.jpg")
    _edit_tsv(fresh_root, row, "image_file", "renamed image.jpg")
    _edit_tsv(fresh_root, row, "chunk_number", "200")
    _quiet_build(fresh_root, splits="clibd:" + _clibd_split_of(fresh_root, raw["sampleid"][row]))
    with open_store(fresh_root / "bioscan1m" / "h5" / "bioscan1m_cropped_256_256px.h5") as st:
        assert st.image_status[row] == ImageStatus.OK


def _clibd_split_of(root: Path, sampleid: str) -> str:
    for name in CLIBD_BASE:
        if sampleid in (root / "bioscan1m" / "CLIBD_partitioning" / f"{name}.txt").read_text().split():
            return name
    raise AssertionError(sampleid)


# ------------------------------------------------------------------------------ builder: errors
def test_missing_clibd_base_file_is_a_metadata_error(fresh_root):
    missing = fresh_root / "bioscan1m" / "CLIBD_partitioning" / "val_unseen.txt"
    missing.unlink()
    with pytest.raises(MetadataError, match=re.escape(str(missing))) as err:
        _quiet_build(fresh_root, no_images=True)
    assert "missing" in str(err.value) and err.value.path == str(missing)


def test_unknown_sampleid_in_a_partition_file_is_a_metadata_error(fresh_root):
    path = fresh_root / "bioscan1m" / "CLIBD_partitioning" / "test_seen.txt"
    lines = path.read_text().split()
    lines.insert(2, "BIOUG00000-Z99")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MetadataError) as err:
        _quiet_build(fresh_root, no_images=True)
    msg = str(err.value)
    assert str(path) in msg and "data row 3" in msg and "'sampleid'" in msg and "'BIOUG00000-Z99'" in msg
    assert (err.value.row, err.value.column, err.value.value) == (2, "sampleid", "BIOUG00000-Z99")


@pytest.mark.parametrize("value", ["../outside.jpg", "sub/dir.jpg", "..", "a\\b.jpg"])
def test_unsafe_image_file_is_a_metadata_error(fresh_root, value):
    _edit_tsv(fresh_root, 7, "image_file", value)
    sampleid = pd.read_csv(fresh_root / "bioscan1m" / TSV, sep="\t", dtype=str)["sampleid"][7]
    with pytest.raises(MetadataError) as err:
        _quiet_build(fresh_root, no_images=True)
    msg = str(err.value)
    assert str(fresh_root / "bioscan1m" / TSV) in msg and "data row 8" in msg
    assert "'image_file'" in msg and repr(value) in msg and repr(sampleid) in msg
    assert (err.value.row, err.value.column, err.value.value) == (7, "image_file", value)


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [("chunk_number", "-3", "negative"), ("medium_insect_order", "training", "unknown partition name")],
)
def test_bad_chunk_number_or_partition_name_is_a_metadata_error(fresh_root, column, value, what):
    _edit_tsv(fresh_root, 11, column, value)
    with pytest.raises(MetadataError, match=what) as err:
        _quiet_build(fresh_root, no_images=True)
    assert "data row 12" in str(err.value) and err.value.column == column


def test_without_clibd_files_only_clibd_is_refused(fresh_root):
    shutil.rmtree(fresh_root / "bioscan1m" / "CLIBD_partitioning")
    _quiet_build(fresh_root, no_images=True)
    ds = BIOSCAN1M(fresh_root, split="test", modality=("dna",))
    assert len(ds) == 34
    with pytest.raises(OSError, match="CLIBD_partitioning"):
        BIOSCAN1M(fresh_root, split="train", partitioning_version="clibd", modality=("dna",))


# ------------------------------------------------------------------------------ dataset: arguments
def test_defaults_are_the_peer_defaults(r1m):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # family under large_diptera_family: no warning
        ds = BIOSCAN1M(r1m["root"])
    assert (ds.split, ds.partitioning_version) == ("train", "large_diptera_family")
    assert ds.modality == ["image", "dna"] and ds.target_type == ["family"]
    assert (ds.target_format, ds.output_format, ds.max_nucleotides) == ("index", "tuple", 660)
    assert ds.store_path == r1m["store"]
    assert ds.rows.tolist() == np.flatnonzero(r1m["raw"]["large_diptera_family"] == "train").tolist()
    img, dna, target = ds[0]
    assert isinstance(img, Image.Image) and img.size == (256, 256) and img.mode == "RGB"
    assert isinstance(dna, str) and type(target) is int


def test_uri_target_and_dna_bin_alias(r1m):
    a = BIOSCAN1M(r1m["root"], split="test", modality=(), target_type="uri")
    b = BIOSCAN1M(r1m["root"], split="test", modality=(), target_type="dna_bin")
    assert b.target_type == ["uri"]
    assert [a[i] for i in range(len(a))] == [b[i] for i in range(len(b))]
    idx = a[0][0]
    assert b.index2label(idx) == a.index2label(idx, "dna_bin") == r1m["raw"]["uri"][int(a.rows[0])]
    assert a.label2index(a.index2label(idx), "dna_bin") == idx


@pytest.mark.parametrize(
    ("partitioning_version", "target_type", "warns"),
    [
        ("large_diptera_family", "family", False),
        ("large_diptera_family", "genus", True),
        ("small_diptera_family", ["order", "species"], True),
        ("medium_insect_order", "order", False),
        ("medium_insect_order", "family", True),
        ("clibd", ["species", "tribe", "uri"], False),
        ("large_insect_order", "uri", False),
    ],
)
def test_too_fine_target_ranks_warn(r1m, partitioning_version, target_type, warns):
    kw = {"partitioning_version": partitioning_version, "modality": (), "target_type": target_type}
    if warns:
        with pytest.warns(UserWarning, match="more fine-grained than the partitioning version"):
            BIOSCAN1M(r1m["root"], **kw)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            BIOSCAN1M(r1m["root"], **kw)


def test_output_formats_and_targets(r1m):
    kw = {"split": "val_seen", "partitioning_version": "clibd", "modality": ("dna", "sampleid")}
    row = int(BIOSCAN1M(r1m["root"], **kw).rows[0])
    raw = r1m["raw"].iloc[row]
    dna, sid, target = BIOSCAN1M(r1m["root"], **kw, target_type=["genus", "family"])[0]
    assert sid == raw["sampleid"] and dna == raw["nucraw"][:660]
    assert isinstance(target, tuple) and all(type(t) is int for t in target)
    assert BIOSCAN1M(r1m["root"], **kw, target_type=[])[0] == (dna, sid, None)
    text = BIOSCAN1M(r1m["root"], **kw, target_type=["genus", "family"], target_format="text")[0]
    assert text[2][1] == raw["family"]
    d = BIOSCAN1M(r1m["root"], **kw, target_type=["genus", "family"], output_format="dict")[0]
    assert list(d) == ["dna", "sampleid", "genus", "genus_index", "family", "family_index", "target"]
    assert d["target"] == target and d["family"] == raw["family"]
    assert BIOSCAN1M(r1m["root"], **kw, target_type=[], output_format="dict")[0]["target"] is None
    with pytest.raises(RuntimeError, match="target_transform is specified but target_type is empty"):
        BIOSCAN1M(r1m["root"], **kw, target_type=[], target_transform=str)
    for bad in ({"target_format": "label"}, {"output_format": "list"}, {"image_format": "cv2"}):
        with pytest.raises(ValueError, match="Unknown"):
            BIOSCAN1M(r1m["root"], **kw, **bad)


def test_image_formats(r1m):
    kw = {"split": "test", "modality": ("image",), "target_type": [], "drop_bad_images": True}
    pil = BIOSCAN1M(r1m["root"], **kw)[0][0]
    arr = BIOSCAN1M(r1m["root"], **kw, image_format="numpy")[0][0]
    ten = BIOSCAN1M(r1m["root"], **kw, image_format="tensor")[0][0]
    assert arr.shape == (256, 256, 3) and arr.dtype == np.uint8
    assert ten.shape == (3, 256, 256) and ten.dtype == torch.uint8
    assert np.array_equal(np.asarray(pil), arr) and np.array_equal(ten.permute(1, 2, 0).numpy(), arr)


def test_bad_images_raise_or_are_dropped(r1m):
    bad = sorted(r1m["manifest"]["undecodable_rows"])
    ds = BIOSCAN1M(r1m["root"], split="all", partitioning_version="clibd", modality=("image",))
    assert len(ds) == 240
    for row in bad:
        i = int(np.flatnonzero(ds.rows == row)[0])
        with pytest.raises(ImageUnavailableError, match=repr(r1m["raw"]["sampleid"][row])):
            ds[i]
    dropped = BIOSCAN1M(
        r1m["root"], split="all", partitioning_version="clibd", modality=("image",), drop_bad_images=True
    )
    assert sorted(set(ds.rows) - set(dropped.rows)) == bad
    with pytest.raises(ImageUnavailableError):
        next(iter(batch_loader(ds, batch_size=240)))


# ------------------------------------------------------------------------------ max_nucleotides
def test_max_nucleotides_beyond_the_store_is_a_clear_error(r1m):
    # (a store built with --no-full-barcodes: the default one keeps every barcode whole)
    for asked in (None, 661, 5000):
        with pytest.raises(
            ValueError, match=r"max_nucleotides=\S+ asks for more than the store holds"
        ) as err:
            BIOSCAN1M(
                r1m["root"], split="all", modality=("dna",), max_nucleotides=asked, store=r1m["cut_store"]
            )
        assert r1m["cut_store"] in str(err.value) and "--max-nucleotides none" in str(err.value)
    # Without a DNA modality (and no de-duplication) the barcode width matters only to the
    # metadata frame, which holds the barcodes: never cut shorter than asked.
    ds = BIOSCAN1M(
        r1m["root"],
        split="all",
        modality=("sampleid",),
        max_nucleotides=None,
        target_type=[],
        store=r1m["cut_store"],
    )
    assert ds[0] == (r1m["raw"]["sampleid"][0], None)
    with pytest.raises(ValueError, match="max_nucleotides=None asks for more than the store holds"):
        _ = ds.metadata
    with pytest.raises(ValueError, match="non-negative"):
        BIOSCAN1M(r1m["root"], modality=("dna",), max_nucleotides=-1)


@pytest.mark.parametrize("max_nucleotides", [None, 700, 660, 5])
def test_max_nucleotides_with_a_whole_barcode_store(r1m, max_nucleotides):
    ds = BIOSCAN1M(
        None,
        split="all",
        modality=("dna",),
        target_type=[],
        max_nucleotides=max_nucleotides,
        store=r1m["full_store"],
    )
    raw = r1m["raw"]["nucraw"]
    got = [ds[i][0] for i in range(len(ds))]
    assert got == [s[:max_nucleotides] for s in raw]
    if max_nucleotides is None:
        assert max(map(len, got)) > 660
    with open_store(r1m["full_store"]) as st:
        assert st.max_nucleotides is None


# ------------------------------------------------------------------------------ store API and loading
@pytest.mark.parametrize(
    ("partitioning_version", "split"),
    [(pv, "train") for pv in PV_1M]
    + [("small_insect_order", "val+no_split"), ("clibd", "val_unseen_keys"), ("clibd", "all_keys")]
    + [("clibd", "pretrain+key_unseen"), ("clibd", "all")],
)
def test_store_indices_are_the_dataset_rows(r1m, partitioning_version, split):
    ds = _quiet(BIOSCAN1M, r1m["root"], split=split, partitioning_version=partitioning_version, modality=())
    with open_store(r1m["store"]) as st:
        assert st.indices(split, partitioning_version).tolist() == ds.rows.tolist()


def test_getitems_and_batch_loader_match_samples(r1m):
    """The fast paths (batched reads, batch_loader) give the per-sample data, remapped indices too."""
    ds = _quiet(
        BIOSCAN1M,
        r1m["root"],
        split="all",
        partitioning_version="clibd",
        modality=("image", "dna", "sampleid", "genus_index"),
        target_type=["family", "genus"],
        reduce_repeated_barcodes=True,  # label indices over the de-duplicated file
        drop_bad_images=True,
        image_format="tensor",
    )
    assert ds.label_space.remap, "the reduced dataset renumbers its labels"
    picks = [5, 0, 17, len(ds) - 1, 5]
    for a, b in zip(ds.__getitems__(picks), [ds[i] for i in picks]):
        assert torch.equal(a[0], b[0]) and a[1:] == b[1:]
    seen = 0
    for batch in batch_loader(ds, batch_size=64):
        for k, i in enumerate(batch["index"].tolist()):
            img, dna, sid, genus_index, target = ds[i]
            assert torch.equal(batch["image"][k], img)
            n = int(batch["dna_length"][k])
            assert bytes(batch["dna"][k, :n].numpy()).decode() == dna
            assert batch["sampleid"][k] == sid and int(batch["genus_index"][k]) == genus_index
            assert tuple(batch["target"][k].tolist()) == target
            assert (int(batch["family_index"][k]), int(batch["genus_index"][k])) == target
            name = batch["family"][k]  # the label name, NaN where missing (as a dict sample's)
            assert name == ds.index2label(target[0], "family") if target[0] >= 0 else name != name
            seen += 1
    assert seen == len(ds)


def _collate_images(ds, loader_kw) -> list:
    loader = torch.utils.data.DataLoader(ds, batch_size=5, **loader_kw)
    return list(loader)


@pytest.mark.subprocess
def test_dataloader_with_two_spawned_workers_matches_one_process(r1m):
    ds = _quiet(
        BIOSCAN1M,
        r1m["root"],
        split="val_seen+test_seen+val_unseen",
        partitioning_version="clibd",
        modality=("image", "dna"),
        target_type=["species", "uri"],
        reduce_repeated_barcodes=True,
        drop_bad_images=True,
        image_format="tensor",
    )
    ds[0]  # the store is opened in this process first: workers must open their own
    single = _collate_images(ds, {})
    multi = _collate_images(ds, {"num_workers": 2, "multiprocessing_context": "spawn"})
    assert len(single) == len(multi) > 2
    for a, b in zip(single, multi):
        assert torch.equal(a[0], b[0]) and a[1] == b[1]
        assert all(torch.equal(x, y) for x, y in zip(a[2], b[2]))


def test_pickling_keeps_options_not_the_open_store(r1m):
    ds = _quiet(
        BIOSCAN1M,
        r1m["root"],
        split="no_split+train",
        partitioning_version="small_insect_order",
        modality=("image", "dna", "processid"),
        target_type=["order", "genus"],
        reduce_repeated_barcodes=True,
        max_nucleotides=120,
    )
    first = ds[0]
    blob = pickle.dumps(ds)
    assert len(blob) < 64_000  # rows and options, never pixels or the file handle
    back = pickle.loads(blob)  # noqa: S301 - our own object, as DataLoader workers do
    assert back._store is None and back.store_path == ds.store_path
    for i in (0, 3, len(ds) - 1):
        a, b = ds[i], back[i]
        assert np.array_equal(np.asarray(a[0]), np.asarray(b[0])) and a[1:] == b[1:]
    assert np.array_equal(np.asarray(first[0]), np.asarray(back[0][0]))
    assert repr(back) == repr(ds)


def test_auto_build_and_build_false(fresh_root, capsys):
    store = fresh_root / "bioscan1m" / "h5" / "bioscan1m_cropped_256_256px.h5"
    with pytest.raises(StoreNotFoundError) as err:
        BIOSCAN1M(fresh_root, split="test", build=False)
    msg = str(err.value)
    assert "bioscan-h5 build" in msg and "--dataset bioscan1m" in msg and str(store) in msg
    assert not store.exists()
    # Without images, "auto" builds a metadata-only store...
    ds = BIOSCAN1M(fresh_root, split="test", modality=("dna",))
    assert store.is_file() and len(ds) == 34
    with open_store(store) as st:
        assert (np.asarray(st.image_status) == ImageStatus.PENDING).all()
    # ... which refuses image reads with build=False, naming the split to build ...
    with pytest.raises(SplitNotBuiltError, match="large_diptera_family:test"):
        BIOSCAN1M(fresh_root, split="test", build=False)
    # ... and, with build="auto", decodes the images of the split asked for only.
    ds = BIOSCAN1M(fresh_root, split="test", partitioning_version="clibd", modality=("image",))
    with open_store(store) as st:
        status = np.asarray(st.image_status)
    assert (status[ds.rows] != ImageStatus.PENDING).all()
    assert (status == ImageStatus.PENDING).sum() == 240 - len(ds)
    assert ds[0][0].size == (256, 256)
    assert "bioscan-h5: building" in capsys.readouterr().err


def test_tokenizer_as_dna_transform(r1m, tmp_path):
    tokenizers = pytest.importorskip("bioscan_h5.tokenizers")
    tok = tokenizers.get_tokenizer("barcodebert")
    kw = {"split": "train", "partitioning_version": "clibd", "modality": ("dna",), "target_type": []}
    plain = BIOSCAN1M(r1m["root"], **kw, max_nucleotides=100)
    ds = BIOSCAN1M(r1m["root"], **kw, max_nucleotides=100, dna_transform=tok)
    ids = [ds[i][0] for i in range(len(ds))]
    for i in range(len(ds)):
        assert torch.equal(ids[i], tok(plain[i][0]))
    batch = next(iter(batch_loader(ds, batch_size=len(ds))))
    assert torch.equal(batch["dna"], torch.stack(ids)) and batch["dna_mask"].shape == batch["dna"].shape
    assert "dna_transform" in repr(ds)
    # Tokens precomputed by `build --tokenize` are served when they are what the tokenizer gives.
    out = tmp_path / "tokens.h5"
    _quiet_build(r1m["root"], no_images=True, tokenize=("barcodebert",), out=str(out))
    kw["max_nucleotides"] = 660
    pre = BIOSCAN1M(None, **kw, dna_transform=tok, store=out)
    assert pre.reader.dna.stored_tokens == "barcodebert"
    plain = BIOSCAN1M(None, **kw, store=out)
    for i in range(len(pre)):
        assert torch.equal(pre[i][0], tok(plain[i][0]))
    batch = next(iter(batch_loader(pre, batch_size=len(pre))))
    assert torch.equal(batch["dna"], torch.stack([tok(plain[i][0]) for i in range(len(plain))]))
