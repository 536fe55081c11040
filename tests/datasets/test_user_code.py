"""batch_loader and the datasets as users write code with them: kept batches, per-sample options,
Subset / random_split / ConcatDataset, label discovery, the package's submodules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset, WeightedRandomSampler, random_split

import bioscan_h5
from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.errors import InvalidArgumentError, KeptBatchWarning
from bioscan_h5.tokenizers import KmerTokenizer
from tests.helpers.dataset import CLEAN, norm

KW = dict(split=CLEAN, image_format="tensor", modality=("image", "dna"), target_type="species")
KEPT = pytest.mark.filterwarnings("ignore::bioscan_h5.errors.KeptBatchWarning")


@pytest.fixture(scope="module")
def root(sample_root_5m, store_5m) -> str:
    return str(sample_root_5m.root)


@pytest.fixture(scope="module")
def ds(root) -> BIOSCAN5M:
    return BIOSCAN5M(root, build=False, **KW)


def _reference_targets(ds) -> torch.Tensor:
    """Targets in order, as a DataLoader over the dataset's samples gives them."""
    return torch.cat([t for *_, t in DataLoader(ds, batch_size=64)])


# ----------------------------------------------------------------------------- kept batches
@KEPT
@pytest.mark.parametrize("num_workers", [0, 1, 2])
def test_an_evaluation_loop_that_appends_targets_gets_the_targets(ds, num_workers):
    targets, images = [], []
    for batch in batch_loader(ds, batch_size=16, num_workers=num_workers):
        targets.append(batch["target"])
        images.append(batch["image"])
    assert torch.equal(torch.cat(targets), _reference_targets(ds))
    reference = torch.stack([ds[i][0] for i in range(len(ds))])
    assert torch.equal(torch.cat(images), reference)


@KEPT
@pytest.mark.parametrize("keep", ["cpu", "numpy", "detach", "long", "view"])
def test_whatever_form_a_kept_batch_takes_it_stays_intact(ds, keep):
    kept = []
    for batch in batch_loader(ds, batch_size=16, num_workers=2):
        image = batch["image"]
        if keep == "cpu":
            kept.append(image.cpu())
        elif keep == "numpy":
            kept.append(image.numpy())
        elif keep == "detach":
            kept.append(image.detach())
        elif keep == "long":
            kept.append(batch["target"].long())
            continue
        else:
            kept.append(image[:, :, :8, :8])
    got = torch.cat([torch.as_tensor(k) for k in kept])
    if keep == "long":
        assert torch.equal(got, _reference_targets(ds))
        return
    reference = torch.stack([ds[i][0] for i in range(len(ds))])
    assert torch.equal(got, reference[:, :, :8, :8] if keep == "view" else reference)


def test_list_of_a_loader_warns_once_and_holds_every_batch(ds):
    with pytest.warns(KeptBatchWarning) as caught:
        batches = list(batch_loader(ds, batch_size=16, num_workers=2))
    assert len([w for w in caught if w.category is KeptBatchWarning]) == 1
    assert torch.equal(torch.cat([b["target"] for b in batches]), _reference_targets(ds))
    assert torch.equal(torch.cat([b["index"] for b in batches]), torch.arange(len(ds)))
    first = torch.stack([ds[i][0] for i in range(16)])
    assert torch.equal(batches[0]["image"], first)


@KEPT
@pytest.mark.parametrize("num_workers", [0, 2])
def test_gradient_accumulation_over_three_micro_batches(ds, num_workers):
    """Micro-batches held until the step: each one's pixels are its own."""
    held, sums = [], []
    for batch in batch_loader(ds, batch_size=8, num_workers=num_workers, shuffle=True):
        held.append(batch)
        if len(held) == 3:
            sums.append([(b["index"].clone(), b["image"].sum(dim=(1, 2, 3))) for b in held])
            held.clear()
    for step in sums:
        for index, total in step:
            expect = torch.stack([ds[int(i)][0].sum(dtype=torch.int64) for i in index])
            assert torch.equal(total, expect)


def test_copy_true_keeps_batches_without_a_warning(ds, recwarn):
    batches = list(batch_loader(ds, batch_size=16, copy=True))
    assert not [w for w in recwarn if w.category is KeptBatchWarning]
    assert torch.equal(torch.cat([b["target"] for b in batches]), _reference_targets(ds))


# ----------------------------------------------------------------------------- per-sample options
def _collated(ds, batch_size: int) -> list:
    return list(DataLoader(ds, batch_size=batch_size))


def test_a_transform_on_the_dataset_is_applied_to_each_sample(root):
    def transform(image):  # a user's per-sample transform, on the tensor the sample holds
        return image[:, 16:48, 16:48].float() / 255

    ds = BIOSCAN5M(root, build=False, **{**KW, "transform": transform})
    for batch, (image, _, target) in zip(batch_loader(ds, batch_size=32, num_workers=2), _collated(ds, 32)):
        assert batch["image"].dtype == torch.float32 and batch["image"].shape[1:] == (3, 32, 32)
        assert torch.equal(batch["image"], image)
        assert torch.equal(batch["target"], target)


def test_torchvision_transforms_on_pil_samples(root):
    from torchvision.transforms import v2

    tf = v2.Compose([v2.PILToTensor(), v2.CenterCrop(200), v2.ToDtype(torch.float32, scale=True)])
    ds = BIOSCAN5M(root, build=False, **{**KW, "image_format": "pil", "transform": tf})
    batch = next(iter(batch_loader(ds, batch_size=8)))
    image, _, _ = _collated(ds, 8)[0]
    assert torch.equal(batch["image"], image)


def test_target_transform_text_targets_and_dna_transform(root):
    ds = BIOSCAN5M(
        root,
        build=False,
        split=CLEAN,
        modality=("dna",),
        target_type=["genus", "species"],
        target_format="text",
        dna_transform=lambda s: len(s) if isinstance(s, str) else -1,
    )
    batch = next(iter(batch_loader(ds, batch_size=16, num_workers=1)))
    samples = [ds[i] for i in range(16)]
    assert norm(batch["target"]) == norm([t for _, t in samples])  # tuples of names, as the samples hold them
    assert batch["dna"].tolist() == [d for d, _ in samples]
    assert norm(batch["species"]) == norm([t[1] for _, t in samples])
    assert (
        batch["species_index"].tolist()
        == ds.label2index([_name(t[1]) or "" for _, t in samples], "species").tolist()
    )

    ds2 = BIOSCAN5M(
        root,
        build=False,
        split=CLEAN,
        modality=("dna",),
        target_type="species",
        target_transform=lambda t: t + 1,
    )
    batch = next(iter(batch_loader(ds2, batch_size=16)))
    assert batch["target"].tolist() == [ds2[i][1] for i in range(16)]


def _name(value):
    return value if isinstance(value, str) else None


def test_dict_samples_and_batches_mean_the_same_keys(root):
    ds = BIOSCAN5M(root, build=False, **{**KW, "output_format": "dict", "target_type": ["genus", "species"]})
    batch = next(iter(batch_loader(ds, batch_size=8)))
    for i in range(8):
        sample = ds[i]
        for rank in ("genus", "species"):
            assert norm(batch[rank][i]) == norm(sample[rank])  # the name in both
            assert int(batch[f"{rank}_index"][i]) == sample[f"{rank}_index"]


def test_a_tokenizer_encode_method_is_batched(root):
    tok = KmerTokenizer(k=4, max_len=170)
    ds = BIOSCAN5M(
        root, build=False, split=CLEAN, modality=("dna",), target_type="species", dna_transform=tok.encode
    )
    batch = next(iter(batch_loader(ds, batch_size=16)))
    ids, mask = zip(*[ds[i][0] for i in range(16)])
    assert torch.equal(batch["dna"], torch.stack(ids)) and torch.equal(batch["dna_mask"], torch.stack(mask))


def test_gpu_decode_with_a_per_sample_transform_is_refused_at_construction(root, jpeg_store_5m):
    ds = BIOSCAN5M(root, store=jpeg_store_5m, **{**KW, "transform": lambda x: x})
    with pytest.raises(InvalidArgumentError, match="batch_transform"):
        batch_loader(ds, decode="cuda")


# ----------------------------------------------------------------------------- dataset wrappers
def test_subset_and_random_split_parts(ds):
    train, val = random_split(ds, [0.75, 0.25], generator=torch.Generator().manual_seed(0))
    for part in (train, val, Subset(train, [3, 1, 2])):
        got = torch.cat([b["target"] for b in batch_loader(part, batch_size=16, num_workers=2)])
        assert torch.equal(got, torch.cat([t for *_, t in DataLoader(part, batch_size=16)]))
    batch = next(iter(batch_loader(val, batch_size=4)))
    assert batch["index"].tolist() == [
        0,
        1,
        2,
        3,
    ]  # indices into the part, as DataLoader's sampler gives them


def test_concat_of_two_splits_and_refusals(root, ds):
    a = BIOSCAN5M(root, build=False, **{**KW, "split": "val"}, drop_bad_images=True)
    b = BIOSCAN5M(root, build=False, **{**KW, "split": "test"}, drop_bad_images=True)
    both = ConcatDataset([a, b])
    got = torch.cat([x["target"] for x in batch_loader(both, batch_size=16)])
    assert torch.equal(got, torch.cat([t for *_, t in DataLoader(both, batch_size=16)]))
    other = BIOSCAN5M(root, build=False, **{**KW, "target_type": "genus"})
    with pytest.raises(InvalidArgumentError, match="same samples"):
        batch_loader(ConcatDataset([ds, other]))

    class Mine(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return i

    with pytest.raises(InvalidArgumentError, match="DataLoader"):
        batch_loader(Mine())


# ----------------------------------------------------------------------------- labels
def _get_dataset_labels(dataset) -> np.ndarray:
    """A port of the label discovery of sampler libraries (BarcodeMAE's, torchvision users'):
    ``labels``, then ``targets``, then one sample at a time."""
    for name in ("labels", "targets"):
        labels = getattr(dataset, name, None)
        if labels is not None:
            return np.asarray(labels)
    return np.asarray([dataset[i][-1] for i in range(len(dataset))])


def test_a_sampler_library_finds_one_label_per_sample(ds):
    labels = _get_dataset_labels(ds)
    assert labels.shape == (len(ds),)
    assert np.array_equal(labels, _reference_targets(ds).numpy())
    counts = ds.class_counts()
    assert counts.sum() == (labels >= 0).sum() and len(counts) == ds.num_classes()
    assert np.array_equal(counts, np.bincount(labels[labels >= 0], minlength=ds.num_classes()))
    # a class-balanced sampler built from them, as such libraries build it
    weights = np.where(labels >= 0, 1.0 / np.maximum(counts[np.maximum(labels, 0)], 1), 0.0)
    sampler = WeightedRandomSampler(weights, num_samples=len(ds), generator=torch.Generator().manual_seed(0))
    drawn = labels[list(sampler)]
    assert len(np.unique(drawn)) > 1 and (drawn >= 0).all()


def test_targets_with_several_ranks_and_other_ranks(root):
    ds = BIOSCAN5M(root, build=False, split=CLEAN, modality=(), target_type=["genus", "species"])
    assert ds.targets.shape == (len(ds), 2)
    assert np.array_equal(ds.targets[:, 1], ds.label_indices("species"))
    assert ds.num_classes("family") == len(ds.label_space.vocab("family"))
    with pytest.raises(InvalidArgumentError, match="column must be specified"):
        ds.num_classes()
    assert not hasattr(ds, "labels")


def test_the_package_imports_its_dataset_modules():
    import importlib
    import subprocess
    import sys

    code = "import bioscan_h5 as bd; print(bd.bioscan5m.RGB_MEAN, bd.bioscan1m.__name__, bd.canadian_invertebrates.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "bioscan_h5.bioscan1m" in out and "bioscan_h5.canadian_invertebrates" in out
    assert importlib.import_module("bioscan_h5.bioscan5m") is bioscan_h5.bioscan5m


def test_dense_labels_renumber_a_split_for_a_classifier(root):
    kw = dict(split="val", modality=("dna",), target_type=["genus", "species"], build=False)
    plain, dense = BIOSCAN5M(root, **kw), BIOSCAN5M(root, **kw, dense_labels=True)
    for k, rank in enumerate(("genus", "species")):
        labels = dense.targets[:, k]
        n = dense.num_classes(rank)
        assert sorted(set(labels[labels >= 0].tolist())) == list(range(n))  # 0..n-1, every one used
        assert n == len(set(plain.targets[:, k][plain.targets[:, k] >= 0].tolist()))
        # the same labels by name, in the store's order
        assert list(dense.index2label(labels, rank)) == list(plain.index2label(plain.targets[:, k], rank))
    batch = next(iter(batch_loader(dense, batch_size=len(dense))))
    assert np.array_equal(batch["target"].numpy(), dense.targets)
    workers = torch.cat(list(DataLoader(dense, batch_size=4, num_workers=1, collate_fn=_targets)))
    assert np.array_equal(workers.numpy(), dense.targets)  # the numbering reaches worker processes
    assert "dense_labels: True" in repr(dense)


def _targets(samples) -> torch.Tensor:
    return torch.tensor([list(t) for _, t in samples])


def test_assigning_a_transform_as_on_the_peer_takes_effect(root):
    """``ds.transform = t`` (torchvision's habit, after ``random_split`` for example) is honoured by
    ``ds[i]``, ``__getitems__`` and ``batch_loader``; the other options stay read-only."""
    ds = BIOSCAN5M(root, build=False, **KW)
    plain = ds[0][0]
    ds.transform = lambda img: img.float() / 255
    ds.target_transform = lambda t: t + 1000
    image, _, target = ds[0]
    assert image.dtype == torch.float32 and torch.equal(image, plain.float() / 255)
    assert target == BIOSCAN5M(root, build=False, **KW)[0][2] + 1000
    assert ds.transform is ds.options.transform
    batch = next(iter(batch_loader(ds, batch_size=4)))
    assert batch["image"].dtype == torch.float32 and torch.equal(batch["image"][0], image)
    with pytest.raises(AttributeError):
        ds.target_type = "genus"
