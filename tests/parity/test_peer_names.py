"""The peer's module-level names and instance attributes exist in ours, with the same values (issue 13, item 3).

Code written for ``bioscan-dataset`` imports names such as ``VALID_SPLITS`` or
``explode_metasplit`` from ``bioscan_dataset.bioscan5m`` and reads ``ds.image_dir``; with the
import swapped to ``bioscan_h5`` it must find them.
"""

from __future__ import annotations

import enum
import inspect
import types
import warnings

import bioscan_dataset
import bioscan_dataset.bioscan1m as peer1m
import bioscan_dataset.bioscan5m as peer5m
import pandas as pd
import pytest
import torch

import bioscan_h5.bioscan1m as ours1m
import bioscan_h5.bioscan5m as ours5m
from tests.helpers.dataset import Peer

pytestmark = pytest.mark.parity


def _own_names(module: types.ModuleType) -> list[str]:
    """The public names a module defines itself (not what it imports)."""
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if callable(value) and getattr(value, "__module__", module.__name__) != module.__name__:
            continue  # an imported function or class (os.path.join, VisionDataset, Union, ...)
        if isinstance(value, torch.Tensor) or not callable(value) or value.__module__ == module.__name__:
            names.append(name)
    return sorted(set(names))


@pytest.mark.parametrize(("peer", "ours"), [(peer5m, ours5m), (peer1m, ours1m)], ids=["5m", "1m"])
def test_every_peer_name_is_there_with_its_value(peer, ours):
    names = _own_names(peer)
    assert {"COLUMN_DTYPES", "USECOLS", "VALID_SPLITS", "explode_metasplit", "load_metadata"} <= set(names)
    missing = [n for n in names if not hasattr(ours, n)]
    assert missing == []
    for name in names:
        a, b = getattr(peer, name), getattr(ours, name)
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), name
        elif isinstance(a, (list, dict, str, set, tuple)):
            assert b == a and type(b) is type(a), name
            if isinstance(a, dict):
                assert list(b) == list(a), name  # the same order too
        elif isinstance(a, type) and issubclass(a, enum.Enum):
            assert {m.name: m.value for m in b} == {m.name: m.value for m in a}, name
        else:
            assert callable(b), name
            shared = [p for p in inspect.signature(b).parameters if p in inspect.signature(a).parameters]
            assert shared == list(inspect.signature(a).parameters), name


@pytest.mark.parametrize(
    "metasplit",
    [None, "all", "seen", "unseen", "pretrain+train", "validation", " train + val ", "train+bogus"],
)
@pytest.mark.parametrize("verify", [False, True])
def test_explode_metasplit_5m(metasplit, verify):
    def outcome(fn):
        try:
            return fn(metasplit, verify=verify)
        except ValueError as exc:
            return "ValueError", str(exc)

    assert outcome(ours5m.explode_metasplit) == outcome(peer5m.explode_metasplit)


@pytest.mark.parametrize("pv", ["large_diptera_family", "small_insect_order", "clibd"])
@pytest.mark.parametrize(
    "metasplit", [None, "all", "train", "val", "pretrain+train", "train+validation", "bogus"]
)
def test_explode_metasplit_1m(pv, metasplit):
    for verify in (False, True):
        try:
            want = peer1m.explode_metasplit(metasplit, pv, verify=verify)
        except ValueError:
            with pytest.raises(ValueError):
                ours1m.explode_metasplit(metasplit, pv, verify=verify)
            continue
        assert ours1m.explode_metasplit(metasplit, pv, verify=verify) == want


def test_get_image_path_and_load_metadata(sample_root_5m, store_5m):
    frame = sample_root_5m.peer_frame
    for i in range(0, len(frame), 17):
        row = frame.iloc[i]
        assert ours5m.get_image_path(row) == peer5m.get_image_path(row) == frame["image_path"].iloc[i]
    assert ours5m.load_metadata is ours5m.load_bioscan5m_metadata
    assert ours1m.load_metadata is ours1m.load_bioscan1m_metadata
    got = ours5m.load_metadata(str(sample_root_5m.metadata), split="val", dtype=ours5m.MetadataDtype.DEFAULT)
    pd.testing.assert_frame_equal(got, peer5m.load_metadata(str(sample_root_5m.metadata), split="val"))


def test_5m_instance_attributes(sample_root_5m, store_5m):
    kw = dict(split="val", image_package="cropped_256")
    peer, ours = Peer(str(sample_root_5m.root), **kw), ours5m.BIOSCAN5M(str(sample_root_5m.root), **kw)
    for name in ("root", "image_dir", "metadata_path", "base_folder", "split", "image_package"):
        assert getattr(ours, name) == getattr(peer, name), name


class _Peer1M(bioscan_dataset.BIOSCAN1M):
    def _check_integrity(self, verbose: int = 1) -> bool:
        return True


@pytest.mark.parametrize("pv", ["large_diptera_family", "clibd"])
def test_1m_instance_attributes(make_root, pv):
    root = make_root(dataset="bioscan1m")
    kw = dict(split="test", partitioning_version=pv, modality=("dna",), target_type="order")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        peer = _Peer1M(str(root.root), **kw)
        ours = ours1m.BIOSCAN1M(str(root.root), **kw)
    for name in (
        "root",
        "image_dir",
        "metadata_path",
        "base_folder",
        "clibd_partitioning_path",
        "partitioning_version",
    ):
        assert getattr(ours, name) == getattr(peer, name), name


def test_extract_zip_without_prefix(tmp_path):
    import zipfile

    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("bioscan/images/x.txt", b"one")
        zf.writestr("bioscan/CLIBD_partitioning/y.txt", b"two")
    ours1m.extract_zip_without_prefix(archive, tmp_path / "out", drop_prefix="bioscan", remove_finished=True)
    assert (tmp_path / "out" / "images" / "x.txt").read_bytes() == b"one"
    assert (tmp_path / "out" / "CLIBD_partitioning" / "y.txt").read_bytes() == b"two"
    assert not archive.exists()
