"""Extending a finished store with more splits: the store never disappears on failure."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from bioscan_h5 import format as fmt
from bioscan_h5 import open_store
from bioscan_h5.errors import BuildLockedError
from bioscan_h5.format import ImageStatus


def _status(path) -> np.ndarray:
    with open_store(path) as st:
        return np.array(st.image_status)


def test_extending_a_store_open_in_this_process_is_refused_and_leaves_it_in_place(make_root, build_store):
    root = make_root(n_rows=96, faults=False)
    out = root.root / "s.h5"
    build_store(root, splits="val", out=out)
    st = open_store(out)
    try:
        with pytest.raises(BuildLockedError, match="open in this process"):
            build_store(root, splits="val+test", out=out)
        assert out.exists() and not os.path.exists(fmt.partial_path(str(out)))
        assert st.image_ok[st.indices("val")].all()
    finally:
        st.close()
    res = build_store(root, splits="val+test", out=out)
    assert res.decoded_now == len(open_store(out).indices("test"))


def test_an_interrupted_extension_puts_the_store_back_and_a_rerun_finishes_it(
    make_root, build_store, start_cli, run_cli, assert_stores_equal, tmp_path
):
    root = make_root(n_rows=2400, faults=False)
    out = tmp_path / "s.h5"
    ref = tmp_path / "ref.h5"
    build_store(root, splits="val", out=out)
    build_store(root, splits="all", out=ref)
    before = _status(out)
    proc = start_cli(
        "build", "--root", root.root, "--out", out, "--splits", "all", "--workers", "1", "--no-progress"
    )
    partial = fmt.partial_path(str(out))
    start_blocks = os.stat(out).st_blocks
    deadline = time.monotonic() + 120

    def decoding() -> bool:  # the partial file is there and has grown by ~50 images
        try:
            return os.stat(partial).st_blocks * 512 > start_blocks * 512 + 50 * 256 * 256 * 3
        except FileNotFoundError:
            return False

    while not decoding() and proc.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.proc.poll() is None, "the build finished before it could be interrupted"
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(60) == 130, proc.stderr
    assert "Build interrupted" in proc.stderr and repr(str(out)) in proc.stderr
    # The store is back under its name, still complete, its earlier images intact.
    assert out.exists() and not os.path.exists(partial)
    after = _status(out)
    assert np.array_equal(after[before == ImageStatus.OK], before[before == ImageStatus.OK])
    res = run_cli(
        "build", "--root", root.root, "--out", out, "--splits", "all", "--workers", "1", "--no-progress"
    )
    assert res.returncode == 0, res.stderr
    assert_stores_equal(out, ref, ignore_attrs=("build_args",))
