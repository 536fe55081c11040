"""A JPEG store's PIL images are the peer's (``bioscan-dataset`` 1.3.0), every sample of every split
(issue 12): the same mode, size and pixels, grayscale, CMYK and PNG-under-a-.jpg-name included."""

from __future__ import annotations

import numpy as np
import pytest

from bioscan_h5 import BIOSCAN5M, ImageUnavailableError
from tests.helpers.dataset import BASE_SPLITS, norm

pytestmark = pytest.mark.parity


@pytest.mark.parametrize("split", BASE_SPLITS)
@pytest.mark.parametrize("output_format", ["tuple", "dict"])
def test_pil_images_are_the_peers(sample_root_5m, jpeg_store_5m, peer_factory, split, output_format):
    kw = dict(split=split, output_format=output_format, modality=("image", "dna"), target_type=["species"])
    peer = peer_factory(**kw)
    ours = BIOSCAN5M(str(sample_root_5m.root), store=str(jpeg_store_5m), build=False, **kw)
    bad = set(sample_root_5m.undecodable_rows)
    assert len(ours) == len(peer) > 0
    modes = set()
    for i in range(len(peer)):
        if int(ours.rows[i]) in bad:
            with pytest.raises(ImageUnavailableError):
                ours[i]
            continue
        a, b = peer[i], ours[i]
        ia, ib = (a.pop("image"), b.pop("image")) if output_format == "dict" else (a[0], b[0])
        ia.load()
        assert (ib.mode, ib.size) == (ia.mode, ia.size), (split, i)
        assert np.array_equal(np.asarray(ib), np.asarray(ia)), (split, i)
        modes.add(ib.mode)
        ia.close()
        assert norm(b if output_format == "dict" else b[1:]) == norm(a if output_format == "dict" else a[1:])
    if split in ("val", "test"):  # where the generator puts its decodable faults
        assert modes - {"RGB"}


def test_every_fault_kind_is_served_like_the_peer(sample_root_5m, jpeg_store_5m, peer_factory):
    peer = peer_factory(split="all", target_type=[])
    ours = BIOSCAN5M(
        str(sample_root_5m.root), store=str(jpeg_store_5m), build=False, split="all", target_type=[]
    )
    index = {int(r): i for i, r in enumerate(ours.rows)}
    for kind, mode in (("grayscale", "L"), ("cmyk", "CMYK"), ("png_named_jpg", "RGB")):
        i = index[sample_root_5m.fault_row(kind)]
        a, b = peer[i][0], ours[i][0]
        a.load()
        assert b.mode == a.mode == mode and b.size == a.size
        assert np.array_equal(np.asarray(b), np.asarray(a))
