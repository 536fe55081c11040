"""The taxonomy (issue 22): parent maps checked against a pandas group-by over the metadata
(the way zs-ssl-clustering and CLIBD rebuild them), homonyms under both rules, paths, lifts on
tensors, children counts and the lowest common rank."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from bioscan_h5 import BIOSCAN5M
from bioscan_h5.errors import InvalidArgumentError
from bioscan_h5.store import Store
from bioscan_h5.taxonomy import Taxonomy


@pytest.fixture(scope="module")
def ds(sample_root_5m, store_5m) -> BIOSCAN5M:
    return BIOSCAN5M(
        str(sample_root_5m.root), build=False, split="all", modality=("dna",), target_type="species"
    )


def _reference_parents(meta: pd.DataFrame, rank: str, above: str, vocab: list[str], pvocab: list[str]):
    """Per label name, the parent name most rows carry (ties: the first in sorted order)."""
    sub = meta[[rank, above]].dropna()
    counts = sub.groupby([rank, above]).size().reset_index(name="n")
    counts = counts.sort_values([rank, "n", above], ascending=[True, False, True])
    best = counts.drop_duplicates(rank).set_index(rank)[above]
    pindex = {name: i for i, name in enumerate(pvocab)}
    return np.array([pindex[best[name]] if name in best.index else -1 for name in vocab])


def test_parents_match_a_groupby_of_the_metadata(ds, sample_root_5m):
    meta = pd.read_csv(sample_root_5m.metadata, dtype=str, keep_default_na=False).replace("", np.nan)
    tax = ds.taxonomy
    assert tax.ranks == ds.store.schema.ranks
    assert (tax.parents("phylum") == -1).all()
    for above, rank in zip(tax.ranks, tax.ranks[1:]):
        want = _reference_parents(meta, rank, above, ds.label_space.vocab(rank), ds.label_space.vocab(above))
        got = tax.parents(rank)
        assert got.dtype == np.int64 and len(got) == ds.num_classes(rank)
        np.testing.assert_array_equal(got, want, err_msg=f"{rank} -> {above}")


def test_taxonomy_is_built_once_per_label_space(ds):
    assert ds.taxonomy is ds.taxonomy


def _homonym_tree(rule: str) -> Taxonomy:
    # genus "Aus" sits under family F0 in three rows and under F1 in one; "Bus" only under F1
    family = np.array([0, 0, 0, 1, 1, -1, 1])
    genus = np.array([0, 0, 0, 0, 1, 1, -1])
    species = np.array([0, 1, 1, 2, 3, 3, -1])
    names = {"family": ["F0", "F1"], "genus": ["Aus", "Bus"], "species": ["a", "b", "c", "d"]}
    return Taxonomy(
        ("family", "genus", "species"), {"family": family, "genus": genus, "species": species}, names, rule
    )


def test_majority_rule_reports_every_homonym():
    tax = _homonym_tree("majority")
    np.testing.assert_array_equal(tax.parents("genus"), [0, 1])
    (conflict,) = tax.conflicts()
    assert conflict.rank == "genus" and conflict.name == "Aus"
    assert conflict.parents == (0, 1) and conflict.counts == (3, 1) and conflict.chosen == 0
    np.testing.assert_array_equal(tax.codes("genus"), [0, 0, 0, 0, 1, 1, -1])


def test_split_rule_gives_each_parent_its_own_label():
    tax = _homonym_tree("split")
    assert tax.names("genus") == ["F0/Aus", "F1/Aus", "Bus"]
    np.testing.assert_array_equal(tax.parents("genus"), [0, 1, 1])
    np.testing.assert_array_equal(tax.codes("genus"), [0, 0, 0, 1, 2, 2, -1])
    # species d is now under F1/Aus, not under the majority Aus
    np.testing.assert_array_equal(tax.parents("species"), [0, 0, 1, 2])
    assert tax.path_names("species", 2) == {"family": "F1", "genus": "F1/Aus", "species": "c"}


def test_unknown_rule_and_rank_are_refused():
    with pytest.raises(InvalidArgumentError, match=r"'nearest'.*'majority', 'split'"):
        _homonym_tree("nearest")
    with pytest.raises(InvalidArgumentError, match=r"'tribe'.*Valid ranks"):
        _homonym_tree("majority").parents("tribe")


def test_lift_skips_missing_ranks_and_works_on_tensors(ds):
    tax = ds.taxonomy
    species = ds.label_indices("species")
    family = ds.label_indices("family")
    lifted = tax.lift(species, "species", "family")
    known = (species >= 0) & (family >= 0)
    assert known.any()
    np.testing.assert_array_equal(lifted[known], family[known])
    assert (lifted[species < 0] == -1).all()
    t = torch.as_tensor(species)
    out = tax.lift(t, "species", "family")
    assert isinstance(out, torch.Tensor) and out.device == t.device
    np.testing.assert_array_equal(out.numpy(), lifted)


def test_path_children_and_common_rank(ds):
    tax = ds.taxonomy
    species = ds.label_indices("species")
    row = int(np.flatnonzero(species >= 0)[0])
    path = tax.path("species", int(species[row]))
    for rank, index in path.items():
        if index >= 0:
            assert index == ds.label_indices(rank)[row]
    counts = tax.children_counts("family")
    assert counts.sum() == (tax.parents("subfamily") >= 0).sum()
    rows = ds.rows
    lcr = tax.lowest_common_rank(rows[:50], rows[50:100])
    for a, b, got in zip(rows[:50], rows[50:100], lcr):
        same = [i for i, r in enumerate(tax.ranks) if ds.store.codes(r)[a] == ds.store.codes(r)[b] >= 0]
        assert got == (max(same) if same else -1)
    assert (tax.lowest_common_rank(rows[:5], rows[:5]) >= 0).all()
    a, b = species[species >= 0][:20], species[species >= 0][-20:]
    common = tax.common_rank(torch.as_tensor(a), torch.as_tensor(b), "species")
    np.testing.assert_array_equal(common.numpy(), tax.common_rank(a, b, "species"))
    assert (tax.common_rank(a, a, "species") == tax.ranks.index("species")).all()


def test_store_tree_equals_dataset_tree(store_5m, ds):
    with Store(store_5m) as st:
        tax = Taxonomy.from_store(st)
        for rank in tax.ranks:
            np.testing.assert_array_equal(tax.parents(rank), ds.taxonomy.parents(rank))


def test_kernels_equal_their_python_twins():
    from bioscan_h5.taxonomy import _first_parents, _pair_keys

    rng = np.random.default_rng(0)
    child = rng.integers(-1, 30, 2000).astype(np.int32)
    parent = rng.integers(-1, 5, 2000).astype(np.int32)
    outs = []
    for fn in (_first_parents, _first_parents.py_func):
        first, bad = np.full(30, -1, dtype=np.int64), np.zeros(30, dtype=bool)
        fn(child, parent, first, bad)
        compact = np.where(bad, np.cumsum(bad) - 1, -1).astype(np.int64)
        keys = np.empty(len(child), dtype=np.int64)
        n = (_pair_keys if fn is _first_parents else _pair_keys.py_func)(child, parent, compact, 5, keys)
        outs.append((first, bad, keys[:n]))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_taxonomy_of_a_renumbered_label_space(sample_root_5m, store_5m):
    ds = BIOSCAN5M(str(sample_root_5m.root), split="all", modality=("dna",), reduce_repeated_barcodes=True)
    tax = ds.taxonomy
    for above, rank in zip(tax.ranks, tax.ranks[1:]):
        parents = tax.parents(rank)
        assert len(parents) == ds.num_classes(rank)
        child, parent = ds.label_indices(rank), ds.label_indices(above)
        both = (child >= 0) & (parent >= 0)
        np.testing.assert_array_equal(parents[child[both]], parent[both])  # no homonyms in the sample
