"""``ds.metadata`` and the loaders' frames are the peer's, exactly (issue 13, item 4).

Columns, column order, dtypes (pandas' text dtype where the peer reads text, categories with
the same categories, ``int8``/``int16`` label indices, ``uint8``, ``Int64``), index and values:
``pandas.testing.assert_frame_equal``. Code that exports or joins the frame sees no difference.
The one documented difference: a single CLIBD split with ``reduce_repeated_barcodes`` (the
peer keeps all-NaN rows for the samples that de-duplication dropped; ours leaves them out).
"""

from __future__ import annotations

import itertools
import warnings

import bioscan_dataset
import pandas as pd
import pytest

from bioscan_h5 import BIOSCAN1M, BIOSCAN5M, load_bioscan1m_metadata, load_bioscan5m_metadata
from tests.helpers.bioscan1m import CLIBD_BASE, PV_1M
from tests.helpers.dataset import ALL_SPLITS

pytestmark = pytest.mark.parity


# ----------------------------------------------------------------------------- BIOSCAN-5M
@pytest.mark.parametrize("split", ALL_SPLITS)
def test_5m_metadata_is_the_peers_frame(sample_root_5m, store_5m, peer_factory, split):
    for reduce, mx in ((False, 660), (True, 660), (False, None), (True, None), (True, 100), (False, 700)):
        kw = dict(split=split, reduce_repeated_barcodes=reduce, max_nucleotides=mx)
        ours = BIOSCAN5M(str(sample_root_5m.root), build=False, **kw)
        pd.testing.assert_frame_equal(ours.metadata, peer_factory(**kw).metadata)


def test_5m_frame_has_the_peers_28_columns_and_dtypes(sample_root_5m, store_5m, peer_factory):
    ours = BIOSCAN5M(str(sample_root_5m.root), split="train", build=False).metadata
    peer = peer_factory(split="train").metadata
    assert list(ours.columns) == list(peer.columns) and len(ours.columns) == 28
    assert ours.dtypes.to_dict() == peer.dtypes.to_dict()
    assert str(ours["processid"].dtype) == str(peer["processid"].dtype)  # pandas' text dtype, not object


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"split": "val"},
        {"split": "seen", "max_nucleotides": None},
        {"split": "pretrain+test", "reduce_repeated_barcodes": True, "max_nucleotides": 200},
    ],
    ids=str,
)
def test_5m_loader_frame_is_the_peers(sample_root_5m, store_5m, kw, monkeypatch):
    path = str(sample_root_5m.metadata)
    peer = bioscan_dataset.load_bioscan5m_metadata(path, **kw)
    monkeypatch.setattr(pd, "read_csv", _no_csv)  # ours reads the store
    pd.testing.assert_frame_equal(load_bioscan5m_metadata(path, **kw), peer)


def test_every_file_column_stays_available(sample_root_5m, store_5m):
    """The columns the peer's dataset does not read: file_metadata() or the store API."""
    ds = BIOSCAN5M(str(sample_root_5m.root), split="test", build=False)
    extra = {"sampleid", "taxon", "inferred_ranks", "index_bioscan_1M_insect"}
    assert not extra & set(ds.metadata.columns)
    full = ds.file_metadata()
    assert extra <= set(full.columns) and list(full.index) == list(ds.metadata.index)
    pd.testing.assert_frame_equal(full, load_bioscan5m_metadata(str(sample_root_5m.metadata), split="test"))
    assert extra <= set(ds.store.to_pandas(rows=ds.rows).columns)


# ----------------------------------------------------------------------------- BIOSCAN-1M
class _Peer1M(bioscan_dataset.BIOSCAN1M):
    def _check_integrity(self, verbose: int = 1) -> bool:
        return True


@pytest.fixture(scope="module")
def root1m(tmp_path_factory):
    from tools import make_sample_data

    root = tmp_path_factory.mktemp("frames1m") / "root"
    make_sample_data.make_bioscan1m_root(root, n_rows=240, seed=0, packages=("cropped_256",), faults=True)
    return str(root)


SPLITS_1M = [(pv, s) for pv in PV_1M for s in ("train", "validation", "all", "test+no_split")]
SPLITS_CLIBD = [
    ("clibd", s) for s in (*CLIBD_BASE, "all_keys", "no_split_and_seen_train", "all", "val", "pretrain+train")
]


def _pair(root: str, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return BIOSCAN1M(root, **kw), _Peer1M(root, **kw)


@pytest.mark.parametrize(("pv", "split"), SPLITS_1M + SPLITS_CLIBD)
def test_1m_metadata_is_the_peers_frame(root1m, pv, split):
    single_clibd = pv == "clibd" and "+" not in split and split != "all"
    for reduce, mx in itertools.product((False, True), (660, None)):
        kw = dict(split=split, partitioning_version=pv, reduce_repeated_barcodes=reduce, max_nucleotides=mx)
        ours, peer = _pair(root1m, modality=("dna",), **kw)
        want = peer.metadata
        if reduce and single_clibd:
            # documented: the peer keeps all-NaN rows for the samples de-duplication dropped
            want = want[want["processid"].notna()]
            want = want.astype({c: ours.metadata[c].dtype for c in want.columns})
        pd.testing.assert_frame_equal(ours.metadata, want)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"split": "train", "partitioning_version": "medium_insect_order"},
        {"split": "all_keys", "partitioning_version": "clibd"},
        {"split": "test_seen", "partitioning_version": "clibd", "max_nucleotides": None},
        {"split": "val+test", "reduce_repeated_barcodes": True},
    ],
    ids=str,
)
def test_1m_loader_frame_is_the_peers(root1m, kw, monkeypatch):
    from pathlib import Path

    path = str(Path(root1m) / "bioscan1m" / "BIOSCAN_Insect_Dataset_metadata.tsv")
    _pair(root1m, split="all", modality=())  # builds the store the loader reads
    peer = bioscan_dataset.load_bioscan1m_metadata(path, **kw)
    monkeypatch.setattr(pd, "read_csv", _no_csv)  # ours reads the store
    pd.testing.assert_frame_equal(load_bioscan1m_metadata(path, **kw), peer)


def _no_csv(*args, **kwargs):
    raise AssertionError("the metadata file was parsed although a store holds it")
