"""Helpers shared by the fault tests: subprocesses that cannot hang the suite, store arrays.

Every program under test runs in a real subprocess. :func:`run` turns a hang (no exit within
its timeout) into a test failure instead of a stuck suite, and :func:`crash` says whether a
return code means the process was killed by a signal (a segfault reads as ``-11``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from bioscan_h5 import format as fmt

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
#: ``bioscan-h5 build`` with stage markers and time dilation (see that file).
INSTRUMENTED_BUILD = Path(__file__).with_name("_instrumented_build.py")
#: Environment variable naming the JSON-lines file the ``record`` fixture appends rows to.
LOG_ENV = "BIOSCAN_H5_RELIABILITY_LOG"
#: Seconds after which a subprocess that has not exited counts as hung.
HANG_S = 120.0
#: Metadata file of each dataset, relative to the root.
METADATA = {
    "bioscan5m": Path("bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv"),
    "bioscan1m": Path("bioscan1m/BIOSCAN_Insect_Dataset_metadata.tsv"),
}


# ------------------------------------------------------------------------------ subprocesses
def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment, with the repository first on ``PYTHONPATH`` and ``extra`` added."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.pop(LOG_ENV, None)
    env.update(extra)
    return env


def cli_argv(*args: object) -> list[str]:
    """``python -m bioscan_h5.cli ARGS`` with this interpreter."""
    return [sys.executable, "-m", "bioscan_h5.cli", *map(str, args)]


def run(argv: list[str], *, timeout: float = HANG_S, **kw: Any) -> subprocess.CompletedProcess:
    """Run ``argv`` to completion (text output captured); a hang fails the test.

    Parameters
    ----------
    argv : list of str
    timeout : float
        Seconds before the process is killed and the test fails as "hung".
    **kw
        Passed to :func:`subprocess.run` (``env`` defaults to :func:`subprocess_env`).
    """
    kw.setdefault("env", subprocess_env())
    kw.setdefault("cwd", REPO)
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: {argv[:4]}... did not exit within {timeout} s")


def run_cli(*args: object, timeout: float = HANG_S, **kw: Any) -> subprocess.CompletedProcess:
    """Run ``bioscan-h5 ARGS`` in a subprocess (see :func:`run`)."""
    return run(cli_argv(*args), timeout=timeout, **kw)


def run_python(code: str, *args: object, timeout: float = HANG_S, **kw: Any) -> subprocess.CompletedProcess:
    """Run ``python -c CODE ARGS`` in a subprocess (see :func:`run`)."""
    return run([sys.executable, "-c", code, *map(str, args)], timeout=timeout, **kw)


def crash(returncode: int) -> str | None:
    """The signal's name if ``returncode`` says the process was killed by one, else None."""
    if returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def assert_no_crash(proc: subprocess.CompletedProcess | subprocess.Popen) -> None:
    """Fail if the process died of a signal (segfault, abort, ...)."""
    sig = crash(proc.returncode)
    assert sig is None, f"the process crashed ({sig}); stderr: {getattr(proc, 'stderr', '')!s:.2000}"


@dataclass
class Started:
    """A subprocess started in its own session (process group), output going to files."""

    proc: subprocess.Popen
    out: Path
    err: Path

    @property
    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def markers(self) -> list[str]:
        """Stage markers printed so far (``@build``, ``@images``, ``@finish``), in order."""
        return [line.split()[0][1:] for line in self.stdout.splitlines() if line.startswith("@")]

    def wait_marker(self, name: str, timeout: float = 60.0) -> bool:
        """Wait until the marker ``@name`` is printed: True, or False if the process exited first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if name in self.markers():
                return True
            if self.proc.poll() is not None:
                return name in self.markers()
            time.sleep(0.002)
        self.kill_group(signal.SIGKILL)
        pytest.fail(f"hung: marker @{name} not seen within {timeout} s; stderr: {self.stderr[-2000:]}")

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group (the builder and its decoding workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def group_alive(self) -> bool:
        """Whether any process of the group is still there (a leftover decoding worker...)."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout: float = HANG_S) -> int:
        """Wait for the exit; a hang kills the group and fails the test."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_group(signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"hung: no exit within {timeout} s; stderr: {self.stderr[-2000:]}")


def start(argv: list[str], logs: Path, *, env: dict[str, str] | None = None, **kw: Any) -> Started:
    """Start ``argv`` in a new session with stdout/stderr to files under ``logs``."""
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.glob("*.out")))
    out, err = logs / f"p{n}.out", logs / f"p{n}.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            argv,
            stdout=fo,
            stderr=fe,
            env=env or subprocess_env(),
            cwd=REPO,
            start_new_session=True,
            **kw,
        )
    return Started(proc, out, err)


def start_build(*args: object, logs: Path, dilate: str = "", **kw: Any) -> Started:
    """Start the instrumented ``bioscan-h5 build ARGS`` (markers on stdout, optional dilation)."""
    env = subprocess_env(BIOSCAN_H5_DILATE=dilate)
    return start([sys.executable, str(INSTRUMENTED_BUILD), *map(str, args)], logs, env=env, **kw)


# ------------------------------------------------------------------------------ stores
def store_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every dataset of an HDF5 file read into memory, and its root attributes."""
    datasets: dict[str, np.ndarray] = {}
    with h5py.File(path, "r", locking=False) as f:

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                datasets[name] = obj[()]

        f.visititems(visit)
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in f.attrs.items()}
    return datasets, attrs


#: The datasets that change as images are decoded (format 2 adds their checksums).
IMAGE_SIDE = frozenset(
    {
        fmt.IMAGES,
        *fmt.IMAGE_ROW_ARRAYS,
        fmt.CHECKSUM_IMAGES,
        *(fmt.checksum_block_path(name) for name in fmt.IMAGE_ROW_ARRAYS),
    }
)


def with_checksums(names: set[str]) -> set[str]:
    """``names`` and the checksum datasets that change with them (their blocks, the row CRCs)."""
    if not names:
        return set(names)
    return {*names, fmt.CHECKSUM_ROWS, *(fmt.checksum_block_path(n) for n in names)}


def differences(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
    """Names of the datasets that differ between two :func:`store_arrays` results."""
    out = sorted(set(a) ^ set(b))
    for name in sorted(set(a) & set(b)):
        x, y = a[name], b[name]
        nan = x.dtype.kind in "fc"
        if x.dtype != y.dtype or x.shape != y.shape or not np.array_equal(x, y, equal_nan=nan):
            out.append(name)
    return out


def superblock_open_for_write(path: str | os.PathLike) -> bool:
    """Whether a v2/v3 superblock still carries the "open for write" flags of a killed writer."""
    with open(path, "rb") as fh:
        head = fh.read(12)
    return len(head) == 12 and head[:8] == b"\x89HDF\r\n\x1a\n" and head[8] in (2, 3) and head[11] != 0


def build_state(store: str | os.PathLike) -> str:
    """Where a killed build stood, from the files it left (used to classify kill moments).

    Returns one of ``"metadata"`` (no partial file yet, or one whose metadata stage did not
    finish), ``"images"`` (metadata written, not complete), ``"finish"`` (HDF5 was setting the
    final attributes, or complete but not renamed) and ``"done"`` (renamed into place). For
    uncompressed builds only: a compressed build also has HDF5 open for writing in stage 2.
    """
    store = os.fspath(store)
    partial = fmt.partial_path(store)
    if os.path.exists(store):
        return "done" if os.path.exists(fmt.report_path(store)) else "finish"
    if not os.path.exists(partial):
        return "metadata"
    return _state_from_attrs(partial)


def _state_from_attrs(partial: str) -> str:
    if superblock_open_for_write(partial):
        # Killed while HDF5 had the file open for writing: in stage 1, or in the attribute
        # update of the finish stage (an uncompressed build writes its pixels without HDF5).
        # Read a copy with the flags cleared, as the builder would.
        from bioscan_h5._hdf5 import clear_status_flags

        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "copy.h5")
            shutil.copyfile(partial, copy)
            clear_status_flags(copy)
            state = _state_from_attrs(copy)
        return "finish" if state == "images" else state
    try:
        with h5py.File(partial, "r", locking=False) as f:
            attrs = dict(f.attrs)
    except Exception:
        return "metadata"  # unreadable: the builder discards it and starts again
    if not attrs.get(fmt.ATTR_METADATA_WRITTEN, False):
        return "metadata"
    return "finish" if attrs.get(fmt.ATTR_COMPLETE, False) else "images"


# ------------------------------------------------------------------------------ metadata files, partial stores
def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """A CSV metadata file as its header and its data rows."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], body: list[list[str]]) -> None:
    """Write a CSV metadata file from its header and data rows (LF line endings)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *body])


def rows_done(partial: str) -> int:
    """Rows marked done in a partial store, -1 while its metadata stage is running."""
    try:
        with h5py.File(partial, "r", locking=False) as f:
            if not f.attrs.get(fmt.ATTR_METADATA_WRITTEN, False):
                return -1
            return int(np.count_nonzero(f[fmt.IMAGE_STATUS][()]))
    except (OSError, KeyError):
        return -1


# ------------------------------------------------------------------------------ the doc
_TMP = re.escape(os.path.realpath(tempfile.gettempdir()))
_TMP_PATH = re.compile(rf"(?:{_TMP}|{re.escape(tempfile.gettempdir())})/[^\s'\"]*/")


def sanitize(text: str, limit: int = 320) -> str:
    """``text`` on one line, temporary folders shown as ``…/``, at most ``limit`` characters."""
    text = _TMP_PATH.sub("…/", str(text))
    text = text.replace(str(REPO) + "/", "")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def append_row(row: dict[str, str]) -> None:
    """Append one row to the log named by ``$BIOSCAN_H5_RELIABILITY_LOG`` (no-op when unset)."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
