"""The store format (version 2): layout, dtypes, attributes, peer-identical labels and values,
refusal of damaged / foreign / newer files, and the golden store of version 1."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from bioscan_h5 import format as fmt
from bioscan_h5.errors import (
    BioscanH5Error,
    StoreFormatError,
    StoreIncompleteError,
    StoreNotFoundError,
    StoreVersionError,
)
from bioscan_h5.format import ImageStatus
from bioscan_h5.layouts import BIOSCAN5M_RANKS, BIOSCAN5M_SCHEMA, BIOSCAN5M_SPLITS
from bioscan_h5.store import Store, open_store

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_v2.h5"
GOLDEN_EXPECTED = GOLDEN.with_suffix(".json")


@pytest.fixture(scope="module")
def small_store(sample_root_5m, build_store, tmp_path_factory) -> Path:
    """A 16 px store of the shared root, to copy and damage."""
    out = tmp_path_factory.mktemp("small") / "small.h5"
    build_store(sample_root_5m, image_size=16, out=out, workers=1)
    return out


@pytest.fixture
def damaged(small_store, tmp_path):
    """Copy the small store, let the test change it with h5py, return the copy's path."""

    def make(change) -> Path:
        path = tmp_path / "damaged.h5"
        shutil.copyfile(small_store, path)
        with h5py.File(path, "r+") as f:
            change(f)
        return path

    return make


# ------------------------------------------------------------------------------ layout
def test_every_dataset_has_its_documented_dtype_and_shape(store_5m, sample_root_5m):
    n = sample_root_5m.n_rows
    with h5py.File(store_5m, "r", locking=False) as f:
        for name, (kind, shape) in fmt.expected_datasets(BIOSCAN5M_SCHEMA, n, 256).items():
            d = f[name]
            if kind == "O":
                assert h5py.check_string_dtype(d.dtype).encoding == "utf-8", name
            elif kind == "S":
                assert d.dtype.kind == "S", name
            else:
                assert d.dtype == np.dtype(kind), name
            assert len(d.shape) == len(shape)
            assert all(s is None or s == t for s, t in zip(shape, d.shape)), name
        assert f[fmt.IMAGES].chunks is None  # format 2: one contiguous block (format 1: a chunk a row)
        assert f[fmt.IMAGES].compression is None
        assert f[fmt.DNA_CODES].shape == (n, fmt.DEFAULT_MAX_NUCLEOTIDES)
        for name in (fmt.IMAGE_STATUS, fmt.IMAGE_SOURCE_SIZE, fmt.DNA_CODES, fmt.DNA_LENGTHS):
            assert f[name].chunks is None, f"{name} should be contiguous (memory-mappable)"
        # One group per metadata column (the barcode aside), each with its kind.
        header = [c for c in make_columns(sample_root_5m) if c != "dna_barcode"]
        assert sorted(f[fmt.COLUMNS]) == sorted(header)
        for name in header:
            assert f[fmt.COLUMNS][name].attrs["kind"] == BIOSCAN5M_SCHEMA.column(name).kind.value


def make_columns(root) -> list[str]:
    return list(pd.read_csv(root.metadata, nrows=0).columns)


def test_root_attributes(store_5m, sample_root_5m):
    with h5py.File(store_5m, "r", locking=False) as f:
        a = dict(f.attrs)
    assert set(fmt.ROOT_ATTRS) <= set(a)
    assert a[fmt.ATTR_FORMAT] == fmt.FORMAT_NAME
    assert a[fmt.ATTR_VERSION] == fmt.FORMAT_VERSION == 2
    assert a[fmt.ATTR_DATASET] == "bioscan5m"
    assert a[fmt.ATTR_IMAGE_PACKAGE] == "cropped_256"
    assert a[fmt.ATTR_IMAGE_SIZE] == 256
    assert a[fmt.ATTR_FIT] == "crop"
    assert a[fmt.ATTR_RESIZE_FILTER] == "bilinear"
    assert a[fmt.ATTR_MAX_NUCLEOTIDES] == 660
    assert a[fmt.ATTR_N_ROWS] == sample_root_5m.n_rows
    assert bool(a[fmt.ATTR_COMPLETE]) and bool(a[fmt.ATTR_METADATA_WRITTEN])
    assert a[fmt.ATTR_COMPRESSION] == ""
    assert json.loads(a[fmt.ATTR_SPLITS_BUILT]) == sorted(BIOSCAN5M_SPLITS)
    assert json.loads(a[fmt.ATTR_SOURCE_COLUMNS]) == make_columns(sample_root_5m)
    source = json.loads(a[fmt.ATTR_SOURCE])
    assert source["name"] == sample_root_5m.metadata.name
    assert source["size"] == sample_root_5m.metadata.stat().st_size
    assert len(source["sha256"]) == 64
    args = json.loads(a[fmt.ATTR_BUILD_ARGS])
    assert args["image_size"] == 256 and args["fit"] == "crop" and args["compression"] is None
    counts = json.loads(a[fmt.ATTR_COUNTS])
    assert set(counts) == {s.name for s in ImageStatus}
    assert sum(counts.values()) == sample_root_5m.n_rows


def test_pixels_are_one_memory_mappable_block(store_5m):
    with h5py.File(store_5m, "r", locking=False) as f:
        off = int(f.attrs[fmt.ATTR_PIXEL_OFFSET])
        d = f[fmt.IMAGES]
        n, s = d.shape[0], d.shape[1]
        assert d.id.get_offset() == off  # format 2: one contiguous dataset, no chunk offsets
        assert d.id.get_storage_size() == n * s * s * 3
        expect = d[[0, n // 2, n - 1]]
    raw = np.memmap(store_5m, dtype=np.uint8, mode="r", offset=off, shape=(n, s, s, 3))
    assert np.array_equal(raw[[0, n // 2, n - 1]], expect)
    with open_store(store_5m) as st:
        assert st.memory_mapped
        assert isinstance(st.images, np.memmap)


def test_rows_are_the_metadata_rows_in_file_order(store_5m, sample_root_5m):
    peer = sample_root_5m.peer_frame
    with open_store(store_5m) as st:
        assert len(st) == len(peer) == sample_root_5m.n_rows
        assert list(st.column_values("processid")) == list(peer["processid"])
        assert list(st.column_values("sampleid")) == list(peer["sampleid"])


# ------------------------------------------------------------------------------ peer-identical values
def test_label_indices_and_vocabularies_equal_the_peer(store_5m, sample_root_5m):
    peer = sample_root_5m.peer_frame
    with open_store(store_5m) as st:
        for rank in BIOSCAN5M_RANKS:
            assert list(st.vocab[rank]) == list(peer[rank].cat.categories), rank
            assert np.array_equal(st.labels[rank], peer[f"{rank}_index"].to_numpy()), rank
            assert st.labels[rank].dtype == np.int32
        # Label indices are global: the same label has the same index in every split.
        for split in ("train", "val", "key_unseen"):
            rows = st.indices(split)
            sub = peer.loc[peer["split"] == split]
            assert np.array_equal(rows, sub.index.to_numpy())
            assert np.array_equal(st.labels["species"][rows], sub["species_index"].to_numpy())
        for name in ("taxon", "country", "province_state"):
            assert st.categories(name) == list(peer[name].cat.categories), name
            assert np.array_equal(st.codes(name), peer[name].cat.codes.to_numpy()), name


def test_missing_labels_are_minus_one(store_5m, sample_root_5m):
    peer = sample_root_5m.peer_frame
    with open_store(store_5m) as st:
        for rank in ("class", "species", "dna_bin"):
            missing = peer[rank].isna().to_numpy()
            assert missing.any(), f"the sample root should have rows without {rank}"
            assert (st.labels[rank][missing] == fmt.MISSING_CODE).all()
            assert (st.labels[rank][~missing] >= 0).all()


def test_every_column_value_equals_the_peer(store_5m, sample_root_5m):
    peer = sample_root_5m.peer_frame
    with open_store(store_5m) as st:
        df = st.to_pandas()
    for name in ("coord-lat", "coord-lon", "image_measurement_value", "area_fraction", "scale_factor"):
        assert df[name].dtype == np.float64
        np.testing.assert_array_equal(df[name].to_numpy(), peer[name].to_numpy(), err_msg=name)
    for name in ("inferred_ranks", "index_bioscan_1M_insect"):
        ours = df[name].astype("Int64")
        theirs = peer[name].astype("Int64")
        assert ours.isna().tolist() == theirs.isna().tolist(), name
        assert ours.fillna(-1).tolist() == theirs.fillna(-1).tolist(), name
    assert df["index_bioscan_1M_insect"].isna().any() and df["index_bioscan_1M_insect"].notna().any()
    for name in ("processid", "sampleid", "chunk", "split"):
        ours = [None if pd.isna(v) else str(v) for v in df[name]]
        theirs = [None if pd.isna(v) else str(v) for v in peer[name]]
        assert ours == theirs, name
    # Chunk names are read as text: "0f" and "5" stay as they are.
    assert any(c is not None and len(c) == 2 for c in df["chunk"] if not pd.isna(c))


def test_barcodes_equal_the_peer_truncated_and_whole(store_5m, sample_root_5m):
    peer = sample_root_5m.peer_frame
    full = peer["dna_barcode"]
    with open_store(store_5m) as st:
        assert st.max_nucleotides == 660
        got = st.barcodes()
        lengths, full_lengths = np.asarray(st.dna_lengths), np.asarray(st.dna_full_lengths)
        got_200 = st.barcodes(max_nucleotides=200)
    for i, value in enumerate(full):
        if pd.isna(value):
            assert pd.isna(got[i]) and lengths[i] == -1 and full_lengths[i] == -1
        else:
            assert got[i] == value[:660]
            assert got_200[i] == value[:200]
            assert full_lengths[i] == len(value) and lengths[i] == min(len(value), 660)
    assert (full_lengths > 660).any(), "the sample root has barcodes longer than 660"


def test_image_status_and_source_sizes(store_5m, sample_root_5m):
    sizes = sample_root_5m.manifest["image_sizes"]["cropped_256"]
    bad = set(sample_root_5m.undecodable_rows)
    with open_store(store_5m) as st:
        status = np.asarray(st.image_status)
        src = np.asarray(st.image_source_size)
        for row in range(sample_root_5m.n_rows):
            if row in bad:
                assert status[row] > ImageStatus.OK
                assert tuple(src[row]) == (0, 0)
                assert not st.images[row].any(), "a bad row's pixels read as zeros"
            else:
                assert status[row] == ImageStatus.OK
                assert list(src[row]) == sizes[row]
        assert np.array_equal(st.image_ok, status == ImageStatus.OK)


def test_metasplit_rows(store_5m, sample_root_5m):
    split = sample_root_5m.peer_frame["split"].to_numpy()
    with open_store(store_5m) as st:
        for name, members in (
            ("pretrain+train", {"pretrain", "train"}),
            ("seen", {"train", "val", "test"}),
            ("unseen", {"key_unseen", "val_unseen", "test_unseen"}),
            ("validation", {"val"}),
            ("all", set(BIOSCAN5M_SPLITS)),
        ):
            assert np.array_equal(st.indices(name), np.flatnonzero(np.isin(split, list(members)))), name
        with pytest.raises(ValueError, match="'nope'"):
            st.indices("nope")


# ------------------------------------------------------------------------------ small pieces of the format
def test_names_and_paths():
    assert fmt.store_filename("bioscan5m", "cropped_256", 256) == "bioscan5m_cropped_256_256px.h5"
    assert (
        fmt.store_filename("bioscan5m", "original_full", 512, "pad") == "bioscan5m_original_full_512px_pad.h5"
    )
    p = fmt.default_store_path("/data", "bioscan5m", "cropped_256", 128)
    assert p == "/data/bioscan5m/h5/bioscan5m_cropped_256_128px.h5"
    assert fmt.store_dir("/data", "bioscan1m") == "/data/bioscan1m/h5"
    assert fmt.partial_path(p) == p + ".partial"
    assert fmt.lock_path(p) == p + ".lock"
    assert fmt.report_path(p) == p + ".report.json"
    assert fmt.column_path("species", "codes") == "columns/species/codes"
    assert fmt.token_path("clibd", "ids") == "tokens/clibd/ids"


def test_every_status_has_a_reason():
    assert [s.value for s in ImageStatus] == list(range(len(ImageStatus)))
    assert ImageStatus.PENDING == 0 and ImageStatus.OK == 1
    reasons = [s.reason for s in ImageStatus]
    assert all(reasons) and len(set(reasons)) == len(reasons)


def test_schema_lists_every_5m_column_in_file_order(sample_root_5m):
    header = make_columns(sample_root_5m)
    assert list(BIOSCAN5M_SCHEMA.column_names) == [c for c in header if c != "dna_barcode"]
    assert BIOSCAN5M_SCHEMA.ranks == BIOSCAN5M_RANKS
    with pytest.raises(KeyError):
        BIOSCAN5M_SCHEMA.column("nope")


# ------------------------------------------------------------------------------ opening and refusing
def test_store_pickles_as_its_path(store_5m):
    with open_store(store_5m) as st:
        blob = pickle.dumps(st)
        assert len(blob) < 1000
        again = pickle.loads(blob)  # noqa: S301 - our own object
    with again:
        assert again.path == str(store_5m)
        assert np.array_equal(again.labels["genus"], open_store(store_5m).labels["genus"])
        assert "bioscan5m" in repr(again)


def test_missing_store(tmp_path):
    path = tmp_path / "nope.h5"
    with pytest.raises(StoreNotFoundError, match="bioscan-h5 build") as info:
        open_store(path)
    assert isinstance(info.value, FileNotFoundError)
    (tmp_path / "nope.h5.partial").write_bytes(b"")
    with pytest.raises(StoreNotFoundError, match="interrupted"):
        open_store(path)


def test_not_hdf5(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"this is not HDF5" * 100)
    with pytest.raises(StoreFormatError, match="not a readable HDF5 file") as info:
        open_store(path)
    assert isinstance(info.value, ValueError) and isinstance(info.value, BioscanH5Error)


def test_foreign_hdf5_file(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 4, 4, 3), np.uint8)
    with pytest.raises(StoreFormatError, match="not a bioscan-h5 store"):
        open_store(path)


def test_newer_format_version_is_refused(damaged):
    path = damaged(lambda f: f.attrs.__setitem__(fmt.ATTR_VERSION, fmt.FORMAT_VERSION + 1))
    with pytest.raises(StoreVersionError, match=f"version {fmt.FORMAT_VERSION + 1}.*Upgrade"):
        open_store(path)


def test_invalid_format_version(damaged):
    path = damaged(lambda f: f.attrs.__setitem__(fmt.ATTR_VERSION, 0))
    with pytest.raises(StoreFormatError, match="invalid format version"):
        open_store(path)


def test_incomplete_store(damaged):
    path = damaged(lambda f: f.attrs.__setitem__(fmt.ATTR_COMPLETE, False))
    with pytest.raises(StoreIncompleteError, match="incomplete"):
        open_store(path)
    with open_store(path, allow_incomplete=True) as st:
        assert st.info()["complete"] is False


def test_missing_dataset(damaged):
    path = damaged(lambda f: f.__delitem__(fmt.DNA_LENGTHS))
    with pytest.raises(StoreFormatError, match=r"'dna/lengths' is missing.*--overwrite"):
        open_store(path)


def test_wrong_dtype_or_shape(damaged):
    def change(f):
        del f[fmt.IMAGE_STATUS]
        f[fmt.IMAGE_STATUS] = np.zeros(3, np.int64)

    with pytest.raises(StoreFormatError, match="'image_status' has dtype int64"):
        open_store(damaged(change))


def test_unknown_dataset_name(damaged):
    path = damaged(lambda f: f.attrs.__setitem__(fmt.ATTR_DATASET, "bioscan9m"))
    with pytest.raises(StoreFormatError, match="bioscan9m"):
        open_store(path)


def test_links_to_outside_data_are_refused(damaged, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    path = damaged(lambda f: f.__setitem__("extra", h5py.ExternalLink(str(other), "x")))
    with pytest.raises(StoreFormatError, match="link"):
        open_store(path)


def test_store_reads_after_fork_and_close(store_5m):
    st = Store(store_5m)
    first = np.array(st.images[3])
    st.close()
    assert np.array_equal(np.asarray(st.file[fmt.IMAGES][3]), first)  # reopens lazily
    st.close()


# ------------------------------------------------------------------------------ golden store
def test_a_format_1_store_is_refused_naming_the_rebuild_command(tmp_path):
    copy = tmp_path / "v1.h5"
    shutil.copyfile(GOLDEN, copy)
    with h5py.File(copy, "r+") as f:
        del f[fmt.CHECKSUMS]
        f.attrs[fmt.ATTR_VERSION] = 1
    with pytest.raises(
        StoreVersionError,
        match=r"format version 1, which this bioscan-h5 no longer reads.*`bioscan-h5 build --overwrite`",
    ):
        open_store(copy)


def test_golden_v2_store_still_opens():
    """A store written by format version 2 (tests/store/data/make_golden.py) must keep reading."""
    expected = json.loads(GOLDEN_EXPECTED.read_text(encoding="utf-8"))
    assert GOLDEN.stat().st_size < 200_000
    with open_store(GOLDEN) as st:
        assert st.attrs[fmt.ATTR_VERSION] == 2
        assert st.dataset == "bioscan5m"
        assert len(st) == expected["n_rows"]
        assert st.image_size == expected["image_size"]
        assert st.memory_mapped
        assert list(st.column_values("processid")) == expected["processid"]
        for rank, codes in expected["labels"].items():
            assert st.labels[rank].tolist() == codes, rank
            assert st.vocab[rank] == expected["vocab"][rank], rank
        assert st.image_status.tolist() == expected["image_status"]
        assert st.image_source_size.tolist() == expected["image_source_size"]
        got = st.barcodes()
        assert [None if pd.isna(b) else b for b in got] == expected["barcodes"]
        assert st.dna_full_lengths.tolist() == expected["dna_full_lengths"]
        for split, rows in expected["rows_per_split"].items():
            assert st.indices(split).tolist() == rows, split
        images = np.asarray(st.images)
        assert images.shape == (expected["n_rows"], expected["image_size"], expected["image_size"], 3)
        assert images.reshape(len(images), -1).sum(axis=1).tolist() == expected["pixel_sums"]
        assert images[expected["probe_row"]].tolist() == expected["probe_pixels"]
        df = st.to_pandas(["coord-lat", "index_bioscan_1M_insect", "chunk"])
        for name in ("coord-lat", "index_bioscan_1M_insect", "chunk"):
            got = [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in df[name]]
            assert got == expected["columns"][name], name
