"""Build a store from an official dataset root: parse once, decode in parallel, write once.

The build runs in three stages, each safe to kill:

1. **Metadata**: the metadata file is parsed and validated and every per-row array is written
   into ``<store>.partial``, with the pixel array allocated in full (sparse) and the image
   status of every row "pending". The attribute ``metadata_written`` is set last. A kill
   here leaves a partial file that the next run discards and rewrites (seconds to a minute).
2. **Images**: worker processes decode and resize the images of the requested splits; one
   writer puts pixels into the pre-allocated chunks with plain ``pwrite`` calls (no HDF5
   metadata changes), syncs them, and only then marks the rows done in ``/image_status``.
   After a kill, a rerun decodes exactly the rows still pending.
3. **Finish**: summary attributes, ``complete = True``, then an atomic rename of the partial
   file to the store path, and the build report beside it.

Rerunning with more splits moves the store back to its partial name and fills in only the
missing rows. Resuming with other content arguments or a changed metadata file is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import logging
import os
import resource
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import h5py
import numpy as np

from . import __version__
from . import format as fmt
from ._files import copy_sparse
from ._hdf5 import LIBVER, chunk_offsets_contiguous, clear_status_flags, create_preallocated, open_readonly
from .errors import (
    BuildInterrupted,
    BuildLockedError,
    InsufficientSpaceError,
    MetadataError,
    ResumeMismatchError,
)
from .format import ImageStatus
from .layouts import SourceLayout, get_layout
from .metadata import Table, fingerprint
from .store import load_table_columns

__all__ = ["BuildConfig", "BuildResult", "build", "BuildInterrupted"]

log = logging.getLogger("bioscan_h5.build")

#: Arguments that define a store's content: a resume or an extension must match them.
CONTENT_ARGS = (
    "dataset",
    "image_package",
    "image_size",
    "fit",
    "max_nucleotides",
    "compression",
    "draft",
    "tokenize",
)


@dataclass
class BuildConfig:
    """Everything ``bioscan-h5 build`` takes (see ``bioscan-h5 build --help``)."""

    root: str
    dataset: str = "bioscan5m"
    image_package: str = "cropped_256"
    image_size: int = fmt.DEFAULT_IMAGE_SIZE
    fit: str = "crop"
    splits: str = "all"
    max_nucleotides: int | None = fmt.DEFAULT_MAX_NUCLEOTIDES
    workers: int | None = None
    out: str | None = None
    overwrite: bool = False
    dry_run: bool = False
    no_images: bool = False
    compression: str | None = None
    draft: bool = True
    strict: bool = False
    check_space: bool = True
    tokenize: tuple[str, ...] = ()
    progress: bool = True
    batch_size: int = 32

    def __post_init__(self) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(self.root)))
        _check_choice("image_package", self.image_package, fmt.IMAGE_PACKAGES)
        _check_choice("fit", self.fit, fmt.FITS)
        _check_choice("compression", self.compression, (None, "lzf", "gzip"))
        if not isinstance(self.image_size, int) or self.image_size < 1:
            raise ValueError(f"image_size must be a positive integer, got {self.image_size!r}.")
        if self.max_nucleotides is not None and (
            not isinstance(self.max_nucleotides, int) or self.max_nucleotides < 1
        ):
            raise ValueError(
                f"max_nucleotides must be a positive integer or None, got {self.max_nucleotides!r}."
            )
        if self.workers is None:
            self.workers = (
                len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            )
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers!r}.")
        self.tokenize = tuple(self.tokenize)
        if self.out is None:
            self.out = fmt.default_store_path(
                self.root, self.dataset, self.image_package, self.image_size, self.fit
            )
        self.out = os.path.abspath(os.path.expanduser(os.fspath(self.out)))

    def content_args(self) -> dict:
        """The arguments that define the store's content (compared on resume)."""
        return {k: getattr(self, k) if k != "tokenize" else list(self.tokenize) for k in CONTENT_ARGS}

    @classmethod
    def from_content(cls, root: str, content: dict, **options) -> BuildConfig:
        """The config that builds (or extends) a store with recorded content arguments.

        Parameters
        ----------
        root : str
            The dataset root.
        content : dict
            Content arguments (:data:`CONTENT_ARGS`), e.g. a store's ``build_args`` attribute;
            absent ones take their defaults.
        **options
            Every other field (``splits``, ``out``, ``no_images``, ``workers``, ...).
        """
        known = {k: v for k, v in content.items() if k in CONTENT_ARGS}
        if "tokenize" in known:
            known["tokenize"] = tuple(known["tokenize"])
        return cls(root=root, **{**known, **options})

    def command(self) -> str:
        """The ``bioscan-h5 build`` command line that runs this config (shell-quoted)."""
        import shlex

        default = BuildConfig(root=self.root, dataset=self.dataset)
        args = ["bioscan-h5", "build", "--root", self.root, "--dataset", self.dataset]
        args += ["--image-package", self.image_package]
        if self.image_size != default.image_size:
            args += ["--image-size", str(self.image_size)]
        if self.fit != default.fit:
            args += ["--fit", self.fit]
        if self.max_nucleotides != default.max_nucleotides:
            args += [
                "--max-nucleotides",
                "none" if self.max_nucleotides is None else str(self.max_nucleotides),
            ]
        if self.compression:
            args += ["--compression", self.compression]
        if not self.draft:
            args += ["--no-draft"]
        if self.tokenize:
            args += ["--tokenize", ",".join(self.tokenize)]
        if self.no_images:
            args += ["--no-images"]
        if self.out != fmt.default_store_path(
            self.root, self.dataset, self.image_package, self.image_size, self.fit
        ):
            args += ["--out", self.out]
        return shlex.join([*args, "--splits", self.splits])


def _check_choice(name: str, value, valid: Sequence) -> None:
    if value not in valid:
        raise ValueError(f"Invalid {name} {value!r}. Valid values are: {', '.join(repr(v) for v in valid)}.")


@dataclass
class BuildResult:
    """What a build did."""

    store: str
    n_rows: int
    decoded_now: int = 0
    counts: dict = field(default_factory=dict)
    bad_rows: list = field(default_factory=list)
    report: str | None = None
    seconds: float = 0.0
    up_to_date: bool = False
    resumed: bool = False
    dry_run: bool = False
    estimated_bytes: int = 0


# ---------------------------------------------------------------- locking
@contextlib.contextmanager
def _build_lock(store: str) -> Iterator[None]:
    path = fmt.lock_path(store)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BuildLockedError(
                f"Another build is writing {store!r} (its lock {path!r} is held). Wait for it to finish,"
                " or choose another --out."
            ) from None
        # A finishing builder unlinks the lock file: a lock won on that unlinked file would
        # exclude nobody (the next builder creates a new file), so take it on the file at the path.
        with contextlib.suppress(FileNotFoundError):
            st, held = os.stat(path), os.fstat(fd)
            if (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino):
                break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


# ---------------------------------------------------------------- stage 1: metadata
def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def _write_metadata(
    path: str, cfg: BuildConfig, table: Table, source_fp: dict, target_splits: list[str]
) -> None:
    n, s = table.n_rows, cfg.image_size
    with h5py.File(path, "w", libver=LIBVER) as f:
        a = f.attrs
        a[fmt.ATTR_FORMAT] = fmt.FORMAT_NAME
        a[fmt.ATTR_VERSION] = fmt.FORMAT_VERSION
        a[fmt.ATTR_DATASET] = cfg.dataset
        a[fmt.ATTR_IMAGE_PACKAGE] = cfg.image_package
        a[fmt.ATTR_IMAGE_SIZE] = s
        a[fmt.ATTR_FIT] = cfg.fit
        a[fmt.ATTR_RESIZE_FILTER] = fmt.RESIZE_FILTER
        a[fmt.ATTR_PAD_FILL] = fmt.PAD_FILL
        a[fmt.ATTR_MAX_NUCLEOTIDES] = -1 if cfg.max_nucleotides is None else cfg.max_nucleotides
        a[fmt.ATTR_N_ROWS] = n
        a[fmt.ATTR_SOURCE] = _json(source_fp)
        a[fmt.ATTR_BUILD_ARGS] = _json(cfg.content_args())
        a[fmt.ATTR_PACKAGE_VERSION] = __version__
        a[fmt.ATTR_COMPLETE] = False
        a[fmt.ATTR_METADATA_WRITTEN] = False
        a[fmt.ATTR_SPLITS_BUILT] = _json(target_splits)
        a[fmt.ATTR_COMPRESSION] = cfg.compression or ""
        a[fmt.ATTR_DRAFT] = bool(cfg.draft)
        a[fmt.ATTR_COUNTS] = _json({})
        a[fmt.ATTR_SOURCE_COLUMNS] = _json(table.header)
        for col in table.columns.values():
            col.codec.write(f.require_group(f"{fmt.COLUMNS}/{col.name}"), col)
        f.create_dataset(fmt.DNA_CODES, data=table.dna_codes)
        f.create_dataset(fmt.DNA_LENGTHS, data=table.dna_lengths.astype(fmt.LENGTH_DTYPE))
        f.create_dataset(fmt.DNA_FULL_LENGTHS, data=table.dna_full_lengths.astype(fmt.LENGTH_DTYPE))
        for name, rows in table.partitions.items():
            f.create_dataset(fmt.partition_path(name), data=np.asarray(rows, dtype=np.int64))
        for name in cfg.tokenize:
            _write_tokens(f, name, table.dna_codes, table.dna_lengths)
        f.create_dataset(fmt.IMAGE_STATUS, data=np.zeros(n, dtype=fmt.STATUS_DTYPE))
        f.create_dataset(fmt.IMAGE_SOURCE_SIZE, data=np.zeros((n, 2), dtype=fmt.SOURCE_SIZE_DTYPE))
        chunks = (1, s, s, 3)
        if cfg.compression:
            opts = {"compression": cfg.compression}
            if cfg.compression == "gzip":
                opts["compression_opts"] = 4
            images = f.create_dataset(
                fmt.IMAGES, shape=(n, s, s, 3), dtype=fmt.IMAGE_DTYPE, chunks=chunks, **opts
            )
        else:
            images = create_preallocated(f, fmt.IMAGES, (n, s, s, 3), chunks)
        a[fmt.ATTR_PIXEL_OFFSET] = chunk_offsets_contiguous(images)
        a[fmt.ATTR_METADATA_WRITTEN] = True
    _fsync_path(path)


def _write_tokens(f: h5py.File, name: str, codes: np.ndarray, lengths: np.ndarray) -> None:
    from .tokenizers import get_tokenizer

    tok = get_tokenizer(name)
    ids, mask = tok.encode_batch_numpy(codes, lengths)
    f.create_dataset(fmt.token_path(name, "ids"), data=ids.astype(fmt.TOKEN_DTYPE))
    f.create_dataset(fmt.token_path(name, "mask"), data=mask.astype(fmt.TOKEN_MASK_DTYPE))
    f[fmt.token_path(name, "ids")].attrs["vocab"] = _json(list(tok.vocab))
    f[fmt.token_path(name, "ids")].attrs["config"] = _json(tok.config())  # readers compare tokenizers


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        _fsync_path(os.path.dirname(path) or ".")


# ---------------------------------------------------------------- reading back a partial file
def _attrs(path: str) -> dict:
    with open_readonly(path) as f:
        return dict(f.attrs)


def _open_partial_attrs(path: str) -> dict | None:
    """Attributes of a partial file, or None if it is unusable (then it is rewritten)."""
    for attempt in range(2):
        try:
            attrs = _attrs(path)
        except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError... on a damaged file
            if attempt == 0 and isinstance(exc, OSError) and clear_status_flags(path):
                log.warning("cleared the 'open for write' flags a killed build left in %s", path)
                continue
            log.warning("discarding unreadable partial file %s (%s)", path, exc)
            return None
        if not attrs.get(fmt.ATTR_METADATA_WRITTEN, False):
            log.warning("discarding partial file %s: its metadata stage did not finish", path)
            return None
        return attrs
    return None  # pragma: no cover


def _mismatch(attrs: dict, cfg: BuildConfig, source_fp: dict) -> list[str]:
    """Human-readable differences between a store's recorded arguments and this build's."""
    diffs = []
    recorded = json.loads(attrs.get(fmt.ATTR_BUILD_ARGS, "{}"))
    for k, v in cfg.content_args().items():
        if recorded.get(k) != v:
            diffs.append(f"{k}: store has {recorded.get(k)!r}, this build asks for {v!r}")
    old_fp = json.loads(attrs.get(fmt.ATTR_SOURCE, "{}"))
    if old_fp.get("sha256") != source_fp.get("sha256"):
        diffs.append(
            f"metadata file changed: store was built from {old_fp.get('name')!r} "
            f"(sha256 {str(old_fp.get('sha256'))[:12]}…, {old_fp.get('size')} bytes), the file is now "
            f"sha256 {source_fp['sha256'][:12]}…, {source_fp['size']} bytes"
        )
    return diffs


# ---------------------------------------------------------------- stage 2: images
def _pwrite_all(fd: int, data, offset: int) -> None:
    """``os.pwrite`` every byte of ``data`` (any C-contiguous buffer) at ``offset``.

    A short write (the disk or the file-size limit reached in the middle of a row) is
    continued, so it raises the real error instead of passing silently.
    """
    view = memoryview(data).cast("B")
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno.EIO, f"pwrite wrote nothing at offset {offset}")
        view, offset = view[n:], offset + n


class _PixelWriter:
    """Writes decoded rows into a partial store; statuses only after their pixels are durable.

    Uncompressed stores are synced on a background thread (every ``SYNC_EVERY_S`` seconds),
    so decoding and writing go on while the disk catches up; the thread syncs the pixels
    written so far, then records the rows handed to it as done, then syncs again. It works
    on its own duplicate of the file descriptor, and its errors (a full disk) are raised by
    the next :meth:`write` or :meth:`sync`.
    """

    SYNC_EVERY_S = 2.0

    def __init__(self, path: str, image_size: int) -> None:
        with open_readonly(path) as f:
            self.pixel_offset = int(f.attrs[fmt.ATTR_PIXEL_OFFSET])
            self.status_offset = f[fmt.IMAGE_STATUS].id.get_offset()
            self.size_offset = f[fmt.IMAGE_SOURCE_SIZE].id.get_offset()
        self.path = path
        self.nbytes = image_size * image_size * 3
        self.pending: list[tuple[int, int, int, int]] = []
        self.h5: h5py.File | None = None
        self.fd = os.open(path, os.O_RDWR)
        if self.pixel_offset < 0:  # compressed: pixels go through HDF5's filter pipeline
            self.h5 = h5py.File(path, "r+", locking=False)
            self.images = self.h5[fmt.IMAGES]
        self.last_sync = time.monotonic()
        self._syncer: threading.Thread | None = None
        self._sync_error: BaseException | None = None

    def write(self, row: int, status: int, pixels: np.ndarray | None, size: tuple[int, int]) -> None:
        if pixels is not None:
            if self.h5 is not None:
                self.images[row] = pixels
            else:  # straight from the decoder's buffer, no copy
                _pwrite_all(self.fd, np.ascontiguousarray(pixels), self.pixel_offset + row * self.nbytes)
        self.pending.append((row, status, size[0], size[1]))
        if time.monotonic() - self.last_sync > self.SYNC_EVERY_S:
            self._sync_in_background()

    def _raise_sync_error(self) -> None:
        if self._sync_error is not None:
            exc, self._sync_error = self._sync_error, None
            raise exc

    def _sync_in_background(self) -> None:
        self._raise_sync_error()
        if self.h5 is not None:  # h5py serialises every call: nothing to gain from a thread
            self.sync()
            return
        if self._syncer is not None and self._syncer.is_alive():
            return  # the previous sync is still running: these rows go with the next one
        rows, self.pending = self.pending, []
        self.last_sync = time.monotonic()
        fd = os.dup(self.fd)
        self._syncer = threading.Thread(target=self._sync_thread, args=(fd, rows), daemon=True)
        self._syncer.start()

    def _sync_thread(self, fd: int, rows: list[tuple[int, int, int, int]]) -> None:
        try:
            self._sync_rows(fd, rows)
        except BaseException as exc:  # raised in the builder's thread by the next write/sync
            self._sync_error = exc
        finally:
            os.close(fd)

    def _sync_rows(self, fd: int, rows: list[tuple[int, int, int, int]]) -> None:
        """Make every pixel written so far durable, then record ``rows`` as done, durably."""
        os.fdatasync(fd)
        if rows:
            r = np.fromiter((x[0] for x in rows), dtype=np.int64, count=len(rows))
            status = np.fromiter((x[1] for x in rows), dtype=fmt.STATUS_DTYPE, count=len(rows))
            size = np.array([(x[2], x[3]) for x in rows], dtype=fmt.SOURCE_SIZE_DTYPE)
            bounds = [0, *(np.flatnonzero(np.diff(r) != 1) + 1).tolist(), len(r)]
            for a, b in zip(bounds[:-1], bounds[1:]):  # one write per run of consecutive rows
                _pwrite_all(fd, status[a:b], self.status_offset + int(r[a]))
                _pwrite_all(fd, size[a:b], self.size_offset + int(r[a]) * 8)
            os.fdatasync(fd)

    def sync(self) -> None:
        """Make written pixels durable, then record their rows as done (after a running background sync)."""
        if self._syncer is not None:
            self._syncer.join()
            self._syncer = None
        self._raise_sync_error()
        if not self.pending:
            return
        if self.h5 is not None:
            self.h5.flush()
        self._sync_rows(self.fd, self.pending)
        self.pending.clear()
        self.last_sync = time.monotonic()

    def close(self) -> None:
        """Sync and close; a second call does nothing."""
        if self.fd < 0:
            return
        try:
            self.sync()
        finally:
            fd, self.fd = self.fd, -1
            try:
                if self.h5 is not None:
                    self.h5.close()
            finally:
                os.close(fd)


def _signal_guard():
    """Turn SIGTERM into :class:`BuildInterrupted` (SIGINT already raises KeyboardInterrupt)."""

    def handler(signum, frame):
        raise BuildInterrupted(signal.Signals(signum).name)

    old = signal.signal(signal.SIGTERM, handler)
    old_xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # file-size limit -> EFBIG, not death
    return old, old_xfsz


@contextlib.contextmanager
def _interruptible(store: str, partial: str) -> Iterator[None]:
    """SIGINT/SIGTERM at any stage become :class:`BuildInterrupted` saying how to resume.

    The image stage installs its own handlers (:func:`_signal_guard`) and words its own
    message; this covers the stages before and after it. Signal handlers can only be set
    from the main thread; elsewhere the defaults stay.
    """

    def handler(signum, frame):
        raise BuildInterrupted(signal.Signals(signum).name)

    main = threading.current_thread() is threading.main_thread()
    if main:
        old_term = signal.signal(signal.SIGTERM, handler)
        old_xfsz = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    except (KeyboardInterrupt, BuildInterrupted) as exc:
        if str(exc).startswith("Build interrupted"):
            raise
        name = str(exc) or "SIGINT"
        if os.path.exists(partial):
            state = f"the work done so far is kept in {partial!r}. Run the same command again to resume."
        elif os.path.exists(store):
            state = f"{store!r} had already been written in full."
        else:
            state = "nothing had been written yet. Run the same command again to start."
        raise BuildInterrupted(f"Build interrupted ({name}): {state}") from None
    finally:
        if main:
            signal.signal(signal.SIGTERM, old_term)
            signal.signal(signal.SIGXFSZ, old_xfsz)


def _decode_rows(cfg, layout, table, image_dir, rows, writer, progress, bad) -> int:
    from ._decode_pool import decode_batches

    rel = layout.image_relpaths(table, rows)
    jobs = [(int(r), os.path.join(image_dir, p)) for r, p in zip(rows, rel)]
    done = 0
    direct = (writer.path, writer.pixel_offset) if writer.pixel_offset >= 0 else None
    for row, status, pixels, size, detail in decode_batches(
        jobs, cfg.image_size, cfg.fit, cfg.draft, image_dir, cfg.workers, cfg.batch_size, direct=direct
    ):
        if status != ImageStatus.OK and cfg.strict:
            # The bad row stays pending, so a rerun with --strict checks its file again.
            writer.sync()
            path = dict(jobs)[row]
            raise MetadataError(
                f"{path}: {ImageStatus(status).reason}{': ' + detail if detail else ''}. "
                "--strict stops at the first bad image; fix or remove the file, or build without --strict "
                "to flag the row and continue.",
                path=path,
                row=row,
            )
        writer.write(row, status, pixels, size)
        if status != ImageStatus.OK:
            bad[row] = detail
        done += 1
        progress.update(1)
    return done


# ---------------------------------------------------------------- the build
def build(cfg: BuildConfig) -> BuildResult:
    """Build (or resume, or extend) a store. See the module docstring for the stages.

    Parameters
    ----------
    cfg : BuildConfig

    Returns
    -------
    BuildResult

    Raises
    ------
    MetadataError
        Bad metadata (the message names file, row, column and value).
    ResumeMismatchError
        A partial or existing store made with other content arguments or metadata.
    BuildLockedError
        Another builder holds the output.
    InsufficientSpaceError
        Not enough free disk space (``check_space=False`` skips the check).
    BuildInterrupted
        SIGINT/SIGTERM; rerun the same command to resume.
    """
    t0 = time.monotonic()
    layout = get_layout(cfg.dataset)
    target_splits = [] if cfg.no_images else layout.explode(cfg.splits)
    meta_path = layout.find_metadata(cfg.root)
    image_dir = layout.image_dir(cfg.root, cfg.image_package)
    if cfg.dry_run:
        return _dry_run(cfg, layout, target_splits)
    store, partial = cfg.out, fmt.partial_path(cfg.out)
    os.makedirs(os.path.dirname(store), exist_ok=True)
    with _interruptible(store, partial), _build_lock(store):
        if cfg.overwrite:
            for p in (store, partial, fmt.report_path(store)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(p)
        source_fp = fingerprint(meta_path)
        resumed = extending = copied = False
        if os.path.exists(store):
            attrs = _attrs(store)
            diffs = _mismatch(attrs, cfg, source_fp)
            if diffs:
                raise ResumeMismatchError(
                    f"{store!r} already exists and was built differently:\n  - "
                    + "\n  - ".join(diffs)
                    + "\nUse --overwrite to rebuild it, or --out to write another file."
                )
            built = set(json.loads(attrs.get(fmt.ATTR_SPLITS_BUILT, "[]")))
            if set(target_splits) <= built:
                log.info("%s is up to date", store)
                return BuildResult(store=store, n_rows=int(attrs[fmt.ATTR_N_ROWS]), up_to_date=True)
            log.info(
                "extending %s with the images of %s", store, ", ".join(sorted(set(target_splits) - built))
            )
            extending = True
            if not (os.path.exists(partial) and _open_partial_attrs(partial) is not None):
                _copy_for_extension(cfg, store, partial)
                copied = True
        attrs = _open_partial_attrs(partial) if os.path.exists(partial) else None
        if attrs is not None:
            diffs = _mismatch(attrs, cfg, source_fp)
            if diffs:
                raise ResumeMismatchError(
                    f"A partial build {partial!r} exists with other arguments:\n  - "
                    + "\n  - ".join(diffs)
                    + "\nRerun with the original arguments to resume it, or add --overwrite to start over."
                )
            resumed = not copied
        if attrs is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            table = layout.read(cfg.root, cfg.max_nucleotides)
            if table.n_rows == 0:
                raise MetadataError(
                    f"{meta_path}: the file has a header but no data rows. Download the metadata file again.",
                    path=meta_path,
                )
            # Check for the images too before writing anything: the pixel array is allocated
            # in full by stage 1 (a file of the store's final size).
            n_images = len(layout.rows_for_splits(table, "+".join(target_splits))) if target_splits else 0
            _check_space(
                cfg, os.path.dirname(store), _estimate_bytes(cfg, table.n_rows, n_images), table.n_rows
            )
            _check_file_size_limit(cfg, table.n_rows)
            try:
                _write_metadata(partial, cfg, table, source_fp, target_splits)
            except OSError as exc:
                if exc.errno not in _NO_SPACE:
                    raise
                raise InsufficientSpaceError(
                    f"Writing {partial!r} failed: {os.strerror(exc.errno)}. Free some space (or raise the"
                    " file-size limit) and run the same command again."
                ) from exc
            del table
        with open_readonly(partial) as f:
            table = load_table_columns(f, _path_columns(layout))
            status = f[fmt.IMAGE_STATUS][()]
            built = set(json.loads(f.attrs[fmt.ATTR_SPLITS_BUILT]))
        all_splits = sorted(built | set(target_splits))
        rows = layout.rows_for_splits(table, "+".join(all_splits)) if all_splits else np.zeros(0, np.int64)
        todo = rows[status[rows] == ImageStatus.PENDING]
        if resumed:
            log.info("resuming %s: %d of %d images still to decode", partial, len(todo), len(rows))
        _check_space(
            cfg, os.path.dirname(store), len(todo) * cfg.image_size**2 * 3, table.n_rows, partial=True
        )
        bad: dict[int, str] = {}
        decoded = 0
        if len(todo):
            try:
                decoded = _fill_images(cfg, layout, table, image_dir, partial, todo, bad)
            except BuildInterrupted as exc:
                if not extending:
                    raise
                # Readers keep the store, which this build never touches: say so.
                raise BuildInterrupted(
                    f"{exc} {store!r} is unchanged until the extension finishes."
                ) from None
        result = _finish(cfg, layout, partial, store, all_splits, bad, table)
    result.decoded_now = decoded
    result.resumed = resumed
    result.seconds = time.monotonic() - t0
    return result


def _copy_for_extension(cfg: BuildConfig, store: str, partial: str) -> None:
    """Copy the store to the partial file, which the extension then fills and renames over it.

    The store itself is never written: readers (in this process or any other, already open or
    opening now) keep reading a complete store at its path, and a new open after the rename
    reads the new file, never a mix of the two.
    """
    used = os.stat(store).st_blocks * 512
    _check_space(cfg, os.path.dirname(store), used, 0, partial=True)
    log.info("copying %s (%s on disk) to extend it", store, _human(used))
    try:
        copy_sparse(store, partial)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        if exc.errno not in _NO_SPACE:
            raise
        raise InsufficientSpaceError(
            f"Copying {store!r} to extend it failed: {os.strerror(exc.errno)} ({store!r} is unchanged). Free"
            " some space (or raise the file-size limit) and run the same command again."
        ) from exc


def _path_columns(layout: SourceLayout) -> list[str]:
    return [c for c in layout.path_columns]


def _fill_images(cfg, layout, table, image_dir, partial, todo, bad) -> int:
    from tqdm.auto import tqdm

    writer = _PixelWriter(partial, cfg.image_size)
    old_term, old_xfsz = _signal_guard()
    progress = tqdm(
        total=len(todo), desc="decoding images", unit="img", disable=not cfg.progress, smoothing=0.05
    )
    done = 0
    try:
        done = _decode_rows(cfg, layout, table, image_dir, todo, writer, progress, bad)
        writer.close()  # the last sync can fail too (a full disk): handled below
    except (KeyboardInterrupt, BuildInterrupted) as exc:
        writer.close()
        progress.close()
        raise BuildInterrupted(
            f"Build interrupted ({str(exc) or 'SIGINT'}): the work done so far is kept in {partial!r}."
            " Run the same command again to resume."
        ) from None
    except OSError as exc:
        with contextlib.suppress(OSError):
            writer.close()
        progress.close()
        if exc.errno in _NO_SPACE:
            raise InsufficientSpaceError(
                f"Writing {partial!r} failed: {os.strerror(exc.errno)}. The work done so far is kept; free"
                " some space (or raise the file-size limit) and run the same command again to resume."
            ) from exc
        raise
    except BaseException:  # e.g. --strict: keep what is durable, release the file
        with contextlib.suppress(Exception):
            writer.close()
        progress.close()
        raise
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGXFSZ, old_xfsz)
    progress.close()
    return done


def _finish(cfg, layout, partial, store, all_splits, bad, table) -> BuildResult:
    with open_readonly(partial) as f:
        status = f[fmt.IMAGE_STATUS][()]
    counts = {s.name: int(c) for s, c in zip(ImageStatus, np.bincount(status, minlength=len(ImageStatus)))}
    with h5py.File(partial, "r+", locking=False) as f:
        f.attrs[fmt.ATTR_COUNTS] = _json(counts)
        f.attrs[fmt.ATTR_SPLITS_BUILT] = _json(all_splits)
        f.attrs[fmt.ATTR_COMPLETE] = True
    _fsync_path(partial)
    image_dir = layout.image_dir(cfg.root, cfg.image_package)
    bad_rows = _bad_rows(layout, table, status, bad, image_dir)
    report = fmt.report_path(store)
    with open(report + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(
            {
                "store": os.path.basename(store),
                "image_dir": image_dir,
                "counts": counts,
                "image_splits": all_splits,
                "bad_images": bad_rows,
            },
            fh,
            indent=1,
            ensure_ascii=False,
        )
    os.replace(report + ".tmp", report)
    # Last: once the store has its name a rerun finds it up to date, so the report must exist.
    os.replace(partial, store)
    _fsync_dir(store)
    return BuildResult(store=store, n_rows=table.n_rows, counts=counts, bad_rows=bad_rows, report=report)


def _bad_rows(layout, table, status, bad, image_dir) -> list[dict]:
    rows = np.flatnonzero(status > ImageStatus.OK)
    if not rows.size:
        return []
    ids = table.columns[layout.schema.id_column].values
    rel = layout.image_relpaths(table, rows)
    out = []
    for r, p in zip(rows, rel):
        st = ImageStatus(int(status[r]))
        out.append(
            {
                "row": int(r),
                "id": ids[r].decode("utf-8"),
                "path": p,
                "status": st.name,
                "reason": st.reason,
                "detail": bad.get(int(r), ""),
            }
        )
    return out


# ---------------------------------------------------------------- estimates
def _estimate_bytes(cfg: BuildConfig, n_rows: int, n_images: int | None) -> int:
    per_row_meta = 400 + (cfg.max_nucleotides or 1000) + 600 * len(cfg.tokenize)
    imgs = 0 if n_images is None else n_images * cfg.image_size**2 * 3
    return n_rows * per_row_meta + imgs


#: errno values that mean "no room for the file": disk full, file-size limit, quota.
_NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _check_file_size_limit(cfg: BuildConfig, n_rows: int) -> None:
    """Refuse to start when the file-size limit (``ulimit -f``) is below the store's size.

    Stage 1 allocates the whole uncompressed pixel array (a sparse file of the final size),
    so a lower limit would fail on the first write. A compressed store grows as pixels come
    in; its uncompressed size is the bound used, because HDF5 cannot close a file after a
    failed write (h5py then crashes the process when it lets go of the file).
    """
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if not cfg.check_space or limit == resource.RLIM_INFINITY:
        return
    size = _estimate_bytes(cfg, n_rows, n_rows)
    if size > limit:
        raise InsufficientSpaceError(
            f"The store will be about {_human(size)} but this process may not write files larger than"
            f" {_human(limit)} (the file-size limit, `ulimit -f`). Raise the limit, or build a smaller"
            " --image-size; --no-space-check tries anyway."
        )


def _check_space(cfg, directory: str, need: int, n_rows: int, partial: bool = False) -> None:
    if not cfg.check_space or need <= 0:
        return
    free = shutil.disk_usage(directory).free
    if need > free:
        raise InsufficientSpaceError(
            f"The store needs about {_human(need)} more but {directory!r} has {_human(free)} free. Free some space,"
            " choose another --out, build fewer --splits or a smaller --image-size, or pass --no-space-check"
            " to try anyway."
        )


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _dry_run(cfg: BuildConfig, layout: SourceLayout, target_splits: list[str]) -> BuildResult:
    table = layout.read(cfg.root, cfg.max_nucleotides)
    rows = layout.rows_for_splits(table, "+".join(target_splits)) if target_splits else np.zeros(0, np.int64)
    est = _estimate_bytes(cfg, table.n_rows, len(rows))
    return BuildResult(
        store=cfg.out, n_rows=table.n_rows, dry_run=True, estimated_bytes=est, decoded_now=len(rows)
    )


def config_from_args(**kwargs) -> BuildConfig:
    """A :class:`BuildConfig` from keyword arguments, ignoring unknown keys."""
    names = {f.name for f in dataclasses.fields(BuildConfig)}
    return BuildConfig(**{k: v for k, v in kwargs.items() if k in names})
