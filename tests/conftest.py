"""Shared fixtures: generated BIOSCAN-shaped roots, stores built from them, and CLI helpers.

Roots come from the project's own sample-data tool (``tools/make_sample_data.py``). Each
distinct set of generator arguments is generated once per session into a private cache and
then *copied* for every test that asks for it, so a test may change its root (delete an
image, edit the metadata) without affecting any other test.

Fixtures
--------
``make_root(**kw)``
    Function fixture: a fresh copy of a generated root under the test's ``tmp_path``
    (``dataset="bioscan5m"`` or ``"bioscan1m"``, plus the generator's keyword arguments:
    ``n_rows``, ``seed``, ``packages``, ``faults``, ...). Returns a :class:`SampleRoot`.
``sample_root_5m``
    Session-wide BIOSCAN-5M root: 320 rows, ``cropped_256``, with the generator's faults.
    Shared by many tests: treat it as read-only (build with ``out=`` into ``tmp_path``).
``store_5m``
    Session-wide store built from ``sample_root_5m`` with the default arguments (256 px,
    crop, every split) at its default path ``<root>/bioscan5m/h5/...``, so
    ``BIOSCAN5M(sample_root_5m.root)`` finds it. Read-only.
``build_store(root, **kw)``
    Build in this process (``bioscan_h5.builder.build``) with the progress bar off.
``run_cli(*args, **subprocess_kw)`` / ``start_cli(*args)``
    Run ``python -m bioscan_h5.cli`` in a subprocess with this interpreter: to the end
    (``subprocess.CompletedProcess``, text output) or started in the background
    (:class:`CliProcess`, in its own session, output to files, killed after the test).
``store_arrays(path)`` / ``assert_stores_equal(a, b)``
    Every dataset and root attribute of an HDF5 file as plain Python/numpy values; the
    check that two stores hold the same values (whatever their chunking or compression).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / "tools"
SAMPLE_IMAGES = TOOLS / "sample_images"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

import make_sample_data  # noqa: E402

#: Generator arguments of ``sample_root_5m`` (and of ``make_root()`` without arguments).
DEFAULT_5M = {"n_rows": 320, "seed": 0, "packages": ("cropped_256",), "faults": True}
#: Metadata file of each dataset, relative to its dataset folder.
_METADATA = {
    "bioscan5m": "metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv",
    "bioscan1m": "BIOSCAN_Insect_Dataset_metadata.tsv",
}


# ------------------------------------------------------------------------------ sample roots
@dataclass
class SampleRoot:
    """A generated dataset root and the manifest the sample-data tool wrote for it.

    Attributes
    ----------
    root : pathlib.Path
        The folder holding ``bioscan5m/`` (or ``bioscan1m/``): the ``root`` argument of the
        datasets and of ``bioscan-h5 build --root``.
    manifest : dict
        ``SAMPLE_MANIFEST.json`` (see ``make_sample_data.make_bioscan5m_root``).
    dataset : str
        ``"bioscan5m"`` or ``"bioscan1m"``.
    """

    root: Path
    manifest: dict[str, Any]
    dataset: str = "bioscan5m"
    _frames: dict = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return int(self.manifest["n_rows"])

    @property
    def dataset_dir(self) -> Path:
        return self.root / self.dataset

    @property
    def metadata(self) -> Path:
        """The metadata file (CSV for BIOSCAN-5M, TSV for BIOSCAN-1M)."""
        return self.dataset_dir / _METADATA[self.dataset]

    def image_dir(self, package: str = "cropped_256") -> Path:
        return self.dataset_dir / "images" / package

    def faults(self, package: str = "cropped_256") -> list[dict]:
        """The manifest's fault records of one package (row, processid, path, kind, ...)."""
        return [f for f in self.manifest["faults"] if f["package"] == package]

    def fault_row(self, kind: str, package: str = "cropped_256") -> int:
        """The row given a fault of this kind (``zero_bytes``, ``cmyk``, ...)."""
        return next(f["row"] for f in self.faults(package) if f["kind"] == kind)

    def fault_path(self, kind: str, package: str = "cropped_256") -> Path:
        return self.root / next(f["path"] for f in self.faults(package) if f["kind"] == kind)

    @property
    def undecodable_rows(self) -> list[int]:
        return list(self.manifest["undecodable_rows"])

    @cached_property
    def peer_frame(self):
        """The metadata as ``bioscan_dataset.load_bioscan5m_metadata`` returns it (all rows).

        Has the peer's ``<rank>_index`` and ``image_path`` columns; ``max_nucleotides=None``.
        """
        if self.dataset != "bioscan5m":
            raise NotImplementedError("peer_frame is for BIOSCAN-5M roots")
        from bioscan_dataset import load_bioscan5m_metadata

        return load_bioscan5m_metadata(str(self.metadata), max_nucleotides=None)

    def image_path(self, row: int, package: str = "cropped_256") -> Path:
        """Where the image of a row lives (from the peer's ``image_path`` column)."""
        return self.image_dir(package) / self.peer_frame["image_path"].iloc[row]

    def split_rows(self, split: str) -> np.ndarray:
        """Rows of one split, in file order."""
        return np.flatnonzero(self.peer_frame["split"].to_numpy() == split)


def _freeze(kw: dict) -> str:
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}, sort_keys=True)


class _RootCache:
    """Generate each distinct root once per session; hand out copies."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.roots: dict[str, SampleRoot] = {}

    def get(self, dataset: str, kw: dict) -> SampleRoot:
        key = dataset + _freeze(kw)
        if key not in self.roots:
            root = self.base / f"root{len(self.roots)}"
            make = {
                "bioscan5m": make_sample_data.make_bioscan5m_root,
                "bioscan1m": make_sample_data.make_bioscan1m_root,
            }[dataset]
            manifest = make(root, **kw)
            self.roots[key] = SampleRoot(root, manifest, dataset)
        return self.roots[key]

    def copy(self, dataset: str, kw: dict, dest: Path) -> SampleRoot:
        src = self.get(dataset, kw)
        shutil.copytree(src.root, dest, symlinks=True)
        return SampleRoot(dest, json.loads(json.dumps(src.manifest)), dataset)


@pytest.fixture(scope="session")
def _root_cache(tmp_path_factory) -> _RootCache:
    return _RootCache(tmp_path_factory.mktemp("root-cache"))


@pytest.fixture
def make_root(tmp_path, _root_cache) -> Callable[..., SampleRoot]:
    """Factory: ``make_root(dataset="bioscan5m", **generator_kwargs) -> SampleRoot``.

    Without arguments: a private copy of the same root as ``sample_root_5m``. Each call
    returns a new folder under ``tmp_path``, free to modify.
    """
    counter = iter(range(1_000_000))

    def make(dataset: str = "bioscan5m", **kw) -> SampleRoot:
        if dataset == "bioscan5m":
            kw = {**DEFAULT_5M, **kw}
        return _root_cache.copy(dataset, kw, tmp_path / f"root{next(counter)}")

    return make


@pytest.fixture(scope="session")
def sample_root_5m(tmp_path_factory, _root_cache) -> SampleRoot:
    """Session-wide BIOSCAN-5M root (320 rows, cropped_256, faults). Do not modify it."""
    return _root_cache.copy("bioscan5m", dict(DEFAULT_5M), tmp_path_factory.mktemp("sample5m") / "root")


# ------------------------------------------------------------------------------ building
def _build(root: SampleRoot | str | os.PathLike, **kw):
    from bioscan_h5.builder import BuildConfig, build

    root = root.root if isinstance(root, SampleRoot) else root
    kw.setdefault("progress", False)
    if kw.get("out") is not None:
        kw["out"] = os.fspath(kw["out"])
    return build(BuildConfig(root=os.fspath(root), **kw))


@pytest.fixture(scope="session")
def build_store() -> Callable:
    """``build_store(root, **BuildConfig kwargs) -> BuildResult``, in this process, no progress bar."""
    return _build


@pytest.fixture(scope="session")
def store_5m(sample_root_5m) -> Path:
    """The default store (256 px, crop, all splits) of ``sample_root_5m``, at its default path."""
    result = _build(sample_root_5m, workers=1)
    return Path(result.store)


# ------------------------------------------------------------------------------ CLI
def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def cli_command(*args: object) -> list[str]:
    """The argv of ``python -m bioscan_h5.cli ARGS`` with this interpreter."""
    return [sys.executable, "-m", "bioscan_h5.cli", *map(str, args)]


def _run_cli(*args: object, timeout: float = 180, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_command(*args), capture_output=True, text=True, timeout=timeout, env=_cli_env(), cwd=REPO, **kw
    )


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``run_cli(*args, timeout=180) -> CompletedProcess`` (``returncode``, ``stdout``, ``stderr``)."""
    return _run_cli


@dataclass
class CliProcess:
    """A running ``bioscan-h5`` subprocess (see the ``start_cli`` fixture)."""

    proc: subprocess.Popen
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float = 180) -> int:
        return self.proc.wait(timeout)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def start_cli(tmp_path) -> Callable[..., CliProcess]:
    """``start_cli(*args) -> CliProcess``: start the CLI in its own session, output to files.

    Every process group started this way is killed (SIGKILL) at the end of the test, so a
    failing test leaves no builder or decoding worker behind.
    """
    started: list[subprocess.Popen] = []
    counter = iter(range(1_000_000))

    def start(*args: object) -> CliProcess:
        i = next(counter)
        out, err = tmp_path / f"cli{i}.out", tmp_path / f"cli{i}.err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(
                cli_command(*args), stdout=fo, stderr=fe, env=_cli_env(), cwd=REPO, start_new_session=True
            )
        started.append(proc)
        return CliProcess(proc, out, err)

    yield start
    import signal

    for proc in started:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


# ------------------------------------------------------------------------------ comparing stores
def _store_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    datasets: dict[str, np.ndarray] = {}
    with h5py.File(path, "r", locking=False) as f:

        def visit(name: str, obj) -> None:
            if isinstance(obj, h5py.Dataset):
                datasets[name] = obj[()]

        f.visititems(visit)
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in f.attrs.items()}
    return datasets, attrs


@pytest.fixture(scope="session")
def store_arrays() -> Callable:
    """``store_arrays(path) -> (datasets, root_attrs)``: every dataset read into memory."""
    return _store_arrays


def assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    """Both dicts hold the same names, and equal arrays (dtype and shape included)."""
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert a[name].shape == b[name].shape, name
        nan = a[name].dtype.kind in "fc"
        assert np.array_equal(a[name], b[name], equal_nan=nan), f"{name} differs"


@pytest.fixture(scope="session")
def assert_stores_equal() -> Callable:
    """``assert_stores_equal(a, b, ignore_attrs=(), attrs=True)``: same datasets, same root attributes.

    Datasets are compared value by value (dtype and shape included), whatever their storage
    (chunking, compression); ``attrs=False`` skips the root attributes.
    """

    def check(
        a: str | os.PathLike, b: str | os.PathLike, ignore_attrs: tuple[str, ...] = (), attrs: bool = True
    ) -> None:
        da, aa = _store_arrays(a)
        db, ab = _store_arrays(b)
        assert_same_arrays(da, db)
        if not attrs:
            return
        for k in ignore_attrs:
            aa.pop(k, None)
            ab.pop(k, None)
        assert aa.keys() == ab.keys()
        for k in aa:
            assert np.array_equal(np.asarray(aa[k]), np.asarray(ab[k])), (
                f"attribute {k}: {aa[k]!r} != {ab[k]!r}"
            )

    return check
