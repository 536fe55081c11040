"""The read engine: whole pixel rows of a raw store, read with positional reads into caller buffers.

:class:`RowReader` sorts the rows of a call and reads each run of adjacent rows with one
``preadv`` (:mod:`.preadv`), first with ``RWF_NOWAIT`` (what the page cache holds, at once), then
the rest on a small thread pool, from a descriptor of its own (:mod:`.descriptors`). Compressed
stores are read through h5py.
"""

from __future__ import annotations

import errno
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from .. import format as fmt
from .._forksafe import fork_lock
from ..errors import REBUILD, StoreFormatError
from .descriptors import Descriptor, own_descriptor
from .preadv import read_runs, runs

if TYPE_CHECKING:
    import h5py

__all__ = ["QUEUE_DEPTH", "RowReader"]

#: Reads that miss the page cache are completed by this many threads at once (per process).
QUEUE_DEPTH = 8
_IOV_MAX = 1024  # Linux's limit of buffers per preadv
_MAX_CALL = 0x7FFFF000  # Linux's largest transfer per read call
_NOWAIT = getattr(os, "RWF_NOWAIT", 0)
_NOWAIT_UNSUPPORTED = {errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}

# Guards (re)opening and pool creation. A fork's child starts a new generation: a reader of an
# earlier one reopens its descriptor and starts its own pool (an int compare per read).
_open_lock = fork_lock()
_generation = 0


def _after_fork_in_child() -> None:
    global _generation
    _generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def pixel_block_offset(dset: h5py.Dataset, n_rows: int, image_size: int) -> int | None:
    """The byte offset of row 0's pixels when the block is one uncompressed contiguous dataset inside the file, else None."""
    n, s = n_rows, image_size
    if n < 1 or dset.shape != (n, s, s, 3) or dset.dtype != np.uint8 or dset.compression is not None:
        return None
    if dset.is_virtual or dset.external or dset.chunks is not None:
        return None
    offset = dset.id.get_offset()
    if offset is None or offset + n * s * s * 3 > os.fstat(dset.file.id.get_vfd_handle()).st_size:
        return None
    return int(offset)


class RowReader:
    """Reads whole pixel rows (``row_shape``: ``(S, S, 3)`` uint8) of an open store into caller buffers.

    ``positional``: rows are read with ``os.preadv`` (an uncompressed store), else through h5py.
    A file shorter than its pixel block is a :class:`StoreFormatError` here.
    """

    def __init__(self, store) -> None:
        self.store = store
        s = store.image_size
        self.n_rows = store.n_rows
        self.row_shape = (s, s, 3)
        self.row_bytes = s * s * 3
        self.offset = pixel_block_offset(store.file[fmt.IMAGES], store.n_rows, s)
        self.positional = self.offset is not None
        self._run_cap = max(1, min(_IOV_MAX, _MAX_CALL // max(self.row_bytes, 1)))
        self._nowait = _NOWAIT
        self._generation = -1
        self._fd: Descriptor | None = None
        self._dset: h5py.Dataset | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._open()
        if self.positional:
            end = self.offset + self.n_rows * self.row_bytes
            size = os.fstat(self._descriptor()).st_size
            if size < end:
                raise StoreFormatError(
                    f"{store.path!r} is {size} bytes long but its pixel block ends at byte {end}"
                    f" ({self.n_rows} rows of {self.row_bytes} bytes from byte {self.offset}): the file"
                    f" is truncated. {REBUILD}"
                )

    def __reduce__(self):
        return (RowReader, (self.store,))

    def __repr__(self) -> str:
        how = f"preadv from byte {self.offset}" if self.positional else "h5py"
        return f"<RowReader {os.path.basename(self.store.path)!r}: {self.n_rows} rows of {self.row_shape}, {how}>"

    # ------------------------------------------------------------ per process
    def _open(self) -> None:
        if self._fd is not None:
            self._fd.drop_inherited()
        if self.positional:
            self._fd = own_descriptor(self.store.file.id.get_vfd_handle())
        else:
            self._dset = self.store.file[fmt.IMAGES]  # Store.file is reopened after a fork
        self._pool = None  # a fork has no threads of its parent's pool
        self._generation = _generation

    def _descriptor(self) -> int:
        assert self._fd is not None, "a positional RowReader reads after _open()"
        return self._fd.fd

    def _dataset(self) -> h5py.Dataset:
        assert self._dset is not None, "an h5py RowReader reads after _open()"
        return self._dset

    def _ready(self) -> None:
        if self._generation != _generation:
            with _open_lock:
                if self._generation != _generation:
                    self._open()

    def close(self) -> None:
        """Close the descriptor and stop the pool (a later read reopens them)."""
        with _open_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._fd is not None:
                self._fd.close()
                self._fd = None
            self._generation = -1

    # ------------------------------------------------------------ reads
    def read_one(self, row: int, out: np.ndarray) -> np.ndarray:
        """Read the pixels of ``row`` into ``out`` (C-contiguous uint8 of :attr:`row_shape`)."""
        if not 0 <= row < self.n_rows:
            raise IndexError(f"row {row!r} is out of range for a store of {self.n_rows} rows")
        self._ready()
        if not self.positional:
            self._dataset().read_direct(out, np.s_[row])
            return out
        fd, off = self._descriptor(), self.offset + row * self.row_bytes
        got = os.preadv(fd, [out.data], off)
        if got < self.row_bytes:
            self._finish(fd, [out.data.cast("B")], off, got)
        return out

    def read(self, rows, out: np.ndarray, nogil: bool = False) -> np.ndarray:
        """Read the pixels of store ``rows`` (any order, repeats allowed) into ``out[i]`` for
        ``rows[i]`` and return ``out`` (C-contiguous, writeable uint8 ``(len(rows), S, S, 3)``).

        ``nogil``: load the nogil read kernel (numba) if this process has not (for reads in several
        threads at once); without it, the kernel reads where numba is loaded already.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = len(rows)
        if out.shape != (n, *self.row_shape) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(
                f"out must be a C-contiguous uint8 array of shape {(n, *self.row_shape)}, got"
                f" {out.dtype} {out.shape}"
            )
        if n == 0:
            return out
        lo, hi = int(rows.min()), int(rows.max())
        if lo < 0 or hi >= self.n_rows:
            raise IndexError(
                f"row {lo if lo < 0 else hi!r} is out of range for a store of {self.n_rows} rows"
            )
        self._ready()
        order = np.argsort(rows, kind="stable")
        if not self.positional:
            for k, r in zip(order.tolist(), rows[order].tolist()):
                self._dataset().read_direct(out, np.s_[r], np.s_[k])
            return out
        pending = self._read_runs(rows[order], order, out, nogil)
        if pending:
            self._complete(pending)
        return out

    def _read_runs(self, srt: np.ndarray, order: np.ndarray, out: np.ndarray, load: bool) -> list:
        """One read per run of adjacent rows, without waiting for the disk; what is left to read.

        A run :func:`~.preadv.read_runs` could not finish, or whose call failed, is repeated with
        ``os.preadv`` (to raise its error, or to learn the page cache lacks it) and left to :meth:`_complete`.
        """
        rb, base, fd = self.row_bytes, self.offset, self._descriptor()
        assert base is not None  # positional
        mv = out.data.cast("B")
        dest, first = order.tolist(), srt.tolist()
        if self._nowait:
            done = read_runs(fd, out, srt, order, rb, base, self._nowait, self._run_cap, load)
            short = done[done[:, 2] != (done[:, 1] - done[:, 0]) * rb].tolist()
        else:
            short = [[a, b, -1] for a, b in runs(srt, self._run_cap)]
        pending = []
        for a, b, got in short:
            bufs = [mv[k * rb : (k + 1) * rb] for k in dest[a:b]]
            off = base + first[a] * rb
            if got < 0:
                got = self._try(fd, bufs, off)
            if got < len(bufs) * rb:
                pending.append((bufs, off, got))
        return pending

    def _try(self, fd: int, bufs: list, off: int) -> int:
        """Bytes read from the page cache alone (the kernel starts the disk reads for the rest)."""
        if not self._nowait:
            return 0
        try:
            return os.preadv(fd, bufs, off, self._nowait)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno not in _NOWAIT_UNSUPPORTED:
                raise
            self._nowait = 0  # this file system has no RWF_NOWAIT: every read goes to the pool
            return 0

    def _complete(self, pending: list) -> None:
        """Finish the reads that missed the page cache, :data:`QUEUE_DEPTH` at a time."""
        fd = self._descriptor()
        if len(pending) == 1:
            self._finish(fd, *pending[0])
            return
        with _open_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(QUEUE_DEPTH, thread_name_prefix="bioscan-h5-io")
            pool = self._pool
        groups = [pending[i::QUEUE_DEPTH] for i in range(min(QUEUE_DEPTH, len(pending)))]
        futures = [pool.submit(self._finish_all, fd, g) for g in groups]
        for f in futures:
            f.result()

    def _finish_all(self, fd: int, group: list) -> None:
        for bufs, off, got in group:
            self._finish(fd, bufs, off, got)

    def _finish(self, fd: int, bufs: list, off: int, got: int) -> None:
        """Read the rest of ``bufs`` (rows of :attr:`row_bytes`) after ``got`` bytes, waiting for the disk."""
        rb = self.row_bytes
        total = len(bufs) * rb
        while got < total:
            skip, part = divmod(got, rb)
            rest = list(bufs[skip:])
            if part:
                rest[0] = rest[0][part:]
            n = os.preadv(fd, rest, off + got)
            if n <= 0:
                raise StoreFormatError(
                    f"{self.store.path!r} ended at byte {off + got} while reading pixels: the file was"
                    f" truncated after it was opened. {REBUILD}"
                )
            got += n
