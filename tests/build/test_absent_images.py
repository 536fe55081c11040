"""A root that holds the metadata but not every split's images: nothing is written for absent
splits; a split asked for by name is refused with the fix; ``--splits all`` leaves it out."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from bioscan_h5 import BIOSCAN5M, open_store
from bioscan_h5.errors import SourceFileNotFoundError, SplitNotBuiltError
from bioscan_h5.format import ImageStatus

EVAL = ("val", "test", "val_unseen", "test_unseen", "key_unseen")


def _eval_only(root) -> str:
    """Remove every image folder but the evaluation splits' (as a user who downloaded those)."""
    images = os.path.join(root.root, "bioscan5m", "images", "cropped_256")
    for split in os.listdir(images):
        if split not in EVAL:
            shutil.rmtree(os.path.join(images, split))
    return images


def open_store_rows(root, split: str) -> list[int]:
    """The rows of ``split`` in the root's metadata file."""
    import pandas as pd

    meta = pd.read_csv(root.metadata)
    return list(np.flatnonzero(meta["split"].to_numpy() == split))


def _h5_files(root) -> list[str]:
    folder = os.path.join(root.root, "bioscan5m", "h5")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_a_dataset_of_an_absent_split_is_refused_before_anything_is_written(make_root):
    root = make_root()
    images = _eval_only(root)
    with pytest.raises(SourceFileNotFoundError) as err:
        BIOSCAN5M(root.root, split="pretrain")
    msg = str(err.value)
    assert "'pretrain'" in msg and os.path.join(images, "pretrain") in msg
    n = len(open_store_rows(root, "pretrain"))
    assert f"{n} of its {n} image files are absent" in msg
    assert "download=True" in msg and "modality=('dna',)" in msg and "bioscan-h5 download" in msg
    assert not any(f.endswith(".h5") for f in _h5_files(root))  # no store of zeros
    # what the message offers works: the barcodes alone, and an eval split with its images
    dna = BIOSCAN5M(root.root, split="pretrain", modality=("dna",))
    assert len(dna) > 0 and isinstance(dna[0][0], str)
    val = BIOSCAN5M(root.root, split="val", image_format="tensor", drop_bad_images=True)
    assert val[0][0].shape == (3, 256, 256)


def test_build_all_leaves_absent_splits_out_and_says_so(make_root, run_cli, tmp_path):
    root = make_root()
    _eval_only(root)
    out = tmp_path / "eval.h5"
    res = run_cli("build", "--root", root.root, "--out", out, "--workers", 1)
    assert res.returncode == 0, res.stderr
    assert "left out" in res.stdout and "pretrain" in res.stdout and "train" in res.stdout
    assert "missing" in res.stdout and "bad" in res.stdout
    st = open_store(out)
    status = np.asarray(st.image_status)
    pretrain = st.indices("pretrain")
    assert (status[pretrain] == ImageStatus.PENDING).all()  # never decoded, never written
    assert (status[st.indices("val")] != ImageStatus.PENDING).all()
    # the pixels of the left-out rows take no disk: the file is about the eval images' size
    eval_rows = sum(len(st.indices(s)) for s in EVAL)
    assert os.stat(out).st_blocks * 512 < (eval_rows + 40) * 256 * 256 * 3
    with pytest.raises(SplitNotBuiltError):
        BIOSCAN5M(root.root, store=out, split="pretrain", build=False)


def test_build_a_named_split_without_images_exits_with_the_fix(make_root, run_cli, tmp_path):
    root = make_root()
    _eval_only(root)
    out = tmp_path / "train.h5"
    res = run_cli("build", "--root", root.root, "--out", out, "--splits", "train+val")
    assert res.returncode != 0
    assert "'train'" in res.stderr and "bioscan-h5 download" in res.stderr and "--no-images" in res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_a_few_missing_files_in_a_present_split_stay_flagged_rows(make_root, build_store, tmp_path):
    root = make_root()
    folder = os.path.join(root.root, "bioscan5m", "images", "cropped_256", "train")
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs)
    for f in files[:2]:
        os.unlink(f)
    res = build_store(root, out=tmp_path / "s.h5", workers=1, splits="train")
    assert res.missing_now >= 2 and res.decoded_now == len(files) - 2 - res.bad_now
    assert not res.left_out


def test_extending_with_an_absent_split_is_refused(make_root, build_store, tmp_path):
    root = make_root()
    _eval_only(root)
    out = tmp_path / "s.h5"
    build_store(root, out=out, workers=1, splits="val")
    with pytest.raises(SourceFileNotFoundError, match="'pretrain'"):
        build_store(root, out=out, workers=1, splits="val+pretrain")
    assert open_store(out).info()["image_splits"] == ["val"]  # the store is as it was
