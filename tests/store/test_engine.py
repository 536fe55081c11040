"""The read engine (:class:`bioscan_h5.pixels.rows.RowReader`): exactly the bytes of the memory
map, for any rows, on uncompressed and lzf stores, after a fork, after unpickling, from a cold
page cache; and the same tensor layout from every path that makes a sample (issue 11)."""

from __future__ import annotations

import os
import pickle
import shutil
import threading

import numpy as np
import pytest
import torch

from bioscan_h5 import BIOSCAN5M, StoreFormatError, batch_loader, open_store
from bioscan_h5.datasets.loader import gather_batch
from bioscan_h5.pixels.rows import RowReader
from tests.helpers.dataset import CLEAN


def _row_sets(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "random": rng.permutation(n)[:40],
        "sorted": np.sort(rng.permutation(n)[:40]),
        "repeated": np.array([7, 3, 7, 7, 0, 3, n - 1, n - 1]),
        "adjacent": np.r_[np.arange(10, 30), np.arange(50, 45, -1), [n - 2, n - 1, 0, 1]],
        "one": np.array([n // 2]),
        "none": np.array([], dtype=np.int64),
    }


def _read(reader: RowReader, rows) -> np.ndarray:
    return reader.read(rows, np.empty((len(rows), *reader.row_shape), dtype=np.uint8))


@pytest.fixture(scope="module")
def pixels(store_5m) -> np.ndarray:
    """Every row's pixels, read through the memory map."""
    with open_store(store_5m) as st:
        assert st.memory_mapped
        return np.array(st.images)


@pytest.mark.parametrize("which", ["plain", "lzf"])
def test_engine_returns_the_memory_maps_bytes(store_5m, lzf_store, pixels, which):
    with open_store(store_5m if which == "plain" else lzf_store) as st:
        reader = RowReader(st)
        assert reader.positional == (which == "plain")
        for name, rows in _row_sets(st.n_rows).items():
            assert np.array_equal(_read(reader, rows), pixels[rows]), name
        one = np.empty(reader.row_shape, dtype=np.uint8)
        for r in (0, 5, st.n_rows - 1):
            assert np.array_equal(reader.read_one(r, one), pixels[r])
        reader.close()


def test_engine_refuses_bad_rows_and_buffers(store_5m):
    with open_store(store_5m) as st:
        reader = RowReader(st)
        with pytest.raises(IndexError, match=f"row {st.n_rows} is out of range"):
            _read(reader, [0, st.n_rows])
        with pytest.raises(IndexError, match="row -1 is out of range"):
            reader.read_one(-1, np.empty(reader.row_shape, dtype=np.uint8))
        with pytest.raises(ValueError, match="C-contiguous uint8 array of shape"):
            reader.read([0, 1], np.empty((3, *reader.row_shape), dtype=np.uint8))
        reader.close()


@pytest.mark.subprocess
def test_engine_after_fork_and_unpickling(store_5m, pixels):
    with open_store(store_5m) as st:
        reader = RowReader(st)
        rows = _row_sets(st.n_rows)["random"]
        assert np.array_equal(_read(reader, rows), pixels[rows])
        blob = pickle.dumps(reader)
        assert len(blob) < 2_000 and b"memmap" not in blob
        copy = pickle.loads(blob)  # noqa: S301 - our own object
        assert copy is not reader and np.array_equal(_read(copy, rows[::-1]), pixels[rows[::-1]])
        parent_fd = reader._fd
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            try:
                ok = np.array_equal(_read(reader, rows[::-1]), pixels[rows[::-1]])
                ok = ok and reader._fd is not parent_fd and reader._fd.pid == os.getpid()
                os.write(w, b"1" if ok else b"0")
            finally:
                os._exit(0)
        os.close(w)
        assert os.read(r, 1) == b"1"
        os.close(r)
        os.waitpid(pid, 0)
        assert reader._fd is parent_fd  # the parent's descriptor is untouched
        assert np.array_equal(_read(reader, rows), pixels[rows])
        reader.close()


def test_engine_has_its_own_open_file(store_5m):
    """Its descriptor is a file description of its own (its random-read advice stays on it)."""
    with open_store(store_5m) as st:
        reader = RowReader(st)
        mine, theirs = reader._fd.fd, st.file.id.get_vfd_handle()
        assert os.path.samestat(os.fstat(mine), os.fstat(theirs))
        before = os.lseek(theirs, 0, os.SEEK_CUR)
        os.lseek(mine, 12345, os.SEEK_SET)
        assert os.lseek(theirs, 0, os.SEEK_CUR) == before
        reader.close()


@pytest.mark.parametrize("nowait", [True, False])
def test_engine_reads_a_cold_file(store_5m, pixels, tmp_path, nowait):
    """Rows that miss the page cache are completed by the pool (with or without RWF_NOWAIT)."""
    path = tmp_path / "cold.h5"
    shutil.copyfile(store_5m, path)
    with open_store(path) as st:
        reader = RowReader(st)
        if not nowait:
            reader._nowait = 0
        rows = _row_sets(st.n_rows)["random"]
        os.posix_fadvise(reader._fd.fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert np.array_equal(_read(reader, rows), pixels[rows])
        reader.close()
        assert not [t for t in threading.enumerate() if t.name.startswith("bioscan-h5-io")]


def test_engine_reports_a_file_truncated_under_it(store_5m, tmp_path):
    path = tmp_path / "short.h5"
    shutil.copyfile(store_5m, path)
    with open_store(path) as st:
        reader = RowReader(st)
        os.truncate(path, reader.offset + 5 * reader.row_bytes + 100)
        reader.read_one(2, np.empty(reader.row_shape, dtype=np.uint8))
        with pytest.raises(StoreFormatError, match="truncated after it was opened"):
            _read(reader, [1, 7])
        reader.close()


# ----------------------------------------------------------------------------- one layout
def test_tensor_samples_have_the_same_layout_from_every_path(sample_root_5m, store_5m):
    """ds[i], __getitems__, gather_batch and batch_loader: channels-last CHW, equal values."""
    ds = BIOSCAN5M(str(sample_root_5m.root), build=False, split=CLEAN, image_format="tensor")
    idx = [4, 0, 9, 4]
    one = [ds[i][0] for i in idx]
    many = [s[0] for s in ds.__getitems__(idx)]
    gathered = gather_batch(ds, idx)["image"]
    looped = next(iter(batch_loader(ds, batch_size=4, sampler=idx, num_workers=1)))["image"]
    for k in range(len(idx)):
        for t in (one[k], many[k], gathered[k], looped[k]):
            assert t.shape == (3, 256, 256) and t.stride() == (1, 3 * 256, 3)
            assert torch.equal(t, one[k])
    for b in (gathered, looped):
        assert b.is_contiguous(memory_format=torch.channels_last)
    assert one[0].data_ptr() != one[3].data_ptr()  # each sample has storage of its own


def test_pil_and_numpy_samples_are_their_own(sample_root_5m, store_5m, pixels):
    kw = dict(build=False, split=CLEAN, modality=("image",), target_type=[])
    pil = BIOSCAN5M(str(sample_root_5m.root), **kw)
    arr = BIOSCAN5M(str(sample_root_5m.root), image_format="numpy", **kw)
    a, b = pil[0][0], pil[1][0]  # the second read reuses the buffer the first went through
    assert np.array_equal(np.asarray(a), pixels[pil.rows[0]]) and np.array_equal(
        np.asarray(b), pixels[pil.rows[1]]
    )
    x, y = arr[0][0], arr[0][0]
    assert x is not y and not np.shares_memory(x, y) and x.flags.writeable
