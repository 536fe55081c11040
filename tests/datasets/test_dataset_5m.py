"""Behaviour of :class:`bioscan_h5.BIOSCAN5M` beyond the peer's: options, errors, bad images,
building on demand, compressed stores, the batch fast paths and tokenizers (issue 3)."""

from __future__ import annotations

import shlex

import numpy as np
import pytest
import torch
from torchvision.transforms.functional import pil_to_tensor

from bioscan_h5 import (
    BIOSCAN5M,
    ImageUnavailableError,
    SplitNotBuiltError,
    StoreNotFoundError,
    batch_loader,
    open_store,
)
from bioscan_h5.datasets.loader import gather_batch
from bioscan_h5.format import ImageStatus
from tests.helpers.dataset import CLEAN, RANKS, norm, peer_image


def _command(message: str) -> str:
    """The ``bioscan-h5 build ...`` line of an error message."""
    return next(line.strip() for line in message.splitlines() if line.strip().startswith("bioscan-h5 build"))


def _ds(root, **kw) -> BIOSCAN5M:
    kw.setdefault("build", False)
    return BIOSCAN5M(str(root.root) if hasattr(root, "root") else str(root), **kw)


# ----------------------------------------------------------------------------- image formats
def test_image_formats(sample_root_5m, store_5m):
    kw = dict(split="train", modality=("image",), target_type=[])
    pil, arr, ten = (_ds(sample_root_5m, image_format=f, **kw) for f in ("pil", "numpy", "tensor"))
    for i in (0, 5, len(pil) - 1):
        p, a, t = pil[i][0], arr[i][0], ten[i][0]
        assert p.mode == "RGB" and p.size == (256, 256)
        assert isinstance(a, np.ndarray) and a.shape == (256, 256, 3) and a.dtype == np.uint8
        assert isinstance(t, torch.Tensor) and t.shape == (3, 256, 256) and t.dtype == torch.uint8
        # a CHW view of the sample's own HWC storage (channels-last strides, no strided copy)
        assert torch.equal(t, pil_to_tensor(p)) and t.stride() == (1, 3 * 256, 3)
        assert t.permute(1, 2, 0).is_contiguous() and t.untyped_storage().nbytes() == 3 * 256 * 256
        assert np.array_equal(np.asarray(p), a)
        assert torch.equal(t, torch.from_numpy(a).permute(2, 0, 1))
    assert "image_format: 'tensor'" in repr(ten) and "image_format" not in repr(pil)


def test_returned_images_are_independent_copies(sample_root_5m, store_5m):
    """Changing a returned image changes no other sample, nor what the store serves next."""
    kw = dict(split="train", modality=("image",), target_type=[])
    ref = _ds(sample_root_5m, image_format="numpy", **kw)
    before = [ref[i][0].copy() for i in (2, 3)]
    for fmt in ("pil", "numpy", "tensor"):
        ds = _ds(sample_root_5m, image_format=fmt, **kw)
        batch = [s[0] for s in ds.__getitems__([2, 2, 3])] + [ds[2][0]]
        for img in (batch[0], batch[3]):  # the first copy of row 2 from __getitems__, and ds[2]
            if fmt == "pil":
                img.paste((1, 2, 3), (0, 0, 256, 256))
            else:
                img[...] = 7
        assert np.array_equal(
            np.asarray(batch[1]) if fmt != "tensor" else batch[1].permute(1, 2, 0), before[0]
        )
        assert np.array_equal(
            np.asarray(batch[2]) if fmt != "tensor" else batch[2].permute(1, 2, 0), before[1]
        )
        assert np.array_equal(ref[2][0], before[0]) and np.array_equal(ref[3][0], before[1])


@pytest.mark.parametrize("image_format", ["pil", "numpy", "tensor"])
def test_transform_receives_the_image(sample_root_5m, store_5m, image_format):
    seen = []
    ds = _ds(
        sample_root_5m, split="val_unseen", image_format=image_format, transform=lambda x: seen.append(x) or 1
    )
    assert ds[0][0] == 1 and len(seen) == 1
    assert type(seen[0]).__name__ == {"pil": "Image", "numpy": "ndarray", "tensor": "Tensor"}[image_format]


# ----------------------------------------------------------------------------- option errors
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (
            {"image_format": "jpeg"},
            r"Unknown image_format: 'jpeg'\. Valid values are: 'pil', 'numpy', 'tensor'",
        ),
        ({"target_format": "name"}, r"Unknown target_format: 'name'"),
        ({"output_format": "list"}, r"Unknown output_format: 'list'"),
        ({"build": "yes"}, r"Unknown build: 'yes'"),
        ({"image_package": "cropped_512"}, r"Unknown image_package: 'cropped_512'"),
        ({"target_type": "kingdom"}, r"Invalid target_type 'kingdom'\. Valid target types are: 'phylum'"),
        ({"modality": ("image", "colour")}, r"Unfamiliar modality: 'colour'"),
        ({"max_nucleotides": -1}, r"max_nucleotides must be a non-negative integer or None"),
        ({"max_nucleotides": 6.5}, r"max_nucleotides must be a non-negative integer or None"),
    ],
)
def test_invalid_options_are_refused_at_construction(sample_root_5m, store_5m, kw, match):
    with pytest.raises(ValueError, match=match):
        _ds(sample_root_5m, **kw)


def test_output_format_dictionary_alias(sample_root_5m, store_5m):
    ds = _ds(sample_root_5m, split="test", output_format="dictionary", modality=("dna",))
    assert ds.output_format == "dict" and set(ds[0]) == {"dna", "species", "species_index", "target"}


# ----------------------------------------------------------------------------- barcodes
def test_max_nucleotides_beyond_the_store_is_an_error(sample_root_5m, store_600):
    with pytest.raises(ValueError, match=r"max_nucleotides=660 asks for more than the store holds") as e:
        _ds(sample_root_5m, store=store_600, split="all", modality=("dna",))
    msg = str(e.value)
    assert "keeps the first 600 nucleotides" in msg and "--max-nucleotides none" in msg
    with pytest.raises(ValueError, match="asks for more than the store holds"):
        _ds(sample_root_5m, store=store_600, split="all", modality=("dna",), max_nucleotides=None)
    with pytest.raises(
        ValueError, match="asks for more than the store holds"
    ):  # the reduction compares barcodes
        _ds(sample_root_5m, store=store_600, split="all", modality=(), reduce_repeated_barcodes=True)
    # no barcode read: nothing to refuse
    assert (
        len(_ds(sample_root_5m, store=store_600, split="all", modality=("processid",)))
        == sample_root_5m.n_rows
    )


def test_max_nucleotides_within_the_store(sample_root_5m, store_600, peer_factory):
    for n in (600, 599, 10, 0):
        kw = dict(split="all", modality=("dna",), max_nucleotides=n, target_type=[])
        ours, peer = _ds(sample_root_5m, store=store_600, **kw), peer_factory(**kw)
        assert [ours[i][0] for i in range(len(ours))] == [peer[i][0] for i in range(len(peer))]
    ds = _ds(sample_root_5m, store=store_600, split="all", modality="dna", max_nucleotides=600)
    assert max(len(ds[i][0]) for i in range(len(ds))) == 600


def test_whole_barcodes_need_a_whole_barcode_store(sample_root_5m, store_5m, full_store_5m):
    # The default store keeps every barcode whole (issue 13): it serves max_nucleotides=None.
    default = _ds(sample_root_5m, split="all", modality=("dna",), max_nucleotides=None)
    whole = _ds(sample_root_5m, store=full_store_5m, split="all", modality=("dna",), max_nucleotides=None)
    assert [default[i] for i in range(len(default))] == [whole[i] for i in range(len(whole))]
    ds = _ds(sample_root_5m, store=full_store_5m, split="all", modality=("dna",), max_nucleotides=None)
    lengths = [len(ds[i][0]) for i in range(len(ds))]
    assert max(lengths) > 660 and "max_nucleotides: None" in repr(ds)


def test_missing_barcodes_are_nan(make_root, build_store, tmp_path):
    root = make_root(missing_barcodes=3, n_rows=96)
    store = build_store(root, no_images=True, out=tmp_path / "s.h5").store
    ds = _ds(root, store=store, split="pretrain", modality=("dna", "processid"), target_type=[])
    values = [ds[i] for i in range(len(ds))]
    missing = [v for v in values if norm(v[0]) == "<missing>"]
    assert len(missing) == 3 and all(isinstance(v[0], float) for v in missing)
    batch = gather_batch(ds, range(len(ds)))
    assert int((batch["dna_length"] < 0).sum()) == 3


# ----------------------------------------------------------------------------- bad images
def test_bad_images_stay_in_the_split_and_raise_on_read(sample_root_5m, store_5m):
    faults = {f["row"]: f for f in sample_root_5m.faults()}
    undecodable = set(sample_root_5m.undecodable_rows)
    reasons = {
        "zero_bytes": "empty (0 bytes)",
        "missing": "missing",
        "truncated": "could not be decoded",
        "not_an_image": "could not be decoded",
    }
    for split in ("val", "test"):
        ds = _ds(sample_root_5m, split=split)
        assert len(ds) == len(sample_root_5m.split_rows(split))
        good = next(i for i, r in enumerate(ds.rows) if r not in undecodable)
        for i, row in enumerate(ds.rows):
            if row in undecodable:
                f = faults[row]
                with pytest.raises(ImageUnavailableError, match=repr(f["processid"])) as e:
                    ds[i]
                assert reasons[f["kind"]] in str(e.value) and "drop_bad_images=True" in str(e.value)
                with pytest.raises(ImageUnavailableError, match=repr(f["processid"])):
                    ds.__getitems__([good, i])
                with pytest.raises(ImageUnavailableError, match=repr(f["processid"])):
                    gather_batch(ds, [good, i])
            else:
                img = ds[i][0]
                assert img.mode == "RGB"
        # without the image modality the rows read as usual
        no_img = _ds(sample_root_5m, split=split, modality=("dna",))
        assert len([no_img[i] for i in range(len(no_img))]) == len(ds)


def test_drop_bad_images(sample_root_5m, store_5m):
    undecodable = set(sample_root_5m.undecodable_rows)
    decodable_faults = {f["row"] for f in sample_root_5m.faults() if f["decodes"]}
    for split in ("val", "test", "seen", "all"):
        full, dropped = (
            _ds(sample_root_5m, split=split),
            _ds(sample_root_5m, split=split, drop_bad_images=True),
        )
        assert list(dropped.rows) == [r for r in full.rows if r not in undecodable]
        assert len(dropped) < len(full)
        assert decodable_faults & set(full.rows) <= set(dropped.rows)
        assert "drop_bad_images: True" in repr(dropped) and "drop_bad_images" not in repr(full)
        for i in range(len(dropped)):
            dropped[i]
    # a split without bad images loses nothing
    assert len(_ds(sample_root_5m, split="train", drop_bad_images=True)) == len(
        _ds(sample_root_5m, split="train")
    )


def test_decodable_faults_are_rgb(sample_root_5m, store_5m):
    with open_store(store_5m) as st:
        for kind in ("grayscale", "cmyk", "png_named_jpg"):
            row = sample_root_5m.fault_row(kind)
            assert st.image_status[row] == ImageStatus.OK
            from PIL import Image

            with Image.open(sample_root_5m.fault_path(kind)) as src:
                assert np.array_equal(st.images[row], peer_image(src)), kind


# ----------------------------------------------------------------------------- building
def test_no_store_build_auto_builds_and_logs(make_root, capfd):
    root = make_root()
    ds = BIOSCAN5M(str(root.root), split="val_unseen")
    err = capfd.readouterr().err
    path = root.dataset_dir / "h5" / "bioscan5m_cropped_256_256px.h5"
    assert path.exists() and ds.store_path == str(path)
    assert f"bioscan-h5: building {path}" in err
    assert f"bioscan-h5: built {path} in " in err and " s (" in err
    assert len(ds) == len(root.split_rows("val_unseen"))
    ds[0]


def test_no_store_build_false_gives_the_command(make_root, tmp_path):
    import shutil

    from bioscan_h5.cli import main

    src = make_root()
    root = tmp_path / "a root with spaces"
    shutil.copytree(src.root, root)
    with pytest.raises(StoreNotFoundError) as e:
        BIOSCAN5M(str(root), split="val_unseen", build=False)
    msg = str(e.value)
    assert "no store at" in msg and "build='auto'" in msg
    cmd = _command(msg)
    assert not (root / "bioscan5m" / "h5").exists()
    argv = shlex.split(cmd)
    assert argv[argv.index("--root") + 1] == str(root)
    assert main([*argv[1:], "--no-progress"]) == 0
    ds = BIOSCAN5M(str(root), split="val_unseen", build=False)
    assert len(ds) == len(src.split_rows("val_unseen"))
    ds[0]


def test_neither_store_nor_raw_data(tmp_path):
    with pytest.raises(StoreNotFoundError) as e:
        BIOSCAN5M(str(tmp_path), split="train")
    msg = str(e.value)
    assert "no raw data" in msg
    assert str(tmp_path / "bioscan5m" / "metadata" / "csv" / "BIOSCAN_5M_Insect_Dataset_metadata.csv") in msg
    assert str(tmp_path / "bioscan5m" / "h5" / "bioscan5m_cropped_256_256px.h5") in msg
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(StoreNotFoundError, match="the store= argument"):
        BIOSCAN5M(store=tmp_path / "nope.h5")


@pytest.mark.subprocess
def test_split_not_built(make_root, build_store, store_5m, run_cli, capfd):
    root = make_root()
    build_store(root, splits="val")
    keep = _ds(root, split="val_unseen+val", modality=("dna",))
    keep[0]  # a dataset of this process holds the store open while it is extended
    with pytest.raises(SplitNotBuiltError) as e:
        _ds(root, split="train")
    msg = str(e.value)
    assert "split 'train'" in msg and "not built" in msg
    cmd = _command(msg)
    assert "--splits train" in cmd
    # other modalities need no images
    assert len(_ds(root, split="train", modality=("dna",))) == len(root.split_rows("train"))
    # build on demand: the missing split is added to the same store
    capfd.readouterr()
    ds = BIOSCAN5M(str(root.root), split="pretrain+train")
    assert "bioscan-h5: building" in capfd.readouterr().err
    ref = _ds(_elsewhere(root), store=store_5m, split="pretrain+train", image_format="numpy")
    ds_np = _ds(root, split="pretrain+train", image_format="numpy")
    assert len(ds) == len(ref)
    for i in range(0, len(ds), 9):
        assert np.array_equal(ds_np[i][0], ref[i][0]) and norm(ds_np[i][1:]) == norm(ref[i][1:])
    other = _ds(_elsewhere(root), store=store_5m, split="val_unseen+val", modality=("dna",))
    assert norm(keep[0]) == norm(other[0])
    # and the printed command works as well (run in another process: this one holds the store)
    with pytest.raises(SplitNotBuiltError) as e:
        _ds(root, split="key_unseen")
    res = run_cli(*shlex.split(_command(str(e.value)))[1:], "--no-progress")
    assert res.returncode == 0, res.stderr
    _ds(root, split="key_unseen")[0]


def _elsewhere(root):
    """A root argument for reading another store of the same data with store= (nothing is built there)."""
    return root.root.parent / "unused"


def test_split_not_built_keeps_the_stores_build_arguments(make_root, build_store, tmp_path, capfd):
    """Extending a store made with --max-nucleotides 600 --compression lzf --out X repeats them."""
    root = make_root()
    out = tmp_path / "custom.h5"
    build_store(root, splits="val", max_nucleotides=600, compression="lzf", out=out)
    with pytest.raises(SplitNotBuiltError) as e:
        _ds(root, store=out, split="test", max_nucleotides=600)
    cmd = str(e.value).splitlines()[-1].strip()
    for part in ("--max-nucleotides 600", "--compression lzf", f"--out {out}", "--splits test"):
        assert part in cmd
    ds = BIOSCAN5M(str(root.root), store=out, split="test", max_nucleotides=600, drop_bad_images=True)
    assert "building" in capfd.readouterr().err
    ds[0]
    with open_store(out) as st:
        assert st.max_nucleotides == 600 and not st.memory_mapped


# ----------------------------------------------------------------------------- compressed stores
def test_compressed_store_reads_the_same(sample_root_5m, store_5m, lzf_store):
    with open_store(lzf_store) as st:
        assert not st.memory_mapped and st.info()["compression"] == "lzf"
    kw = dict(split=CLEAN, image_format="numpy", output_format="dict", target_type=["genus", "species"])
    plain, lzf = _ds(sample_root_5m, **kw), _ds(sample_root_5m, store=lzf_store, **kw)
    assert len(plain) == len(lzf)
    idx = list(range(0, len(plain), 5))
    for i in idx:
        a, b = plain[i], lzf[i]
        assert np.array_equal(a.pop("image"), b.pop("image")) and norm(a) == norm(b)
    items = lzf.__getitems__(idx[::-1])
    assert all(np.array_equal(s["image"], plain[i]["image"]) for s, i in zip(items, idx[::-1]))
    ba, bb = gather_batch(plain, idx), gather_batch(lzf, idx)
    assert torch.equal(ba["image"], bb["image"]) and torch.equal(ba["target"], bb["target"])


# ----------------------------------------------------------------------------- fast paths
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"image_format": "numpy", "output_format": "dict", "target_type": ["genus", "species"]},
        {"image_format": "tensor", "modality": ("image", "dna", "coord-lat", "country", "species_index")},
        {"modality": ("dna", "processid"), "target_format": "text", "reduce_repeated_barcodes": True},
        {"image_format": "tensor", "transform": lambda t: t.float().mean(), "target_transform": lambda t: -t},
    ],
)
def test_getitems_equals_getitem(sample_root_5m, store_5m, kw):
    ds = _ds(sample_root_5m, split=CLEAN, **kw)
    idx = np.random.default_rng(0).permutation(len(ds))[:64].tolist()
    idx += idx[:3]  # repeated indices
    batch = ds.__getitems__(idx)
    assert len(batch) == len(idx)
    for i, got in zip(idx, batch):
        assert _comparable(got) == _comparable(ds[i])


def _comparable(sample):
    def one(v):
        if isinstance(v, torch.Tensor):
            # the layout too: a float reduction in a transform depends on it
            return ("tensor", v.dtype, tuple(v.shape), v.stride(), v.numpy().tobytes())
        if isinstance(v, np.ndarray):
            return ("array", v.dtype, v.shape, v.tobytes())
        if hasattr(v, "tobytes") and hasattr(v, "mode"):
            return ("pil", v.mode, v.size, v.tobytes())
        return norm(v)

    if isinstance(sample, dict):
        return {k: one(v) for k, v in sample.items()}
    return tuple(one(v) for v in sample)


def test_getitems_is_used_by_the_dataloader(sample_root_5m, store_5m):
    ds = _ds(sample_root_5m, split="train", image_format="tensor")
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    first = next(iter(loader))
    ref = [ds[i] for i in range(8)]
    assert torch.equal(first[0], torch.stack([r[0] for r in ref]))
    assert list(first[1]) == [r[1] for r in ref] and first[2].tolist() == [r[2] for r in ref]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {
            "modality": ("image", "dna", "coord-lat", "country", "genus_index", "inferred_ranks"),
            "target_type": ["genus", "species"],
        },
        {"modality": ("dna",), "max_nucleotides": 40, "target_type": "dna_bin"},
        {"modality": ("image",), "target_type": []},
    ],
)
def test_batch_loader_equals_stacked_samples(sample_root_5m, store_5m, kw):
    ds = _ds(sample_root_5m, split=CLEAN, image_format="tensor", output_format="dict", **kw)
    per = _ds(sample_root_5m, split=CLEAN, image_format="tensor", output_format="dict", **kw)
    g = torch.Generator().manual_seed(0)
    seen = []
    for batch in batch_loader(ds, batch_size=50, shuffle=True, generator=g):
        idx = batch["index"].tolist()
        seen += idx
        samples = [per[i] for i in idx]
        for m in ds.modality:
            got = batch[m]
            want = [s[m] for s in samples]
            if m == "image":
                assert got.shape == (len(idx), 3, 256, 256) and torch.equal(got, torch.stack(want))
            elif m == "dna":
                lengths = batch["dna_length"].tolist()
                strings = [bytes(row[:n]).decode() for row, n in zip(batch["dna"].numpy(), lengths)]
                assert strings == want
            elif isinstance(got, torch.Tensor):
                assert norm(got.tolist()) == norm(want), m
            else:
                assert norm(list(got)) == norm(want), m
        for t in ds.target_type:
            assert batch[f"{t}_index"].tolist() == [s[f"{t}_index"] for s in samples]
            assert norm(batch[t]) == norm([s[t] for s in samples])
        if ds.target_type:
            want = [s["target"] for s in samples]
            assert norm(batch["target"].tolist()) == norm(
                [list(w) if isinstance(w, tuple) else w for w in want]
            )
        else:
            assert "target" not in batch
    assert sorted(seen) == list(range(len(ds)))


def test_batch_loader_drop_last_and_sampler(sample_root_5m, store_5m):
    ds = _ds(sample_root_5m, split="pretrain", modality=("dna",))
    sizes = [len(b["index"]) for b in batch_loader(ds, batch_size=64, drop_last=True)]
    assert sizes == [64] * (len(ds) // 64)
    order = [5, 3, 1, 200, 7]
    got = [b["index"].tolist() for b in batch_loader(ds, batch_size=2, sampler=order)]
    assert got == [[5, 3], [1, 200], [7]]


# ----------------------------------------------------------------------------- tokenizers
def test_tokenizer_as_dna_transform(sample_root_5m, store_5m, peer_factory):
    tokenizers = pytest.importorskip("bioscan_h5.tokenizers")
    for tok in (tokenizers.barcodebert_tokenizer(), tokenizers.clibd_tokenizer(), tokenizers.CharTokenizer()):
        for max_nt in (660, 50):
            kw = dict(split="all", modality=("dna",), target_type=[], max_nucleotides=max_nt)
            ours = _ds(sample_root_5m, dna_transform=tok, **kw)
            peer = peer_factory(**kw)
            for i in range(0, len(ours), 11):
                assert torch.equal(ours[i][0], tok(peer[i][0])), (tok, i)
            batch = gather_batch(ours, range(len(ours)))
            assert torch.equal(batch["dna"], torch.stack([ours[i][0] for i in range(len(ours))]))
            assert batch["dna_mask"].shape == batch["dna"].shape
    assert "dna_transform: " in repr(ours)


def test_label_codes_are_python_ints(sample_root_5m, store_5m):
    ds = _ds(
        sample_root_5m,
        split="train",
        modality=("species_index",),
        target_type=list(RANKS),
        output_format="dict",
    )
    s = ds[0]
    assert all(type(s[f"{r}_index"]) is int for r in RANKS) and all(type(v) is int for v in s["target"])


def test_tokens_precomputed_by_the_build(sample_root_5m, store_5m, tmp_path, build_store):
    """A store built with --tokenize serves the same tokens as tokenizing on the fly."""
    tokenizers = pytest.importorskip("bioscan_h5.tokenizers")
    out = tmp_path / "tok.h5"
    build_store(sample_root_5m, no_images=True, tokenize=("barcodebert",), out=out)
    tok = tokenizers.barcodebert_tokenizer()
    kw = dict(split="all", modality=("dna",), target_type=[], dna_transform=tok)
    stored, fly = _ds(sample_root_5m, store=out, **kw), _ds(sample_root_5m, **kw)
    for i in range(0, len(fly), 13):
        assert torch.equal(stored[i][0], fly[i][0])
    a, b = gather_batch(stored, range(len(fly))), gather_batch(fly, range(len(fly)))
    assert torch.equal(a["dna"], b["dna"]) and torch.equal(a["dna_mask"], b["dna_mask"])
