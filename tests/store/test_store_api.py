"""The store API (:func:`bioscan_h5.open_store` / :class:`bioscan_h5.Store`) against the peer's
view of the same metadata (issue 3)."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bioscan_h5 import Store, StoreFormatError, StoreNotFoundError, open_store
from bioscan_h5.format import ImageStatus
from tests.helpers.dataset import ALL_SPLITS, RANKS, assert_frames_match, column_values, norm, peer_image


@pytest.fixture
def st(store_5m):
    with open_store(store_5m) as store:
        yield store


def test_len_shape_and_memory_map(st, sample_root_5m):
    assert len(st) == st.n_rows == sample_root_5m.n_rows
    assert isinstance(st.images, np.memmap) and st.memory_mapped
    assert st.images.shape == (len(st), 256, 256, 3) and st.images.dtype == np.uint8
    assert not st.images.flags.writeable
    assert repr(st).startswith("<Store 'bioscan5m_cropped_256_256px.h5': bioscan5m, 320 rows")


def test_images_are_the_resized_sources(st, sample_root_5m):
    for row in (0, 17, 150, len(st) - 1):
        if row in sample_root_5m.undecodable_rows:
            continue
        with Image.open(sample_root_5m.image_path(row)) as src:
            assert np.array_equal(st.images[row], peer_image(src)), row
    rows = np.array([300, 2, 150])
    assert np.array_equal(st.images[rows], np.stack([st.images[r] for r in rows]))


def test_image_status_and_ok(st, sample_root_5m):
    expected = {"zero_bytes": ImageStatus.EMPTY, "missing": ImageStatus.MISSING}
    expected |= {"truncated": ImageStatus.UNDECODABLE, "not_an_image": ImageStatus.UNDECODABLE}
    for f in sample_root_5m.faults():
        want = expected.get(f["kind"], ImageStatus.OK)
        assert st.image_status[f["row"]] == want, f
    ok = np.ones(len(st), dtype=bool)
    ok[sample_root_5m.undecodable_rows] = False
    assert np.array_equal(st.image_ok, ok)
    assert not st.images[sample_root_5m.undecodable_rows].any()  # bad rows read as zeros


def test_labels_and_vocab_equal_the_peers_indices(st, sample_root_5m):
    frame = sample_root_5m.peer_frame
    assert list(st.labels) == list(RANKS) and list(st.vocab) == list(RANKS)
    for rank in RANKS:
        assert np.array_equal(st.labels[rank], frame[f"{rank}_index"].to_numpy()), rank
        assert st.vocab[rank] == list(frame[rank].cat.categories), rank
        names = [st.vocab[rank][c] if c >= 0 else "" for c in st.labels[rank]]
        assert names == [v if isinstance(v, str) else "" for v in frame[rank].astype(object)]
    with pytest.raises(KeyError):
        st.labels["kingdom"]


@pytest.mark.parametrize("split", ALL_SPLITS)
def test_indices(st, sample_root_5m, split):
    from bioscan_dataset.bioscan5m import explode_metasplit

    frame = sample_root_5m.peer_frame
    want = np.flatnonzero(frame["split"].isin(explode_metasplit(split)).to_numpy())
    got = st.indices(split)
    assert got.dtype == np.int64 and np.array_equal(got, want)


def test_indices_invalid(st):
    with pytest.raises(ValueError, match="Invalid split name 'training'"):
        st.indices("training")
    assert np.array_equal(st.indices(), np.arange(len(st)))


def test_barcodes(st, sample_root_5m, full_store_5m):
    frame = sample_root_5m.peer_frame  # whole barcodes
    rows = np.array([5, 0, 92, 123, 300])
    assert st.barcodes(rows) == [b[:660] for b in frame["dna_barcode"].iloc[rows]]
    assert st.barcodes(rows, max_nucleotides=20) == [b[:20] for b in frame["dna_barcode"].iloc[rows]]
    with open_store(full_store_5m) as full:
        assert full.max_nucleotides is None and st.max_nucleotides == 660
        assert full.barcodes() == frame["dna_barcode"].tolist()
    assert len(st.barcodes()) == len(st)


def test_missing_barcodes_are_nan(make_root, build_store, tmp_path):
    root = make_root(n_rows=96, missing_barcodes=2)
    with open_store(build_store(root, no_images=True, out=tmp_path / "m.h5").store) as st:
        bcs = st.barcodes()
        assert sum(isinstance(b, float) and np.isnan(b) for b in bcs) == 2
        assert int((st.dna_lengths < 0).sum()) == 2


def test_to_pandas(st, sample_root_5m):
    frame = sample_root_5m.peer_frame
    rows = np.array([3, 1, 4, 1, 5, 9, 260])
    cols = [
        "processid",
        "species",
        "coord-lat",
        "inferred_ranks",
        "index_bioscan_1M_insect",
        "chunk",
        "split",
    ]
    df = st.to_pandas(cols, rows)
    assert list(df.columns) == cols and list(df.index) == rows.tolist()
    for c in cols:
        assert column_values(df[c]) == column_values(frame[c].iloc[rows]), c
    assert isinstance(df["species"].dtype, pd.CategoricalDtype)
    assert list(df["species"].cat.categories) == list(frame["species"].cat.categories)
    assert df["species"].cat.codes.tolist() == frame["species_index"].iloc[rows].tolist()
    whole = st.to_pandas()
    assert len(whole) == len(st) and "dna_barcode" in whole.columns
    shared = [c for c in frame.columns if c in whole.columns and c != "dna_barcode"]
    assert_frames_match(whole, frame, shared)
    with pytest.raises(KeyError, match=r"No column 'colour' in the store\. Valid columns are: .*'processid'"):
        st.to_pandas(["colour"])


def test_column_values(st, sample_root_5m):
    frame = sample_root_5m.peer_frame
    rows = [0, 7, 8]
    for c in ("sampleid", "taxon", "coord-lon", "inferred_ranks", "index_bioscan_1M_insect", "country"):
        assert norm(list(st.column_values(c, rows))) == column_values(frame[c].iloc[rows]), c


def test_info(st, sample_root_5m):
    info = st.info()
    m = sample_root_5m.manifest
    assert info["rows"] == len(st) and info["dataset"] == "bioscan5m" and info["format_version"] == 2
    assert info["image_shape"] == [256, 256, 3] and info["memory_mapped"] and info["compression"] is None
    assert {k: v["rows"] for k, v in info["rows_per_split"].items()} == m["rows_per_split"]
    assert info["bad_images"] == len(m["undecodable_rows"])
    assert info["images"]["ok"] == len(st) - len(m["undecodable_rows"]) and info["images"]["pending"] == 0
    assert info["max_nucleotides"] == 660 and info["complete"] is True
    frame = sample_root_5m.peer_frame
    for rank in RANKS:
        assert info["labelled_fraction"][rank] == pytest.approx(frame[rank].notna().mean(), abs=1e-4)


def test_context_manager_closes(store_5m):
    with open_store(store_5m) as st:
        f = st.file
        imgs = st.images
        assert f.id.valid
    assert not f.id.valid
    assert imgs[0].shape == (256, 256, 3)  # arrays already returned stay valid


def test_pickle_round_trip(st):
    st.labels["species"]
    blob = pickle.dumps(st)
    assert len(blob) < 1000
    again = pickle.loads(blob)  # noqa: S301 - our own object
    with again:
        assert again.path == st.path and len(again) == len(st)
        assert np.array_equal(again.labels["genus"], st.labels["genus"])
        assert np.array_equal(again.images[10], st.images[10])
        assert again.file.mode == "r"


def test_compressed_store_images_go_through_h5py(lzf_store, store_5m):
    with open_store(lzf_store) as lzf, open_store(store_5m) as plain:
        assert isinstance(lzf.images, h5py.Dataset) and not lzf.memory_mapped
        assert lzf.images.compression == "lzf"
        assert np.array_equal(lzf.images[7], plain.images[7])
        assert np.array_equal(lzf.image_status, plain.image_status)
        assert lzf.info()["memory_mapped"] is False


def test_open_errors(tmp_path):
    with pytest.raises(StoreNotFoundError, match="No store file at") as e:
        open_store(tmp_path / "nope.h5")
    assert isinstance(e.value, FileNotFoundError)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(StoreFormatError, match="not a bioscan-h5 store"):
        Store(other)


def test_a_store_renamed_over_keeps_nothing_of_the_old_file(sample_root_5m, build_store, tmp_path):
    """A store replaced by another of the same shape (an extension renames its new file over the
    old one) is read from the new file only: barcodes, their tail and longest length included."""
    import os

    short = build_store(
        sample_root_5m, out=tmp_path / "s.h5", no_images=True, max_nucleotides=8, full_barcodes=False
    )
    build_store(sample_root_5m, out=tmp_path / "w.h5", no_images=True)
    store = Store(short.store)
    assert store.dna_tail is None and not store.full_barcodes
    before = store.barcodes()
    store.close()
    os.replace(tmp_path / "w.h5", tmp_path / "s.h5")
    reference = build_store(sample_root_5m, out=tmp_path / "r.h5", no_images=True)
    fresh = Store(reference.store)
    assert store.full_barcodes and store.dna_tail is not None
    assert store.longest_barcode == fresh.longest_barcode
    assert store.barcodes(whole=True) == fresh.barcodes(whole=True) != before
    store.close()
    fresh.close()
