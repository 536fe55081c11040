"""Tests of ``tools/make_sample_data.py``, the sample-data tool every other test builds on."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, JpegImagePlugin, UnidentifiedImageError

from tools import make_sample_data as msd

TOOLS = Path(__file__).resolve().parents[2] / "tools"

META_5M = "bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv"
META_1M = "bioscan1m/BIOSCAN_Insect_Dataset_metadata.tsv"
RANKS_5M = ["phylum", "class", "order", "family", "subfamily", "genus", "species"]
NC = "not_classified"


@pytest.fixture(scope="module")
def peer():
    return pytest.importorskip("bioscan_dataset")


@pytest.fixture(scope="module")
def root5m(tmp_path_factory):
    root = tmp_path_factory.mktemp("s5m")
    return root, msd.make_bioscan5m_root(root)


@pytest.fixture(scope="module")
def root1m(tmp_path_factory):
    root = tmp_path_factory.mktemp("s1m")
    return root, msd.make_bioscan1m_root(root)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _raw(path: Path, delimiter: str) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter=delimiter))


def _decode(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im


# ------------------------------------------------------------------------------ determinism


@pytest.mark.parametrize(
    ("maker", "packages"),
    [(msd.make_bioscan5m_root, "all"), (msd.make_bioscan1m_root, ("cropped_256", "cropped"))],
)
def test_same_arguments_give_identical_files(tmp_path, maker, packages):
    a = maker(tmp_path / "a", n_rows=64, seed=3, packages=packages)
    b = maker(tmp_path / "b", n_rows=64, seed=3, packages=packages)
    assert a == b
    tree_a, tree_b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert tree_a.keys() == tree_b.keys()
    assert all(tree_a[k] == tree_b[k] for k in tree_a)
    # The metadata does not depend on the packages or the faults, each package's images not on
    # the other packages; another seed changes everything.
    maker(tmp_path / "c", n_rows=64, seed=3, packages=("cropped",))
    maker(tmp_path / "e", n_rows=64, seed=3, faults=False)
    maker(tmp_path / "d", n_rows=64, seed=4)
    meta = META_5M if maker is msd.make_bioscan5m_root else META_1M
    assert (tmp_path / "e" / meta).read_bytes() == tree_a[meta]
    assert (tmp_path / "d" / meta).read_bytes() != tree_a[meta]
    tree_c = _tree(tmp_path / "c")
    assert tree_c[meta] == tree_a[meta]
    assert all(tree_a[k] == v for k, v in tree_c.items() if "/images/" in k)


# ------------------------------------------------------------------------------ BIOSCAN-5M


def test_5m_layout_columns_and_splits(root5m, peer):
    root, info = root5m
    rows = _raw(root / META_5M, ",")
    assert rows[0] == list(msd.COLUMNS_5M)
    assert all(len(r) == len(msd.COLUMNS_5M) for r in rows)
    df = peer.load_bioscan5m_metadata(root / META_5M)
    assert len(df) == info["n_rows"] == 320
    counts = df["split"].value_counts().to_dict()
    assert counts == info["rows_per_split"]
    assert list(info["rows_per_split"]) == list(msd.SPLITS_5M)
    assert min(counts.values()) >= 8 and max(counts, key=counts.get) == "pretrain"
    # Splits are interleaved in file order, not blocked.
    assert (df["split"] != df["split"].shift()).sum() > 50
    for pid, split, chunk in zip(df["processid"], df["split"], df["chunk"]):
        digest = hashlib.md5(pid.encode()).hexdigest()
        want = {"pretrain": digest[:2], "train": digest[:1], "other_heldout": digest[:1]}.get(split)
        assert (chunk if isinstance(chunk, str) else None) == want
    assert df["processid"].is_unique and df["sampleid"].is_unique


def test_5m_csv_reads_back_exactly(root5m, peer):
    root, _ = root5m
    raw = pd.DataFrame(_raw(root / META_5M, ",")[1:], columns=list(msd.COLUMNS_5M))
    text = pd.read_csv(root / META_5M, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(text, raw)
    df = peer.load_bioscan5m_metadata(root / META_5M, max_nucleotides=None)
    for col in msd.COLUMNS_5M:
        missing = raw[col] == ""
        assert (df[col].isna().to_numpy() == missing.to_numpy()).all(), col
        if col in ("coord-lat", "coord-lon", "image_measurement_value", "area_fraction", "scale_factor"):
            assert (df.loc[~missing, col] == raw.loc[~missing, col].astype(float)).all(), col
        elif col not in ("inferred_ranks", "index_bioscan_1M_insect"):
            assert (df.loc[~missing, col].astype(str) == raw.loc[~missing, col]).all(), col
    filled = raw["index_bioscan_1M_insect"][raw["index_bioscan_1M_insect"] != ""]
    assert 0 < len(filled) < len(raw) / 2 and filled.str.fullmatch(r"\d+\.0").all()
    assert (df["index_bioscan_1M_insect"].dropna().astype(str) + ".0").tolist() == filled.tolist()
    assert set(df["inferred_ranks"]) <= set(range(8))
    assert "Bonaire, Sint Eustatius and Saba" in set(df["country"])  # needs quoting


def test_5m_labels_are_realistic(root5m, peer):
    root, _ = root5m
    df = peer.load_bioscan5m_metadata(root / META_5M)
    known = df[RANKS_5M].notna()
    # Hierarchically consistent: a known rank implies every rank above it is known
    # (subfamily excepted: many genera have none).
    for upper, lower in itertools.pairwise(RANKS_5M[:5]):
        assert not (known[lower] & ~known[upper]).any(), (upper, lower)
    assert not (known["genus"] & ~known["family"]).any()
    assert not (known["species"] & ~known["genus"]).any()
    species = df.dropna(subset=["species"])
    assert all(s.startswith(g + " ") for s, g in zip(species["species"], species["genus"]))
    assert set(df["phylum"]) == {"Arthropoda"}
    assert {"Insecta", "Arachnida", "Collembola"} <= set(df["class"].dropna())
    assert df["order"].nunique() >= 6 and df["family"].nunique() >= 15
    frac = known.mean()
    assert frac["class"] >= 0.99 and frac["family"] > 0.9
    assert (
        0.10 <= frac["species"] <= 0.30
        and 0.25 <= frac["genus"] <= 0.40
        and 0.25 <= frac["subfamily"] <= 0.40
    )
    assert df.loc[df["split"] == "pretrain", "species"].notna().mean() < 0.05
    assert df.loc[df["split"] != "pretrain", "species"].notna().all()
    labels = set(df["species"].dropna()) | set(df["genus"].dropna()) | set(df["subfamily"].dropna())
    assert {"Megaselia sp. BIOUG123", "Ôrmyrus sp. É", "unassigned Sciaridae"} <= labels
    assert any(not s.isascii() for s in set(df["province_state"].dropna()))
    # Seen species are shared by train/val/test, unseen ones by the unseen splits only.
    by_split = df.groupby("split", observed=True)["species"].agg(lambda s: set(s.dropna()))
    assert by_split["val"] | by_split["test"] <= by_split["train"]
    assert not (
        by_split["train"] & (by_split["key_unseen"] | by_split["val_unseen"] | by_split["test_unseen"])
    )
    assert df["dna_bin"].notna().mean() > 0.97
    assert df["dna_bin"].dropna().astype(str).str.fullmatch(r"BOLD:[A-Z]{3}\d{4}").all()
    for col in ("country", "province_state", "coord-lat", "image_measurement_value"):
        assert 0 < df[col].isna().sum() < 0.2 * len(df), col


def test_5m_barcodes_have_the_edge_cases(root5m, peer):
    root, info = root5m
    path = root / META_5M
    full = peer.load_bioscan5m_metadata(path, max_nucleotides=None)["dna_barcode"]
    assert full.notna().all()
    lengths = full.str.len()
    assert ((lengths >= 650) & (lengths <= 660)).mean() > 0.8
    assert set("".join(full)) <= set("ACGTNRYKMSWBDHV-")
    cases = info["barcode_cases"]
    assert all(cases[k] for k in msd.BARCODE_CASES if k != "missing") and cases["missing"] == []
    assert all("N" in full[i].strip("N") for i in cases["interior_n"])
    assert all(full[i].endswith("NN") for i in cases["trailing_n"])
    assert all(re.search("[RYKMSWBDHV]", full[i]) for i in cases["iupac"])
    assert all("-" in full[i] for i in cases["gap"])
    assert all(700 <= len(full[i]) <= 1000 for i in cases["long"])
    assert all(len(full[i]) < 300 for i in cases["short"])
    assert all(full[a] == full[b] for a, b in cases["duplicate_exact"])
    for a, b in cases["duplicate_trailing_n"]:
        assert full[a] != full[b] and full[a].rstrip("N") == full[b].rstrip("N")
    for a, b in cases["duplicate_beyond_660"]:
        assert full[a] != full[b] and full[a][:660] == full[b][:660]
    # So reduce_repeated_barcodes has work to do, and truncation changes how much.
    n_660 = len(peer.load_bioscan5m_metadata(path, reduce_repeated_barcodes=True))
    n_full = len(peer.load_bioscan5m_metadata(path, max_nucleotides=None, reduce_repeated_barcodes=True))
    n_trunc_exact = peer.load_bioscan5m_metadata(path)["dna_barcode"].nunique()
    assert n_660 < n_trunc_exact < len(full) and n_660 < n_full < len(full)


def test_5m_images_exist_open_and_have_real_sizes(root5m, peer):
    root, info = root5m
    df = peer.load_bioscan5m_metadata(root / META_5M)
    image_dir = root / "bioscan5m" / "images" / "cropped_256"
    faulty = set(info["faulty_rows"])
    sizes = info["image_sizes"]["cropped_256"]
    for i, rel in enumerate(df["image_path"]):
        if i in faulty:
            continue
        im = _decode(image_dir / rel)
        assert im.format == "JPEG" and im.mode == "RGB"
        assert im.height == 256 and 280 <= im.width <= 380
        assert [im.width, im.height] == sizes[i]
    with Image.open(image_dir / df["image_path"][min(set(range(len(df))) - faulty)]) as im:
        assert JpegImagePlugin.get_sampling(im) == 2 and "progressive" not in im.info  # 4:2:0, baseline


def test_all_packages_have_the_real_sizes(tmp_path):
    info = msd.make_bioscan5m_root(tmp_path, n_rows=64, packages="all", faults=False)
    assert info["packages"] == list(msd.PACKAGES)
    df = pd.read_csv(tmp_path / META_5M, dtype=str, keep_default_na=False)
    for package in msd.PACKAGES:
        for i, (split, chunk, pid) in enumerate(zip(df["split"], df["chunk"], df["processid"])):
            rel = f"{split}/{chunk}/{pid}.jpg" if chunk else f"{split}/{pid}.jpg"
            im = _decode(tmp_path / "bioscan5m" / "images" / package / rel)
            w, h = im.size
            assert [w, h] == info["image_sizes"][package][i]
            if package == "original_256":
                assert (w, h) == (341, 256)
            elif package == "original_full":
                assert (w, h) == (1024, 768)
            elif package == "cropped":
                assert 500 <= min(w, h) <= 700 and max(w, h) <= 1.5 * min(w, h)
    assert len({tuple(s) for s in info["image_sizes"]["cropped"]}) > 10


# ------------------------------------------------------------------------------ BIOSCAN-1M


def test_1m_layout_and_peer_loader(root1m, peer):
    root, info = root1m
    rows = _raw(root / META_1M, "\t")
    assert rows[0] == list(msd.COLUMNS_1M)
    raw = pd.DataFrame(rows[1:], columns=rows[0])
    assert len(raw) == info["n_rows"] == 240
    assert (raw != "").all().all()  # missing taxa are "not_classified", never empty
    for col in msd.PARTITION_COLUMNS_1M:
        assert set(raw[col]) == {"train", "validation", "test", "no_split"}, col
    chunk_numbers = raw["chunk_number"].astype(int)
    assert 1 < chunk_numbers.nunique() <= 10 and chunk_numbers.between(1, 113).all()
    assert (raw["image_file"] == raw["processid"] + ".jpg").all()
    assert raw["sampleid"].str.isdigit().sum() >= 2 and raw["sampleid"].is_unique
    assert (raw["phylum"] == "Arthropoda").all() and set(raw["class"]) <= {"Insecta", NC}

    df = peer.load_bioscan1m_metadata(root / META_1M)
    assert len(df) == len(raw) and (df["clibd_split"].value_counts().to_dict() == info["rows_per_split"])
    faulty = set(info["faulty_rows"])
    sizes = info["image_sizes"]["cropped_256"]
    for i, (part, name) in enumerate(zip(df["chunk_number"], df["image_file"])):
        if i not in faulty:
            im = _decode(root / "bioscan1m" / "images" / "cropped_256" / f"part{part}" / name)
            assert im.height == 256 and [im.width, im.height] == sizes[i]


def test_1m_clibd_partitions(root1m, peer):
    root, info = root1m
    clibd = root / "bioscan1m" / "CLIBD_partitioning"
    assert sorted(p.stem for p in clibd.glob("*.txt")) == sorted(msd.CLIBD_FILES)
    files = {name: (clibd / f"{name}.txt").read_text().splitlines() for name in msd.CLIBD_FILES}
    assert {k: len(v) for k, v in files.items()} == info["clibd_files"]
    tsv_order = pd.read_csv(root / META_1M, sep="\t", dtype=str)["sampleid"].tolist()
    base = [s for name in msd.CLIBD_BASE_SPLITS for s in files[name]]
    assert sorted(base) == sorted(tsv_order)  # every row in exactly one partition
    assert all(files[name] for name in msd.CLIBD_FILES)
    assert sorted(files["all_keys"]) == sorted(
        files["seen_keys"] + files["val_unseen_keys"] + files["test_unseen_keys"]
    )
    assert sorted(files["no_split_and_seen_train"]) == sorted(files["no_split"] + files["train_seen"])
    position = {s: i for i, s in enumerate(tsv_order)}
    assert [position[s] for s in files["no_split"]] != sorted(position[s] for s in files["no_split"])

    path = root / META_1M
    for split, want in [
        ("train", files["train_seen"]),
        ("val_seen", files["val_seen"]),
        ("all_keys", files["all_keys"]),
        ("no_split_and_seen_train", files["no_split_and_seen_train"]),
        ("single_species", files["single_species"]),
    ]:
        df = peer.load_bioscan1m_metadata(path, partitioning_version="clibd", split=split)
        assert df["sampleid"].tolist() == want, split  # the file's order
        assert df["species"].notna().all() or split == "no_split_and_seen_train"
    df = peer.load_bioscan1m_metadata(path, partitioning_version="clibd", split="pretrain+train")
    assert sorted(df["sampleid"]) == sorted(files["no_split_and_seen_train"])
    single = peer.load_bioscan1m_metadata(path)["species"].value_counts()
    assert (
        single[
            peer.load_bioscan1m_metadata(path, partitioning_version="clibd", split="single_species")[
                "species"
            ]
        ]
        == 1
    ).all()


def test_1m_rows_exercise_the_peer_label_fixes(root1m, peer):
    root, info = root1m
    raw = pd.read_csv(root / META_1M, sep="\t", dtype=str, keep_default_na=False)
    nc = raw[["subfamily", "tribe", "genus", "species"]] == NC
    assert {"Asteia", "Nemorilla", "Philaenus"} <= set(raw["genus"])
    assert (nc["genus"] & ~nc["species"]).sum() >= 2
    assert (nc["tribe"] & ~nc["subfamily"] & ~nc["genus"]).any()
    assert (nc["tribe"] & nc["subfamily"] & ~nc["genus"]).any()
    assert (nc["subfamily"] & ~nc["tribe"]).any()
    assert (raw["subspecies"] != NC).sum() >= 1
    cases = info["label_fix_cases"]
    assert all(cases.values())
    df = peer.load_bioscan1m_metadata(root / META_1M)
    fixed_tribe = {"Asteia": "Asteiini", "Nemorilla": "Winthemiini", "Philaenus": "Philaenini"}
    for genus, tribe in fixed_tribe.items():
        rows = cases[f"tribe_{genus.lower()}"]
        assert (df.loc[rows, "tribe"] == tribe).all() and (raw.loc[rows, "tribe"] != tribe).all()
    assert (df.loc[cases["genus_from_species"], "genus"].notna()).all()
    assert df.loc[cases["tribe_from_subfamily"], "tribe"].astype(str).str.startswith("unassigned ").all()
    assert df.loc[cases["subfamily_placeholder"], "subfamily"].astype(str).str.startswith("unassigned ").all()
    assert not df["nucraw"].isna().any()


# ------------------------------------------------------------------------------ faults


@pytest.mark.parametrize("which", ["root5m", "root1m"])
def test_faults_are_listed_and_are_what_they_say(request, which):
    root, info = request.getfixturevalue(which)
    faults = info["faults"]
    assert sorted(f["kind"] for f in faults) == sorted(msd.FAULT_KINDS)
    assert sorted(f["row"] for f in faults) == info["faulty_rows"]
    assert {f["split"] for f in faults} == set(msd._FAULT_SPLITS[info["dataset"]])
    assert not {f["split"] for f in faults} & set(info["clean_splits"])
    for f in faults:
        path = root / f["path"]
        assert f["decodes"] == (f["kind"] in msd.DECODABLE_FAULTS)
        if f["kind"] == "missing":
            assert not path.exists()
            continue
        if f["kind"] == "zero_bytes":
            assert path.stat().st_size == 0
        if not f["decodes"]:
            with pytest.raises((OSError, UnidentifiedImageError)):
                _decode(path)
            continue
        im = _decode(path)
        assert (im.format, im.mode) == {
            "grayscale": ("JPEG", "L"),
            "cmyk": ("JPEG", "CMYK"),
            "png_named_jpg": ("PNG", "RGB"),
        }[f["kind"]]
        assert im.convert("RGB").size == tuple(info["image_sizes"][f["package"]][f["row"]])
    manifest = json.loads((root / info["dataset"] / msd.MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest == info


def test_no_faults_and_missing_barcodes(tmp_path):
    info = msd.make_bioscan1m_root(tmp_path, n_rows=64, faults=False, missing_barcodes=3)
    assert info["faults"] == [] and info["faulty_rows"] == [] and not info["faults_enabled"]
    assert None not in info["image_sizes"]["cropped_256"]
    raw = pd.read_csv(tmp_path / META_1M, sep="\t", dtype=str, keep_default_na=False)
    assert (raw["nucraw"] == "").sum() == 3 == len(info["barcode_cases"]["missing"])
    assert set(raw.loc[info["barcode_cases"]["missing"], "sampleid"]) <= set(
        (tmp_path / "bioscan1m/CLIBD_partitioning/no_split.txt").read_text().split()
    )


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 64"):
        msd.make_bioscan5m_root(tmp_path, n_rows=63)
    with pytest.raises(ValueError, match="cropped_256"):
        msd.make_bioscan1m_root(tmp_path, packages=("cropped_512",))
    with pytest.raises(ValueError, match="seed"):
        msd.make_bioscan5m_root(tmp_path, seed=-1)
    msd.make_bioscan5m_root(tmp_path, n_rows=64)
    with pytest.raises(FileExistsError, match="overwrite"):
        msd.make_bioscan5m_root(tmp_path, n_rows=64)
    assert msd.make_bioscan5m_root(tmp_path, n_rows=70, overwrite=True)["n_rows"] == 70


# ------------------------------------------------------------------------------ CLI


def test_cli_refuses_a_non_empty_directory_without_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    assert msd.main(["--out", str(out), "--rows", "64"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (
        msd.main(["--out", str(out), "--rows", "64", "--dataset", "both", "--overwrite", "--no-faults"]) == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["bioscan1m", "bioscan5m", "keep.txt"]
    # --overwrite replaces only the dataset folders it writes.
    (out / "bioscan5m" / "stale.txt").write_text("old")
    assert msd.main(["--out", str(out), "--rows", "66", "--overwrite"]) == 0
    assert not (out / "bioscan5m" / "stale.txt").exists() and (out / "bioscan1m").is_dir()
    assert json.loads((out / "bioscan5m" / msd.MANIFEST_NAME).read_text())["n_rows"] == 66
    with pytest.raises(SystemExit):
        msd.main(["--out", str(tmp_path / "new"), "--packages", "cropped_256,bogus"])
    capsys.readouterr()


@pytest.mark.subprocess
def test_cli_runs_as_a_script(tmp_path):
    cmd = [
        sys.executable,
        str(TOOLS / "make_sample_data.py"),
        "--out",
        str(tmp_path),
        "--dataset",
        "bioscan1m",
    ]
    done = subprocess.run(
        [*cmd, "--rows", "64", "--packages", "original_256"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "bioscan1m" in done.stderr and (tmp_path / META_1M).is_file()
    assert (tmp_path / "bioscan1m" / "images" / "original_256").is_dir()
    again = subprocess.run([*cmd, "--rows", "64"], capture_output=True, text=True)
    assert again.returncode == 2 and "--overwrite" in again.stderr
