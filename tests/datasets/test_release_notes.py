"""What the notes of the last release left open (issue 13, items 2 and 7).

* a bad image raises an ``OSError`` (the peer's errors are ``OSError`` subclasses), so the
  usual ``except OSError:`` skip works;
* BIOSCAN-1M's old layout (``<root>/BIOSCAN_Insect_Dataset_metadata.tsv`` with ``bioscan/``);
* a missing CLIBD union file raises ``FileNotFoundError``, as in the peer;
* ``load_bioscan5m_metadata(max_nucleotides=None)`` with a store that cuts barcodes falls back
  to the CSV, as the BIOSCAN-1M loader does;
* ``image_package="original_full"`` served as the store's 256 px images says so (a warning).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import bioscan_dataset
import pandas as pd
import pytest

from bioscan_h5 import BIOSCAN1M, BIOSCAN5M, load_bioscan1m_metadata, load_bioscan5m_metadata

TSV = "BIOSCAN_Insect_Dataset_metadata.tsv"


class _Peer1M(bioscan_dataset.BIOSCAN1M):
    def _check_integrity(self, verbose: int = 1) -> bool:
        return True


def _quiet(cls, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return cls(*args, **kw)


# ----------------------------------------------------------------------------- item 2
def test_the_except_oserror_idiom_skips_bad_images(sample_root_5m, store_5m):
    ds = BIOSCAN5M(str(sample_root_5m.root), split="val", build=False)
    bad = set(sample_root_5m.undecodable_rows) & set(int(r) for r in ds.rows)
    assert bad
    kept, skipped = 0, 0
    for i in range(len(ds)):
        try:
            ds[i]
        except OSError:  # what code written for bioscan-dataset does with an unreadable image
            skipped += 1
        else:
            kept += 1
    assert skipped == len(bad) and kept == len(ds) - len(bad)


# ----------------------------------------------------------------------------- item 7: the old 1M layout
@pytest.fixture
def old_layout_root(make_root) -> Path:
    """A BIOSCAN-1M root moved into the layout of bioscan-dataset <= 1.1."""
    root = Path(make_root(dataset="bioscan1m", faults=False).root)
    shutil.move(root / "bioscan1m" / TSV, root / TSV)
    shutil.move(root / "bioscan1m", root / "bioscan")
    return root


@pytest.mark.parametrize("pv", ["large_diptera_family", "clibd"])
def test_the_old_bioscan1m_layout_is_read(old_layout_root, pv, monkeypatch):
    root = str(old_layout_root)
    kw = dict(split="test", partitioning_version=pv, modality=("image", "dna"), target_type="order")
    ours, peer = _quiet(BIOSCAN1M, root, **kw), _quiet(_Peer1M, root, **kw)
    assert not (old_layout_root / "bioscan1m").exists()  # the store went beside the old folders
    assert Path(ours.store_path).parent == old_layout_root / "bioscan" / "h5"
    for name in ("base_folder", "metadata_path", "image_dir", "clibd_partitioning_path"):
        assert getattr(ours, name) == getattr(peer, name), name
    assert len(ours) == len(peer) > 0
    for i in range(len(peer)):
        (img_a, dna_a, t_a), (img_b, dna_b, t_b) = peer[i], ours[i]
        img_a.close()
        assert dna_a == dna_b and t_a == t_b and img_b.size == (256, 256)
    pd.testing.assert_frame_equal(ours.metadata, peer.metadata)
    want = bioscan_dataset.load_bioscan1m_metadata(str(old_layout_root / TSV))
    monkeypatch.setattr(pd, "read_csv", _no_csv)  # the store under bioscan/h5/ is found and read
    pd.testing.assert_frame_equal(load_bioscan1m_metadata(str(old_layout_root / TSV)), want)


def _no_csv(*args, **kwargs):
    raise AssertionError("the metadata file was parsed although a store holds it")


# ----------------------------------------------------------------------------- item 7: CLIBD union file
def test_a_missing_clibd_union_file_is_a_file_not_found_error(make_root):
    root = Path(make_root(dataset="bioscan1m").root)
    (root / "bioscan1m" / "CLIBD_partitioning" / "all_keys.txt").unlink()
    kw = dict(split="all_keys", partitioning_version="clibd", modality=("dna",))
    with pytest.raises(FileNotFoundError):
        _Peer1M(str(root), **kw)
    with pytest.raises(FileNotFoundError, match=r"all_keys.txt"):
        BIOSCAN1M(str(root), **kw)
    # the other splits are there
    assert len(BIOSCAN1M(str(root), split="test_seen", partitioning_version="clibd", modality=("dna",))) > 0
    with pytest.raises(ValueError, match="Invalid split value: 'all_keyz'"):
        BIOSCAN1M(str(root), split="all_keyz", partitioning_version="clibd", modality=("dna",))


# ----------------------------------------------------------------------------- item 7: the 5M loader
def test_load_bioscan5m_metadata_whole_barcodes_fall_back_to_the_csv(make_root, build_store):
    root = make_root()
    build_store(root, no_images=True, full_barcodes=False)  # at the default path: found by the loader
    path = str(root.metadata)
    want = bioscan_dataset.load_bioscan5m_metadata(path, max_nucleotides=None)
    assert want["dna_barcode"].str.len().max() > 660
    pd.testing.assert_frame_equal(load_bioscan5m_metadata(path, max_nucleotides=None), want)
    pd.testing.assert_frame_equal(
        load_bioscan5m_metadata(path, max_nucleotides=300),
        bioscan_dataset.load_bioscan5m_metadata(path, max_nucleotides=300),
    )


# ----------------------------------------------------------------------------- item 7: original_full
def test_original_full_served_resized_warns(make_root):
    from bioscan_h5.errors import ResizedImagesWarning

    root = make_root(n_rows=64, packages=("original_full",), faults=False)
    with pytest.warns(ResizedImagesWarning, match="image_package='original_full'.*256x256.*image_size="):
        ds = BIOSCAN5M(str(root.root), split="val", image_package="original_full")
    assert ds[0][0].size == (256, 256)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the explicit size is the fix
        ds = BIOSCAN5M(str(root.root), split="val", image_package="original_full", image_size=256)
        BIOSCAN5M(str(root.root), split="val", image_package="original_full", modality=("dna",))
    assert issubclass(ResizedImagesWarning, UserWarning)
