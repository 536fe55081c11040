"""The default store keeps whole barcodes: every ``max_nucleotides`` the peer accepts works (issue 13, item 5).

Beside the fixed-width ``/dna/codes`` (660 letters, what the fast paths read) a default store
keeps the letters after them in a ragged block with int64 offsets. Samples, batches,
``reduce_repeated_barcodes``, the tokenizers and the metadata frame all read whole barcodes
from it; ``--no-full-barcodes`` builds the old, smaller kind of store.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from bioscan_h5 import BIOSCAN5M, batch_loader, open_store
from bioscan_h5 import format as fmt
from bioscan_h5.build import BuildConfig
from bioscan_h5.tokenizers import get_tokenizer

WIDTHS = [None, 1000, 700, 661, 660, 100, 0]


def _ds(root, **kw) -> BIOSCAN5M:
    return BIOSCAN5M(str(root.root), build=False, **kw)


def test_default_store_has_the_whole_barcode_block(store_5m, sample_root_5m):
    whole = sample_root_5m.peer_frame["dna_barcode"]
    with h5py.File(store_5m, "r", locking=False) as f:
        assert f[fmt.DNA_CODES].shape[1] == 660
        offsets = f[fmt.DNA_TAIL_OFFSETS]
        assert offsets.dtype == np.int64 and offsets.shape == (sample_root_5m.n_rows + 1,)
        assert f[fmt.DNA_TAIL_CODES].dtype == np.uint8 and f[fmt.DNA_TAIL_CODES].chunks is None
        extra = np.diff(offsets[()])
    assert extra.tolist() == [max(len(b) - 660, 0) if isinstance(b, str) else 0 for b in whole]
    with open_store(store_5m) as st:
        assert st.full_barcodes and st.max_nucleotides == 660
        assert st.barcodes(whole=True) == whole.tolist()
        assert st.barcodes() == [b[:660] if isinstance(b, str) else b for b in whole]  # as before
        assert st.info()["full_barcodes"] is True


@pytest.mark.parametrize("max_nucleotides", WIDTHS)
def test_every_peer_width_on_the_default_store(sample_root_5m, store_5m, peer_factory, max_nucleotides):
    kw = dict(split="all", modality=("dna",), target_type=[], max_nucleotides=max_nucleotides)
    ours, peer = _ds(sample_root_5m, **kw), peer_factory(**kw)
    assert [ours[i][0] for i in range(len(ours))] == [peer[i][0] for i in range(len(peer))]
    assert ours.metadata["dna_barcode"].tolist() == peer.metadata["dna_barcode"].tolist()


@pytest.mark.parametrize("max_nucleotides", [None, 700, 660, 30])
def test_reduce_repeated_barcodes_on_whole_barcodes(sample_root_5m, store_5m, peer_factory, max_nucleotides):
    kw = dict(
        split="all", modality=("processid",), reduce_repeated_barcodes=True, max_nucleotides=max_nucleotides
    )
    ours, peer = _ds(sample_root_5m, **kw), peer_factory(**kw)
    assert [ours[i][0] for i in range(len(ours))] == peer.metadata["processid"].tolist()
    # the sample data has barcodes that differ only after letter 660
    if max_nucleotides is None:
        assert len(ours) > len(_ds(sample_root_5m, **{**kw, "max_nucleotides": 660}))


def test_batches_of_whole_barcodes(sample_root_5m, store_5m):
    ds = _ds(sample_root_5m, split="all", modality=("dna",), target_type=[], max_nucleotides=None)
    with open_store(store_5m) as st:
        longest = st.longest_barcode
    assert longest > 660
    seen = 0
    for batch in batch_loader(ds, batch_size=64):
        codes, lengths = batch["dna"].numpy(), batch["dna_length"].numpy()
        assert codes.shape[1] == longest  # the same width for every batch of the dataset
        for row, n in zip(codes, lengths):
            assert row[:n].tobytes().decode() == ds[seen][0] and not row[n:].any()
            seen += 1
    assert seen == len(ds)
    narrow = _ds(sample_root_5m, split="all", modality=("dna",), target_type=[], max_nucleotides=700)
    assert next(iter(batch_loader(narrow, batch_size=8)))["dna"].shape[1] == 700


@pytest.mark.parametrize("name", ["barcodebert", "barcodemamba"])
def test_tokenizers_on_whole_barcodes(sample_root_5m, store_5m, full_store_5m, name):
    tok = get_tokenizer(name)
    kw = dict(split="all", modality=("dna",), target_type=[], max_nucleotides=None, dna_transform=tok)
    ours = _ds(sample_root_5m, **kw)
    whole = _ds(sample_root_5m, store=full_store_5m, **kw)
    for i in range(0, len(ours), 9):
        assert (
            ours[i][0].tolist()
            == whole[i][0].tolist()
            == tok(whole.store.barcodes([whole.rows[i]])[0]).tolist()
        )
    batch = next(iter(batch_loader(ours, batch_size=32)))
    want = next(iter(batch_loader(whole, batch_size=32)))
    assert (
        batch["dna"].tolist() == want["dna"].tolist()
        and batch["dna_mask"].tolist() == want["dna_mask"].tolist()
    )


def test_no_full_barcodes_builds_the_smaller_store(sample_root_5m, build_store, tmp_path):
    res = build_store(sample_root_5m, out=tmp_path / "cut.h5", no_images=True, full_barcodes=False)
    with open_store(res.store) as st:
        assert not st.full_barcodes and st.dna_tail is None
    with pytest.raises(ValueError, match="asks for more than the store holds"):
        _ds(sample_root_5m, store=res.store, split="all", modality=("dna",), max_nucleotides=None)
    kw = dict(split="all", modality=("dna",), max_nucleotides=600)
    assert len(_ds(sample_root_5m, store=res.store, **kw)) == sample_root_5m.n_rows
    cfg = BuildConfig(root=str(sample_root_5m.root), full_barcodes=False, no_images=True)
    assert "--no-full-barcodes" in cfg.command() and "--no-full-barcodes" not in BuildConfig(".").command()
