"""Extending a finished store with more splits: the store never disappears on failure."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from bioscan_h5 import format as fmt
from bioscan_h5 import open_store


def _status(path) -> np.ndarray:
    with open_store(path) as st:
        return np.array(st.image_status)


def test_extending_a_store_open_in_this_process_keeps_the_open_handle_reading_the_old_store(
    make_root, build_store
):
    """An extension writes a copy and renames it over the store: an open handle never sees a mix."""
    root = make_root(n_rows=96, faults=False)
    out = root.root / "s.h5"
    build_store(root, splits="val", out=out)
    st = open_store(out)
    try:
        val = st.indices("val")
        before = np.array(st.images[val])
        res = build_store(root, splits="val+test", out=out)
        assert res.processed_now == len(st.indices("test"))
        assert out.exists() and not os.path.exists(fmt.partial_path(str(out)))
        # the open handle still reads the store it opened: complete for val, test not built
        assert st.image_ok[val].all() and not st.image_ok[st.indices("test")].any()
        assert np.array_equal(st.images[val], before)
        with open_store(out) as new:  # a new open reads the extended store
            assert new.image_ok[new.indices("val+test")].all()
            assert np.array_equal(new.images[val], before)
    finally:
        st.close()


@pytest.mark.subprocess
def test_an_interrupted_extension_leaves_the_store_as_it_was_and_a_rerun_resumes_it(
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
    # The store never left its name and was never written; the work done is kept in the partial copy.
    assert out.exists() and os.path.exists(partial)
    assert np.array_equal(_status(out), before)
    res = run_cli(
        "build", "--root", root.root, "--out", out, "--splits", "all", "--workers", "1", "--no-progress"
    )
    assert res.returncode == 0, res.stderr
    assert "resuming" in res.stderr and "copying" not in res.stderr
    assert not os.path.exists(partial)
    assert_stores_equal(out, ref, ignore_attrs=("build_args",))
