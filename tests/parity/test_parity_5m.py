"""Parity of :class:`bioscan_h5.BIOSCAN5M` with ``bioscan_dataset.BIOSCAN5M`` 1.3.0 (issue 3).

Both read the same generated root (``sample_root_5m``): ours through its store, the peer
through the CSV and the JPEG files. Documented differences, and nothing else, are allowed:
our images are ``Resize(256)`` + ``CenterCrop(256)`` of the peer's (RGB); our label indices
and numbers are Python ints/floats where the peer returns numpy scalars (values compared);
missing values are NaN in both (pd.NA where the peer's column is nullable).
"""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path

import bioscan_dataset
import numpy as np
import pandas as pd
import pytest

from bioscan_h5 import BIOSCAN5M, load_bioscan5m_metadata
from tests.helpers.dataset import (
    ALL_SPLITS,
    BASE_SPLITS,
    RANKS,
    Peer,
    assert_frames_match,
    column_values,
    norm,
    peer_image,
)

pytestmark = pytest.mark.parity

#: Modalities both serve, besides the image: the barcode and a mix of column kinds.
COLUMNS = ("dna", "processid", "coord-lat", "country", "province_state", "chunk", "image_measurement_value")
#: The peer's metadata columns that are not in its CSV.
DERIVED = (*(f"{r}_index" for r in RANKS), "image_path")


def _ours(root, store=None, **kw) -> BIOSCAN5M:
    return BIOSCAN5M(str(root.root), store=store, build=False, **kw)


def _assert_samples_equal(ours, peer, *, image: bool = False) -> None:
    assert len(ours) == len(peer)
    for i in range(len(peer)):
        a, b = peer[i], ours[i]
        if image:
            if isinstance(a, dict):
                ia, ib = a.pop("image"), b.pop("image")
            else:
                ia, ib, a, b = a[0], b[0], a[1:], b[1:]
            assert np.array_equal(np.asarray(ib), peer_image(ia)), f"image of sample {i}"
            ia.close()
        assert norm(b) == norm(a), f"sample {i}"


# ----------------------------------------------------------------------------- splits and rows
@pytest.mark.parametrize("split", ALL_SPLITS)
def test_split_rows_and_samples_match(sample_root_5m, store_5m, peer_factory, split):
    """len, row order and every value of every sample, for every split and metasplit."""
    kw = dict(split=split, modality=COLUMNS, target_type=["genus", "species"])
    peer, ours = peer_factory(**kw), _ours(sample_root_5m, **kw)
    assert len(ours) == len(peer) > 0
    assert list(ours.metadata.index) == list(peer.metadata.index)
    _assert_samples_equal(ours, peer)


@pytest.mark.parametrize(
    ("output_format", "target_format", "reduce", "max_nucleotides"),
    list(itertools.product(("tuple", "dict"), ("index", "text"), (False, True), (660, 100, None, 700))),
)
def test_every_setting_matches(
    sample_root_5m,
    store_5m,
    full_store_5m,
    peer_factory,
    output_format,
    target_format,
    reduce,
    max_nucleotides,
):
    """Every combination of output format, target format, de-duplication and truncation."""
    split = "pretrain+val" if reduce else "seen"
    kw = dict(
        split=split,
        modality=COLUMNS,
        target_type=["family", "species", "dna_bin"],
        target_format=target_format,
        output_format=output_format,
        reduce_repeated_barcodes=reduce,
        max_nucleotides=max_nucleotides,
    )
    # the default store keeps 660 letters: longer settings read the whole-barcode store
    store = full_store_5m if max_nucleotides is None or max_nucleotides > 660 else None
    _assert_samples_equal(_ours(sample_root_5m, store=store, **kw), peer_factory(**kw))


@pytest.mark.parametrize("split", [*BASE_SPLITS, "validation"])
@pytest.mark.parametrize("output_format", ["tuple", "dict"])
def test_images_match_resized_peer_images(sample_root_5m, store_5m, peer_factory, split, output_format):
    """Pixels equal torchvision Resize(256) + CenterCrop(256) of the peer's image (bad files skipped)."""
    kw = dict(split=split, output_format=output_format, target_type=["species"])
    peer, ours = peer_factory(**kw), _ours(sample_root_5m, **kw)
    bad = set(sample_root_5m.undecodable_rows)
    keep = [i for i, r in enumerate(ours.rows) if r not in bad]
    assert len(ours) == len(peer) and keep
    for i in keep:
        a, b = peer[i], ours[i]
        ia, ib = (a.pop("image"), b.pop("image")) if output_format == "dict" else (a[0], b[0])
        assert ib.mode == "RGB" and ib.size == (256, 256)
        assert np.array_equal(np.asarray(ib), peer_image(ia)), f"{split} sample {i}"
        ia.close()
        assert norm(b if output_format == "dict" else b[1:]) == norm(a if output_format == "dict" else a[1:])


def test_dict_output_has_the_peers_keys(sample_root_5m, store_5m, peer_factory):
    kw = dict(
        split="train",
        output_format="dict",
        target_type=["order", "species"],
        modality=("image", "dna", "country"),
    )
    a, b = peer_factory(**kw)[3], _ours(sample_root_5m, **kw)[3]
    a["image"].close()
    assert list(b) == list(a)
    assert list(b) == [
        "image",
        "dna",
        "country",
        "order",
        "order_index",
        "species",
        "species_index",
        "target",
    ]


@pytest.mark.parametrize("split", ["pretrain", "test", "all", "pretrain+train", "unseen"])
@pytest.mark.parametrize("max_nucleotides", [660, 30, None])
def test_reduce_repeated_barcodes_keeps_the_peers_rows(
    sample_root_5m, store_5m, full_store_5m, peer_factory, split, max_nucleotides
):
    kw = dict(
        split=split, modality=("processid",), reduce_repeated_barcodes=True, max_nucleotides=max_nucleotides
    )
    store = full_store_5m if max_nucleotides is None else None
    ours, peer = _ours(sample_root_5m, store=store, **kw), peer_factory(**kw)
    assert [s[0] for s in (ours[i] for i in range(len(ours)))] == peer.metadata["processid"].tolist()
    assert list(ours.metadata.index) == list(peer.metadata.index)


def test_reduce_depends_on_truncation(sample_root_5m, store_5m, full_store_5m):
    """The sample root has barcodes that differ only after letter 660: the tests above can fail."""
    cases = sample_root_5m.manifest["barcode_cases"]["duplicate_beyond_660"]
    assert cases
    kw = dict(split="all", modality=(), reduce_repeated_barcodes=True)
    at_660 = set(_ours(sample_root_5m, **kw).rows)
    whole = set(_ours(sample_root_5m, store=full_store_5m, max_nucleotides=None, **kw).rows)
    assert len(whole) > len(at_660)
    assert any(a not in at_660 or b not in at_660 for a, b in cases)


# ----------------------------------------------------------------------------- split names
@pytest.mark.parametrize("bad", ["foo", "Train", "", "train+foo", "val+unseen+nope", "seen+"])
def test_invalid_split_names_raise_like_the_peer(sample_root_5m, store_5m, bad):
    with pytest.raises(ValueError) as peer_err:
        Peer(str(sample_root_5m.root), split=bad)
    with pytest.raises(ValueError) as ours_err:
        _ours(sample_root_5m, split=bad)
    assert str(ours_err.value) == str(peer_err.value)


def test_several_invalid_split_names(sample_root_5m, store_5m):
    with pytest.raises(
        ValueError, match=r"Invalid split names .* within requested metasplit 'train\+foo\+bar'"
    ) as e:
        _ours(sample_root_5m, split="train+foo+bar")
    assert "'foo'" in str(e.value) and "'bar'" in str(e.value) and "'other_heldout'" in str(e.value)


def test_validation_alias(sample_root_5m, store_5m):
    ds = _ours(sample_root_5m, split="validation", modality=())
    assert ds.split == "val"
    assert list(ds.rows) == list(sample_root_5m.split_rows("val"))


# ----------------------------------------------------------------------------- modalities
def test_every_peer_column_as_modality(sample_root_5m, store_5m, peer_factory):
    """Every column the peer can serve, including its derived <rank>_index and image_path."""
    peer = peer_factory(split="all", target_type=[])
    mods = [c for c in peer.metadata.columns]
    assert set(DERIVED) <= set(mods)
    kw = dict(split="all", modality=mods, target_type=[], output_format="dict")
    ours, peer = _ours(sample_root_5m, **kw), peer_factory(**kw)
    for i in range(0, len(peer), 7):
        assert norm(ours[i]) == norm(peer[i]), i


@pytest.mark.parametrize("column", ["sampleid", "taxon", "inferred_ranks", "index_bioscan_1M_insect"])
def test_columns_the_peer_cannot_serve(sample_root_5m, store_5m, column):
    """Values equal the peer's load_bioscan5m_metadata (its dataset drops these columns)."""
    frame = sample_root_5m.peer_frame
    ds = _ours(sample_root_5m, split="all", modality=(column,), target_type=[])
    got = [norm(ds[i][0]) for i in range(len(ds))]
    assert got == column_values(frame[column])
    if column == "index_bioscan_1M_insect":
        assert any(v == "<missing>" for v in got) and any(isinstance(v, int) for v in got)
    with pytest.raises(ValueError, match="Unfamiliar modality"):
        Peer(str(sample_root_5m.root), split="all", modality=(column,))[0]


def test_target_type_empty_and_several(sample_root_5m, store_5m, peer_factory):
    for tt in (
        [],
        ["species"],
        ["phylum", "class", "order", "family", "subfamily", "genus", "species", "dna_bin"],
        "uri",
    ):
        kw = dict(split="test", modality=("dna",), target_type=tt)
        _assert_samples_equal(_ours(sample_root_5m, **kw), peer_factory(**kw))
    assert _ours(sample_root_5m, split="test", modality=("dna",), target_type=[])[0][-1] is None


def test_transforms_are_applied_like_the_peer(sample_root_5m, store_5m):
    kw = dict(
        split="train",
        modality=("dna",),
        target_type=["genus", "species"],
        dna_transform=lambda s: s[:10].lower(),
        target_transform=lambda t: (t[1], t[0]),
    )
    _assert_samples_equal(_ours(sample_root_5m, **kw), Peer(str(sample_root_5m.root), **kw))
    for cls in (Peer, BIOSCAN5M):
        with pytest.raises(RuntimeError, match="target_transform is specified but target_type is empty"):
            cls(str(sample_root_5m.root), target_type=[], target_transform=abs)


# ----------------------------------------------------------------------------- labels
def _outcome(fn, *args):
    """``("ok", value)`` or ``("error", exception type name)``: what both implementations must agree on."""
    try:
        out = fn(*args)
    except Exception as exc:  # the type is what is compared
        return "error", type(exc).__name__
    return "ok", norm(out.tolist() if isinstance(out, np.ndarray) else out)


INDEX_CASES = [
    (0,),
    (3,),
    (-1,),
    (np.int8(2),),
    ([0, 1, -1],),
    (np.array([2, 0, 1]),),
    ((1, -1),),
    ("abc",),
    (999,),
]
INDEX_CASES += [(0, "family"), ([1, 2], "dna_bin"), (-5, "genus"), (0, "country"), (0, "nope")]
LABEL_CASES = [("",), (float("nan"),), (None,), (np.nan,), (pd.NA,), ("nope",), (5,), (np.int64(2),)]


def test_index2label_matches_the_peer(sample_root_5m, store_5m, peer_factory):
    peer = peer_factory(split="train", target_type="order", modality=())
    ours = _ours(sample_root_5m, split="train", target_type="order", modality=())
    for args in INDEX_CASES:
        assert _outcome(ours.index2label, *args) == _outcome(peer.index2label, *args), args
    assert isinstance(ours.index2label([0, 1]), np.ndarray) and ours.index2label([0, 1]).dtype == object


def test_label2index_matches_the_peer(sample_root_5m, store_5m, peer_factory):
    peer = peer_factory(split="train", target_type="order", modality=())
    ours = _ours(sample_root_5m, split="train", target_type="order", modality=())
    orders = list(peer.metadata["order"].cat.categories)
    cases = (
        LABEL_CASES + [(o,) for o in orders] + [(orders[0], "order"), ("Diptera", "family"), ("x", "nope")]
    )
    for args in cases:
        assert _outcome(ours.label2index, *args) == _outcome(peer.label2index, *args), args
    # a list: the peer 1.3.0 fails under pandas >= 2 (isna of a list); ours maps each label
    labels = [orders[2], "", orders[0], float("nan"), orders[2]]
    got = ours.label2index(labels)
    assert isinstance(got, np.ndarray)
    assert got.tolist() == [peer.label2index(lab) for lab in labels]
    with pytest.raises(KeyError, match="'nope'"):
        ours.label2index([orders[0], "nope"])


def test_label_round_trip_on_every_rank(sample_root_5m, store_5m, peer_factory):
    peer = peer_factory(split="all", modality=(), target_type=list(RANKS))
    ours = _ours(sample_root_5m, split="all", modality=(), target_type=list(RANKS))
    for rank in RANKS:
        cats = list(peer.metadata[rank].cat.categories)
        idx = np.arange(-1, len(cats))
        assert ours.index2label(idx, rank).tolist() == ["", *cats]
        assert ours.label2index(["", *cats], rank).tolist() == idx.tolist()
    for cls in (ours, peer):
        with pytest.raises(ValueError, match="column must be specified"):
            cls.index2label(0)
        with pytest.raises(ValueError, match="column must be specified"):
            cls.label2index("x")


# ----------------------------------------------------------------------------- metadata
def test_load_bioscan5m_metadata_signature():
    ours = inspect.signature(load_bioscan5m_metadata).parameters
    peer = inspect.signature(bioscan_dataset.load_bioscan5m_metadata).parameters
    shared = [p for p in ours if p in peer]
    assert shared == list(peer)
    for name in ("metadata_path", "max_nucleotides", "reduce_repeated_barcodes", "split"):
        assert ours[name].default == peer[name].default
    assert set(ours) - set(peer) == {"store"} and ours["store"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"split": "val"},
        {"split": "seen"},
        {"max_nucleotides": 50},
        {"reduce_repeated_barcodes": True},
        {"split": "pretrain+test", "max_nucleotides": 200, "reduce_repeated_barcodes": True},
    ],
)
def test_load_bioscan5m_metadata_reads_the_store(sample_root_5m, store_5m, monkeypatch, kw):
    peer = bioscan_dataset.load_bioscan5m_metadata(str(sample_root_5m.metadata), **kw)
    monkeypatch.setattr(pd, "read_csv", _no_csv)  # the store must be read, not the CSV
    ours = load_bioscan5m_metadata(str(sample_root_5m.metadata), **kw)
    assert list(ours.columns) == list(peer.columns)
    assert_frames_match(ours, peer)


def test_load_bioscan5m_metadata_whole_barcodes(sample_root_5m, full_store_5m, monkeypatch):
    peer = bioscan_dataset.load_bioscan5m_metadata(str(sample_root_5m.metadata), max_nucleotides=None)
    monkeypatch.setattr(pd, "read_csv", _no_csv)
    ours = load_bioscan5m_metadata(str(sample_root_5m.metadata), max_nucleotides=None, store=full_store_5m)
    assert_frames_match(ours, peer)
    assert peer["dna_barcode"].str.len().max() > 660


def test_load_bioscan5m_metadata_from_an_open_buffer(sample_root_5m, store_5m):
    """A buffer (what ``pandas.read_csv`` also takes) is parsed as the peer parses it."""
    import io

    text = Path(sample_root_5m.metadata).read_text()
    peer = bioscan_dataset.load_bioscan5m_metadata(io.StringIO(text), split="val")
    ours = load_bioscan5m_metadata(io.StringIO(text), split="val")
    assert list(ours.columns) == list(peer.columns)
    assert_frames_match(ours, peer)


def test_load_bioscan5m_metadata_without_a_store(make_root):
    """No store: the CSV is parsed as the peer does (also with pandas keyword arguments)."""
    root = make_root()
    assert not (root.dataset_dir / "h5").exists()
    for kw in ({"split": "train"}, {"usecols": ["processid", "split", "chunk", *RANKS, "dna_barcode"]}):
        peer = bioscan_dataset.load_bioscan5m_metadata(str(root.metadata), **kw)
        ours = load_bioscan5m_metadata(str(root.metadata), **kw)
        assert list(ours.columns) == list(peer.columns)
        assert_frames_match(ours, peer)
    assert not (root.dataset_dir / "h5").exists()


def _no_csv(*args, **kwargs):
    raise AssertionError("pandas.read_csv was called")


@pytest.mark.parametrize(("split", "reduce"), [("train", False), ("all", False), ("seen", True)])
def test_metadata_attribute_matches_for_shared_columns(sample_root_5m, store_5m, peer_factory, split, reduce):
    kw = dict(split=split, reduce_repeated_barcodes=reduce)
    peer, ours = peer_factory(**kw), _ours(sample_root_5m, **kw)
    shared = [c for c in peer.metadata.columns if c in ours.metadata.columns]
    assert shared == list(peer.metadata.columns)
    assert_frames_match(ours.metadata, peer.metadata)


def test_metadata_is_built_lazily(sample_root_5m, store_5m, monkeypatch):
    from bioscan_h5.datasets import base

    calls = []
    original = base.peer_frame
    monkeypatch.setattr(base, "peer_frame", lambda *a, **k: calls.append(1) or original(*a, **k))
    ds = _ours(sample_root_5m, split="train")
    ds[0]
    assert calls == []
    df = ds.metadata
    assert len(calls) == 1 and len(df) == len(ds)
    assert ds.metadata is df


# ----------------------------------------------------------------------------- repr
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"split": "validation", "target_type": ["genus", "species"], "output_format": "dict"},
        {"modality": ("dna", "coord-lat"), "max_nucleotides": 100, "reduce_repeated_barcodes": True},
        {"modality": "dna", "target_type": [], "dna_transform": str.lower},
        {"modality": "image", "target_format": "text", "image_package": "cropped_256"},
    ],
)
def test_repr_matches_the_peer(sample_root_5m, store_5m, kw):
    from torchvision.transforms import v2

    for extra in ({}, {"transform": v2.Resize(64), "target_transform": abs}):
        if extra and not kw.get("target_type", True):
            continue
        peer = Peer(str(sample_root_5m.root), **kw, **extra)
        ours = _ours(sample_root_5m, **kw, **extra)
        assert repr(ours) == repr(peer).replace("Dataset Peer", "Dataset BIOSCAN5M")


def test_load_bioscan5m_metadata_ignores_a_stale_store(make_root, build_store, monkeypatch):
    """A touched CSV still matches its store (same content); an edited one is parsed instead."""
    import os

    root = make_root()
    build_store(root, no_images=True)
    path = str(root.metadata)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    peer = bioscan_dataset_frame(path)
    with monkeypatch.context() as m:
        m.setattr(pd, "read_csv", _no_csv)
        assert_frames_match(load_bioscan5m_metadata(path), peer)
    lines = root.metadata.read_bytes().splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]  # same size, other content: only the SHA-256 tells
    root.metadata.write_bytes(b"".join(lines))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    ours = load_bioscan5m_metadata(path)
    assert ours["processid"].iloc[0] == peer["processid"].iloc[1]
    assert_frames_match(ours, bioscan_dataset_frame(path))


def bioscan_dataset_frame(path: str) -> pd.DataFrame:
    return bioscan_dataset.load_bioscan5m_metadata(path)
