"""Indices that are not integers (issue 24): refused everywhere ``ds[i]`` refuses them.

Floats (which would be truncated), bools (a mask, not positions) and uint64 values beyond
int64 (which would wrap to negative positions, counted from the end) are given to ``ds[i]``,
``ds.__getitems__``, :func:`~bioscan_h5.gather_batch` and, through a sampler,
:func:`~bioscan_h5.batch_loader`. Each is refused with a ``TypeError`` or ``IndexError``
(the types Python's own sequences raise) that is a :mod:`bioscan_h5.errors` class.
"""

from __future__ import annotations

import numpy as np
import pytest

from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.datasets.loader import gather_batch
from bioscan_h5.errors import BioscanH5Error

from ._helpers import run_cli, sanitize

pytestmark = pytest.mark.subprocess

SECTION = "Bad arguments"


@pytest.fixture(scope="module")
def ds(_roots, tmp_path_factory):
    out = tmp_path_factory.mktemp("index") / "s.h5"
    proc = run_cli(
        "build", "--root", _roots.get(n_rows=64, seed=1), "--image-size", 16, "--out", out, "--no-progress"
    )
    assert proc.returncode == 0, proc.stderr
    return BIOSCAN5M(split="all", store=out, image_format="numpy")


BAD = {
    "floats": [1.7, 2.2],
    "bools": [True, False],
    "a numpy bool mask": np.array([True, False, True]),
    "uint64 values beyond int64": np.array([2**64 - 1], dtype=np.uint64),
    "a numpy float array": np.array([0.0, 3.9]),
}


def _ways(ds):
    return {
        "__getitems__": lambda idx: ds.__getitems__(idx),
        "gather_batch": lambda idx: gather_batch(ds, idx),
        "batch_loader(sampler=...)": lambda idx: next(
            iter(batch_loader(ds, batch_size=4, sampler=list(idx)))
        ),
    }


@pytest.mark.parametrize("kind", list(BAD))
def test_non_integer_indices_are_refused_everywhere(kind, ds, record):
    idx = BAD[kind]
    messages = {}
    for way, call in _ways(ds).items():
        with pytest.raises((TypeError, IndexError)) as err:
            call(idx)
        assert isinstance(err.value, BioscanH5Error), (way, type(err.value), err.value)
        messages[way] = str(err.value)
    scalar = idx[0]
    with pytest.raises((TypeError, IndexError)):
        ds[scalar]
    assert len(ds.__getitems__([0, np.int64(1), np.uint8(2)])) == 3  # integers of any type still work
    record(
        f"{kind} as indices ({idx!r:.60}) to `ds[i]`, `__getitems__`, `gather_batch` and a sampler of"
        " `batch_loader`",
        f"Refused everywhere, as `ds[i]` refuses them: `{sanitize(messages['gather_batch'], 300)}`",
        "Nothing served (no truncated float, no mask read as positions, no wrapped position).",
    )
