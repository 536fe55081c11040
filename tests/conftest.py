"""Shared fixtures: generated BIOSCAN-shaped roots, stores built from them, and CLI helpers.

Layout
------
The folders mirror the package; each is a Python package (``__init__.py``), so modules of
the same name in two folders never clash, and pytest puts the repository root on
``sys.path`` (``pythonpath = ["."]`` in ``pyproject.toml``): tests import their helpers as
``tests.helpers...`` and the sample-data tool as ``from tools import make_sample_data``.

``store/``       the store format, the golden file of format version 1 (``store/data/``), the reader
``build/``       the builder, extending a store, image decoding (``bioscan_h5.images``)
``datasets/``    BIOSCAN-5M and BIOSCAN-1M datasets, DataLoader workers
``tokenizers/``  the DNA tokenizers
``parity/``      parity with bioscan-dataset 1.3.0 (the peer)
``download/``    downloads, end to end through a local HTTP server (``conftest.py``: no internet)
``cli/``         the ``bioscan-h5`` command in a subprocess
``tools/``       the sample-data generator (``tools/make_sample_data.py``)
``faults/``      the reliability matrix: faults, bad input, interrupted builds (``docs/reliability.md``)
``helpers/``     code shared by several folders: ``roots`` (:class:`SampleRoot`), ``cli``,
                 ``stores``, ``dataset`` (the peer and value normalisation), ``bioscan1m``

Fixtures used by one folder live in that folder's ``conftest.py``; the ones below are shared.

Markers (``pyproject.toml``): ``slow``, ``parity`` (whole ``parity/`` folder) and
``subprocess`` (the test starts processes: the CLI, a script, DataLoader workers, killed
builds; in-process builds with decoding workers do not count). ``make test`` runs
everything; ``pytest -m "not slow and not subprocess"`` is a quick local pass.

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
``full_store_5m``, ``lzf_store``, ``jpeg_store_5m``, ``peer_factory``
    More session-wide stores of ``sample_root_5m`` (whole barcodes, metadata only; every
    split with ``--compression lzf``; every split with ``--pixels jpeg``), and the peer's
    dataset on it.
``build_store(root, **kw)``
    Build in this process (``bioscan_h5.build.build``) with the progress bar off.
``run_cli(*args, **subprocess_kw)`` / ``start_cli(*args)``
    Run ``python -m bioscan_h5.cli`` in a subprocess with this interpreter: to the end
    (``subprocess.CompletedProcess``, text output) or started in the background
    (:class:`CliProcess`, in its own session, output to files, killed after the test).
``assert_stores_equal(a, b)``
    The check that two stores hold the same values (whatever their chunking or compression).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import cli, stores
from tests.helpers.cli import CliProcess
from tests.helpers.dataset import Peer
from tests.helpers.roots import DEFAULT_5M, RootCache, SampleRoot


# ------------------------------------------------------------------------------ sample roots
@pytest.fixture(scope="session")
def _root_cache(tmp_path_factory) -> RootCache:
    return RootCache(tmp_path_factory.mktemp("root-cache"))


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
    from bioscan_h5.build import BuildConfig, build

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


def _build_private(tmp_path_factory, root: SampleRoot, name: str, **kw) -> Path:
    """Build ``root`` into a folder of its own (two decoding workers); the store's path."""
    out = tmp_path_factory.mktemp(f"store-{name}") / f"{name}.h5"
    _build(root, out=out, workers=2, **kw)
    return out


@pytest.fixture(scope="session")
def full_store_5m(sample_root_5m, tmp_path_factory) -> Path:
    """A metadata-only store of ``sample_root_5m`` keeping whole barcodes (``--max-nucleotides none``)."""
    return _build_private(tmp_path_factory, sample_root_5m, "full", max_nucleotides=None, no_images=True)


@pytest.fixture(scope="session")
def lzf_store(sample_root_5m, tmp_path_factory) -> Path:
    """A store of ``sample_root_5m`` with every split's images, ``--compression lzf``."""
    return _build_private(tmp_path_factory, sample_root_5m, "lzf", compression="lzf")


@pytest.fixture(scope="session")
def jpeg_store_5m(sample_root_5m, tmp_path_factory) -> Path:
    """A JPEG store (``--pixels jpeg``: the source files' bytes) of ``sample_root_5m``, every split."""
    return _build_private(tmp_path_factory, sample_root_5m, "jpeg", pixels="jpeg")


@pytest.fixture(scope="session")
def peer_factory(sample_root_5m) -> Callable[..., Peer]:
    """``peer_factory(**kwargs) -> Peer`` on ``sample_root_5m`` (constructions cached by arguments)."""
    cache: dict = {}

    def make(**kw) -> Peer:
        key = repr(sorted(kw.items()))
        if key not in cache:
            cache[key] = Peer(str(sample_root_5m.root), **kw)
        return cache[key]

    return make


# ------------------------------------------------------------------------------ CLI
@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``run_cli(*args, timeout=180) -> CompletedProcess`` (``returncode``, ``stdout``, ``stderr``)."""
    return cli.run_cli


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
                cli.cli_command(*args),
                stdout=fo,
                stderr=fe,
                env=cli.cli_env(),
                cwd=cli.REPO,
                start_new_session=True,
            )
        started.append(proc)
        return CliProcess(proc, out, err)

    yield start
    import signal

    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ------------------------------------------------------------------------------ comparing stores
@pytest.fixture(scope="session")
def assert_stores_equal() -> Callable:
    """``assert_stores_equal(a, b, ignore_attrs=(), attrs=True)``: same datasets, same root attributes.

    Datasets are compared value by value (dtype and shape included), whatever their storage
    (chunking, compression); ``attrs=False`` skips the root attributes.
    """
    return stores.assert_stores_equal
