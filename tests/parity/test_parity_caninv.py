"""Parity of :class:`bioscan_h5.CanadianInvertebrates` with the peer's development branch.

``bioscan_dataset.CanadianInvertebrates`` is not in the released 1.3.0, so its rules are
written out here as reference code (:class:`Reference`, plain pandas): the CSV read with the
peer's dtypes, barcodes cut to ``max_nucleotides``, ``reduce_repeated_barcodes`` (shuffle with
seed 0, drop repeats of the barcode with trailing N stripped, restore the order), the split
filter with its aliases and metasplits, label indices as category codes over the whole file,
and the samples in tuple or dict form. Ours reads its store; both read the same generated file.
"""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pandas as pd
import pytest

from bioscan_h5 import CanadianInvertebrates, load_canadian_invertebrates_metadata
from tests.helpers.dataset import norm

pytestmark = pytest.mark.parity

# The development branch's rules, stated independently of bioscan_h5.
DTYPES = {
    "processid": str,
    "sampleid": str,
    "dna_bin": "category",
    "phylum": "category",
    "class": "category",
    "order": "category",
    "family": "category",
    "genus": "category",
    "species": "category",
    "dna_barcode": str,
    "sequence_len": float,
    "split": "category",
}
USECOLS = [
    "processid",
    "dna_bin",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "species",
    "dna_barcode",
    "split",
]
LABELS = ["phylum", "class", "order", "family", "genus", "species", "dna_bin"]
SPLITS = ["pretrain", "train", "val", "test", "test_unseen"]
METASPLITS = {"all": SPLITS, "seen": ["train", "val", "test"], "unseen": ["test_unseen"]}
ALIASES = {"validation": "val"}
COLUMN_ALIASES = {"bin_uri": "dna_bin", "nucleotides": "dna_barcode"}


def ref_explode(metasplit: str | None) -> set[str]:
    names = [
        ALIASES.get(s.strip(), s.strip()) for s in ("all" if metasplit is None else metasplit).split("+")
    ]
    out = set(names)
    for meta, members in METASPLITS.items():
        if meta in out:
            out.discard(meta)
            out |= set(members)
    bad = out - set(SPLITS)
    if bad:
        valid = ", ".join(repr(s) for s in [*METASPLITS, *SPLITS])
        if out == {metasplit}:
            raise ValueError(f"Invalid split name {metasplit!r}. Valid split names are: {valid}.")
        names = ", ".join(repr(s) for s in sorted(bad))
        plural = "s" if len(bad) > 1 else ""
        raise ValueError(
            f"Invalid split name{plural} {names} within requested metasplit {metasplit!r}. Valid ..."
        )
    return out


def ref_load(
    path, max_nucleotides=660, reduce_repeated_barcodes=False, split=None, usecols=None
) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=DTYPES, usecols=usecols)
    if max_nucleotides is not None:
        df["dna_barcode"] = df["dna_barcode"].str[:max_nucleotides]
    if reduce_repeated_barcodes:
        df = df.sample(frac=1, random_state=0)
        df["_key"] = df["dna_barcode"].str.rstrip("N")
        df = df.drop_duplicates(subset=["_key"]).drop(columns=["_key"]).sort_index()
    if split is not None and split != "all":
        df = df.loc[df["split"].isin(ref_explode(split))]
    for c in LABELS:
        df[c] = df[c].astype("category")
        df[c + "_index"] = df[c].cat.codes
    return df


class Reference:
    """The development branch's dataset, as plain pandas (no store)."""

    def __init__(self, root, split="train", modality="dna", reduce_repeated_barcodes=False, max_nucleotides=660,
                 target_type="species", target_format="index", output_format="tuple", dna_transform=None,
                 target_transform=None):  # fmt: skip
        self.split = ALIASES.get(split, split)
        self.modality = [modality] if isinstance(modality, str) else list(modality)
        types = [target_type] if isinstance(target_type, str) else list(target_type)
        self.target_type = [COLUMN_ALIASES.get(t, t) for t in types]
        self.target_format, self.dna_transform, self.target_transform = (
            target_format,
            dna_transform,
            target_transform,
        )
        self.output_format = "dict" if output_format == "dictionary" else output_format
        path = f"{root}/CanadianInvertebrates/CanInv_metadata.csv"
        self.metadata = ref_load(path, max_nucleotides, reduce_repeated_barcodes, self.split, usecols=USECOLS)

    def __len__(self):
        return len(self.metadata)

    def __getitem__(self, i):
        row = self.metadata.iloc[i]
        values = []
        for m in self.modality:
            if m in ("dna", "dna_barcode", "barcode"):
                x = row["dna_barcode"]
                x = self.dna_transform(x) if self.dna_transform is not None else x
            elif m in self.metadata.columns:
                x = row[m]
            else:
                raise ValueError(f"Unfamiliar modality: {m!r}")
            values.append((m, x))
        target = []
        for t in self.target_type:
            target.append(row[f"{t}_index"] if self.target_format == "index" else row[t])
            if self.output_format == "dict":
                values += [(t, row[t]), (f"{t}_index", row[f"{t}_index"])]
        tgt = None
        if target:
            tgt = tuple(target) if len(target) > 1 else target[0]
            tgt = self.target_transform(tgt) if self.target_transform is not None else tgt
        values.append(("target", tgt))
        return tuple(v for _, v in values) if self.output_format == "tuple" else dict(values)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> str:
    from tools import make_sample_data

    base = tmp_path_factory.mktemp("caninv") / "root"
    make_sample_data.make_canadian_invertebrates_root(base, n_rows=300, seed=0)
    CanadianInvertebrates(str(base), split="all", modality=())  # builds the store once
    return str(base)


def _assert_same(ours, ref) -> None:
    assert len(ours) == len(ref) > 0
    for i in range(len(ref)):
        assert norm(ours[i]) == norm(ref[i]), i


SPLIT_NAMES = [
    *SPLITS,
    "all",
    "seen",
    "unseen",
    "validation",
    "pretrain+train",
    "val+test_unseen",
    " train + val ",
]


@pytest.mark.parametrize("split", SPLIT_NAMES)
def test_splits_rows_and_samples(root, split):
    kw = dict(
        split=split, modality=("dna", "processid", "split"), target_type=["genus", "species", "dna_bin"]
    )
    ours, ref = CanadianInvertebrates(root, **kw), Reference(root, **kw)
    assert list(ours.metadata.index) == list(ref.metadata.index)
    assert ours.split == ref.split
    _assert_same(ours, ref)


@pytest.mark.parametrize(
    ("output_format", "target_format", "reduce", "max_nucleotides"),
    list(
        itertools.product(
            ("tuple", "dict", "dictionary"), ("index", "text"), (False, True), (660, 100, None, 700)
        )
    ),
)
def test_every_setting(root, output_format, target_format, reduce, max_nucleotides):
    kw = dict(
        split="all" if reduce else "seen",
        modality=("dna", "processid"),
        target_type=["family", "species", "dna_bin"],
        target_format=target_format,
        output_format=output_format,
        reduce_repeated_barcodes=reduce,
        max_nucleotides=max_nucleotides,
    )
    _assert_same(CanadianInvertebrates(root, **kw), Reference(root, **kw))


def test_reduce_depends_on_truncation(root):
    sizes = {mx: len(CanadianInvertebrates(root, split="all", reduce_repeated_barcodes=True, max_nucleotides=mx))
             for mx in (None, 660, 50)}  # fmt: skip
    assert sizes[None] > sizes[660] > sizes[50]
    assert len(CanadianInvertebrates(root, split="all")) == 300  # one row per whole barcode already


def test_label_indices_are_global_and_aliases_work(root):
    every = CanadianInvertebrates(root, split="all", target_type="bin_uri")
    unseen = CanadianInvertebrates(root, split="unseen", target_type="bin_uri", modality=("processid",))
    assert every.target_type == ["dna_bin"] == unseen.target_type
    ref = Reference(root, split="unseen", target_type="bin_uri", modality=("processid",))
    _assert_same(unseen, ref)
    cats = list(ref.metadata["dna_bin"].cat.categories)
    assert every.index2label(np.arange(len(cats)), "dna_bin").tolist() == cats
    assert unseen.index2label(3, "bin_uri") == cats[3] and unseen.label2index(cats[3]) == 3
    with pytest.raises(ValueError, match="Invalid target_type 'dna_barcode'"):  # "nucleotides" is no rank
        CanadianInvertebrates(root, target_type="nucleotides")


def test_transforms_and_empty_targets(root):
    kw = dict(
        split="test",
        target_type=["order", "genus"],
        dna_transform=str.lower,
        target_transform=lambda t: t[::-1],
    )
    _assert_same(CanadianInvertebrates(root, **kw), Reference(root, **kw))
    assert CanadianInvertebrates(root, split="test", target_type=[])[0][-1] is None
    with pytest.raises(RuntimeError, match="target_transform is specified but target_type is empty"):
        CanadianInvertebrates(root, target_type=[], target_transform=abs)


@pytest.mark.parametrize("bad", ["foo", "Train", "train+foo", "key_unseen"])
def test_invalid_split_names(root, bad):
    with pytest.raises(ValueError) as ref_err:
        ref_explode(bad)
    with pytest.raises(ValueError) as ours_err:
        CanadianInvertebrates(root, split=bad)
    assert str(ours_err.value).split(".")[0] == str(ref_err.value).split(".")[0]
    assert "'test_unseen'" in str(ours_err.value) and "'unseen'" in str(ours_err.value)


@pytest.mark.parametrize(
    "kw",
    [{}, {"split": "val"}, {"split": "seen", "reduce_repeated_barcodes": True, "max_nucleotides": None}],
    ids=str,
)
def test_metadata_frames(root, kw):
    ours = CanadianInvertebrates(root, **kw).metadata
    pd.testing.assert_frame_equal(ours, Reference(root, **kw).metadata)
    path = f"{root}/CanadianInvertebrates/CanInv_metadata.csv"
    args = {"split": kw.get("split")} | {k: v for k, v in kw.items() if k != "split"}
    pd.testing.assert_frame_equal(load_canadian_invertebrates_metadata(path, **args), ref_load(path, **args))


def test_loader_without_a_store_parses_the_csv(tmp_path):
    from tools import make_sample_data

    make_sample_data.make_canadian_invertebrates_root(tmp_path, n_rows=60, seed=4)
    path = str(tmp_path / "CanadianInvertebrates" / "CanInv_metadata.csv")
    for kw in ({}, {"split": "unseen", "max_nucleotides": 30, "reduce_repeated_barcodes": True}):
        pd.testing.assert_frame_equal(load_canadian_invertebrates_metadata(path, **kw), ref_load(path, **kw))
    assert not (tmp_path / "CanadianInvertebrates" / "h5").exists()


def test_signature_and_repr(root):
    params = inspect.signature(CanadianInvertebrates).parameters
    peer = {
        "root": inspect.Parameter.empty, "split": "train", "modality": "dna", "reduce_repeated_barcodes": False,
        "max_nucleotides": 660, "target_type": "species", "target_format": "index", "output_format": "tuple",
        "dna_transform": None, "target_transform": None, "download": False,
    }  # fmt: skip
    assert list(params)[: len(peer)] == list(peer)
    assert all(params[k].default == v for k, v in peer.items() if k != "root")
    assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in list(params)[len(peer) :])
    ds = CanadianInvertebrates(root, split="validation", max_nucleotides=100, reduce_repeated_barcodes=True)
    assert repr(ds) == (
        "CanadianInvertebrates Dataset\n"
        f"    Number of samples: {len(ds)}\n"
        f"    Root location: {root}\n"
        "    split: 'val'\n"
        "    modality: ['dna']\n"
        "    reduce_repeated_barcodes: True\n"
        "    max_nucleotides: 100\n"
        "    target_type: ['species']\n"
        "    target_format: 'index'\n"
        "    output_format: 'tuple'"
    )
    assert ds.metadata_path == f"{root}/CanadianInvertebrates/CanInv_metadata.csv"
