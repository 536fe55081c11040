"""The nogil run reader (``bioscan_h5.pixels.preadv``): the kernel against its Python loop."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from bioscan_h5 import open_store
from bioscan_h5._jit import JIT_DISABLED
from bioscan_h5.pixels import preadv
from bioscan_h5.pixels.rows import RowReader

needs_kernel = pytest.mark.skipif(
    JIT_DISABLED or not preadv.native(), reason="the nogil kernel is not available here"
)


def _both(fd, reader: RowReader, rows, cap: int, flags: int = 0):
    """Runs and bytes from the kernel and from the Python loop, on the same sorted rows."""
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    srt = np.ascontiguousarray(rows[order])
    results = []
    for impl in (preadv._implementation(), preadv.read_runs_py):
        dst = np.zeros((len(rows), *reader.row_shape), dtype=np.uint8)
        runs = np.full((len(rows), 3), -7, dtype=np.int64)
        iov = np.empty(2 * cap, dtype=np.int64)
        m = impl(fd, dst, srt, order, reader.row_bytes, reader.offset, flags, cap, iov, runs)
        results.append((runs[:m], dst))
    return results


@needs_kernel
@pytest.mark.parametrize("cap", [1, 3, 1024])
def test_kernel_reads_what_the_python_loop_reads(store_5m, cap):
    rng = np.random.default_rng(cap)
    with open_store(store_5m) as st:
        reader = RowReader(st)
        n = st.n_rows
        rows = np.r_[rng.permutation(n)[:30], np.arange(40, 52), [5, 5, n - 1, n - 2, 0]]
        (k_runs, k_dst), (p_runs, p_dst) = _both(reader._fd.fd, reader, rows, cap)
        assert np.array_equal(k_runs, p_runs)
        assert np.array_equal(k_dst, p_dst)
        assert np.array_equal(k_dst, np.asarray(st.images)[rows])
        # runs cover the rows in order, none longer than cap, each read whole
        assert k_runs[0, 0] == 0 and k_runs[-1, 1] == len(rows)
        assert np.array_equal(k_runs[1:, 0], k_runs[:-1, 1])
        assert ((k_runs[:, 1] - k_runs[:, 0]) <= cap).all()
        assert np.array_equal(k_runs[:, 2], (k_runs[:, 1] - k_runs[:, 0]) * reader.row_bytes)
        reader.close()


@needs_kernel
def test_kernel_records_a_failed_call(store_5m):
    """A call that fails is -1 in both (the kernel never raises); past the end is 0 bytes."""
    with open_store(store_5m) as st:
        reader = RowReader(st)
        fd = os.open(os.devnull, os.O_RDONLY)
        os.close(fd)  # a descriptor number that is no longer open: EBADF
        (k_runs, _), (p_runs, _) = _both(fd, reader, [3, 4, 9], cap=8)
        assert k_runs[:, 2].tolist() == p_runs[:, 2].tolist() == [-1, -1]
        far = st.n_rows + 10_000_000  # an offset past the end of the file
        (k_runs, _), (p_runs, _) = _both(reader._fd.fd, reader, [far], cap=8)
        assert k_runs[:, 2].tolist() == p_runs[:, 2].tolist() == [0]
        reader.close()


def test_reader_raises_the_error_of_a_failed_call(store_5m):
    """The run the kernel could not read is repeated in Python, which raises its OSError."""
    with open_store(store_5m) as st:
        reader = RowReader(st)
        reader._ready()
        os.close(reader._fd.fd)  # behind the reader's back
        with pytest.raises(OSError, match="Bad file descriptor") as err:
            reader.read([1, 2, 8], np.empty((3, *reader.row_shape), dtype=np.uint8))
        assert err.value.errno == errno.EBADF
        reader._fd.fd = -1
        reader.close()
        # a later read reopens the descriptor and works again
        out = reader.read([1, 2, 8], np.empty((3, *reader.row_shape), dtype=np.uint8))
        assert np.array_equal(out, np.asarray(st.images)[[1, 2, 8]])
        reader.close()


@pytest.mark.subprocess
def test_python_loop_is_used_when_the_jit_is_off():
    """With BIOSCAN_H5_DISABLE_JIT the reader falls back to the Python loop (and still reads)."""
    import subprocess
    import sys

    code = "from bioscan_h5.pixels import preadv; print(preadv.native())"
    env = {**os.environ, "BIOSCAN_H5_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.subprocess
def test_numba_is_loaded_by_the_batch_loader_only(store_5m):
    """``ds[i]`` and ``__getitems__`` (DataLoader worker processes) never load numba for the
    kernels; ``batch_loader`` (threads of one process) does, and then reads with the kernel.
    None of them imports pandas."""
    import subprocess
    import sys

    code = f"""
import sys
from bioscan_h5 import BIOSCAN5M, batch_loader
from bioscan_h5.pixels import preadv
for fmt in ("pil", "tensor", "numpy"):
    ds = BIOSCAN5M({str(store_5m.parents[2])!r}, split="all", image_format=fmt)
    ds[0], ds.__getitems__([3, 1, 2])
    assert "numba" not in sys.modules, fmt
batch = next(iter(batch_loader(ds, 8, num_workers=1)))
assert "numba" in sys.modules and preadv._impl is not preadv.read_runs_py
assert "pandas" not in sys.modules  # reading samples needs no pandas either (32 MB a process)
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "BIOSCAN_H5_DISABLE_JIT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
