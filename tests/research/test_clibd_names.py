"""CLIBD's BIOSCAN-5M group names as split names (issue 22): each serves the rows of the splits
its ``generate_hdf5_file_5m.py`` puts in the group, in metadata order, and the peer's names and
error messages are unchanged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.errors import InvalidArgumentError
from bioscan_h5.label_views import DenseLabels, label_text, taxon_text
from bioscan_h5.layouts.bioscan5m_layout import CLIBD_5M_GROUPS, explode_metasplit_5m

#: CLIBD's map, as its script spells it (``metadata['split'].isin(...)`` per group)
CLIBD_MAP = {
    "all_keys": ["key_unseen", "train"],
    "val_seen": ["val"],
    "test_seen": ["test"],
    "seen_keys": ["train"],
    "test_unseen": ["test_unseen"],
    "val_unseen": ["val_unseen"],
    "unseen_keys": ["key_unseen"],
    "no_split_and_seen_train": ["pretrain", "train"],
    "other_heldout": ["other_heldout"],
}


def test_every_clibd_group_explodes_to_its_splits():
    for name, splits in CLIBD_MAP.items():
        assert explode_metasplit_5m(name, verify=True) == set(splits), name
    assert set(CLIBD_5M_GROUPS) < set(CLIBD_MAP)
    assert explode_metasplit_5m("seen_keys+val_seen") == {"train", "val"}


def test_error_messages_still_list_the_peers_names():
    with pytest.raises(InvalidArgumentError) as exc:
        explode_metasplit_5m("all_key", verify=True)
    assert "all_keys" not in str(exc.value) and "'pretrain'" in str(exc.value)


@pytest.mark.parametrize("name", ["all_keys", "val_seen", "unseen_keys", "no_split_and_seen_train"])
def test_dataset_rows_of_a_clibd_group(sample_root_5m, store_5m, name):
    meta = pd.read_csv(sample_root_5m.metadata, dtype=str, keep_default_na=False)
    ds = BIOSCAN5M(str(sample_root_5m.root), split=name, modality=("dna",))
    want = np.flatnonzero(meta["split"].isin(CLIBD_MAP[name]).to_numpy())
    np.testing.assert_array_equal(ds.rows, want)
    assert list(ds.metadata["processid"]) == list(meta["processid"].iloc[want])


# ------------------------------------------------------------------ label views (text, dense)
def clibd_text(row) -> str:
    """CLIBD's generate_hdf5_file_5m.py: the four names, "not_classified" where missing, joined."""
    parts = []
    for rank in ("order", "family", "genus", "species"):
        value = row[rank]
        parts.append(
            "not_classified" if value is None or (isinstance(value, float) and np.isnan(value)) else value
        )
    return parts[0] + " " + parts[1] + " " + parts[2] + " " + parts[3]


def test_taxon_text_equals_clibd(sample_root_5m, store_5m):
    meta = pd.read_csv(sample_root_5m.metadata, dtype=str, keep_default_na=False).replace("", np.nan)
    ds = BIOSCAN5M(str(sample_root_5m.root), split="no_split_and_seen_train", modality=("dna",))
    want = [clibd_text(meta.iloc[r]) for r in ds.rows]
    assert "not_classified" in " ".join(want)
    assert taxon_text(ds, np.arange(len(ds))) == want
    batch = next(iter(batch_loader(ds, batch_size=8)))
    assert taxon_text(ds, batch) == [want[i] for i in batch["index"].tolist()]
    assert label_text(ds, "genus", [0, 1], fill="?") == [
        w.split(" ")[2].replace("not_classified", "?") for w in want[:2]
    ]


def test_dense_labels_of_a_split(sample_root_5m, store_5m):
    ds = BIOSCAN5M(str(sample_root_5m.root), split="val", modality=("dna",), target_type="genus")
    dense = DenseLabels(ds)
    codes = ds.label_indices("genus")
    present = sorted(set(codes[codes >= 0].tolist()))
    assert dense.num_classes == len(present) < ds.num_classes()
    assert sorted(set(dense.labels[dense.labels >= 0].tolist())) == list(range(len(present)))
    np.testing.assert_array_equal(dense.classes[dense.labels[codes >= 0]], codes[codes >= 0])
    assert dense.names == [ds.index2label(c) for c in present]
    assert dense(torch.as_tensor(codes)).tolist() == dense.labels.tolist()
    assert dense(int(codes[codes >= 0][0])) == dense.labels[codes >= 0][0] and dense(-1) == -1
