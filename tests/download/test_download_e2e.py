"""``download=True`` and ``bioscan-h5 download`` end to end: fetch, verify, extract, build, read.

A real HTTP server on 127.0.0.1 serves archives packed from generated sample roots exactly
like the published ones (file names and member layout of ``archives.json``), with a
``manifest.json`` giving their checksums; the datasets and the command reach it through the
mirror setting. Every sample read from a store built this way must equal the sample read
from a store built straight from the generated root. No test touches the internet: any
connection to another host fails, in this process and in the CLI subprocesses.
"""

from __future__ import annotations

import copy
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bioscan_h5 import BIOSCAN1M, BIOSCAN5M, cli
from bioscan_h5 import build as build_package
from bioscan_h5 import download as dl
from bioscan_h5 import format as fmt
from bioscan_h5.build import BuildConfig, BuildResult
from bioscan_h5.download import transfer as dl_transfer
from bioscan_h5.errors import DownloadError
from bioscan_h5.store import Store
from tools import make_sample_data

from ._helpers import md5

REPO = Path(__file__).resolve().parents[2]

LOOPBACK = ("127.0.0.1", "localhost", "::1")
EVAL_SPLITS = ("val", "test", "key_unseen", "val_unseen", "test_unseen", "other_heldout")
META_5M = "BIOSCAN_5M_Insect_Dataset_metadata_MultiTypes.zip"
EVAL_ZIP = "BIOSCAN_5M_cropped_256_eval.zip"
PRETRAIN_ZIPS = ("BIOSCAN_5M_cropped_256_pretrain.01.zip", "BIOSCAN_5M_cropped_256_pretrain.02.zip")
TRAIN_ZIP = "BIOSCAN_5M_cropped_256_train.zip"
META_1M = "BIOSCAN_Insect_Dataset_metadata.tsv"
CLIBD_ZIP = "CLIBD_partitioning.zip"
IMAGES_1M = "BIOSCAN_1M_cropped_256.zip"

#: Installed as ``sitecustomize`` in the CLI subprocesses: the same guard as ``_loopback_only``.
_GUARD = f"""\
import socket

_real_create_connection = socket.create_connection


def _loopback_only(address, *args, **kwargs):
    if address[0] not in {LOOPBACK!r}:
        raise OSError(f"test guard: a connection to {{address!r}} was refused (no test touches the internet)")
    return _real_create_connection(address, *args, **kwargs)


socket.create_connection = _loopback_only
"""


# ---------------------------------------------------------------- archives packed like the real ones
@dataclass
class Sources:
    """Generated roots, the archives packed from them, and their manifest."""

    root_5m: Path
    root_1m: Path
    archives: Path  #: folder of the packed archives
    manifest: dict


def _zip(members: dict[str, bytes]) -> bytes:
    """A deflated zip with a directory entry for every folder, as ``zip -r`` writes them."""
    folders = sorted(
        {"/".join(name.split("/")[:i]) + "/" for name in members for i in range(1, name.count("/") + 1)}
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder in folders:
            zf.writestr(zipfile.ZipInfo(folder), b"")
        for name in sorted(members):
            zf.writestr(name, members[name])
    return buf.getvalue()


def _files(root: Path, folder: str) -> dict[str, bytes]:
    """Every file under ``root/folder``, keyed by its path relative to ``root``."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def _check(files: dict[str, bytes], prefix: str = "") -> dict[str, str]:
    """Check files as the published table lists them: the first and last file of each folder."""
    by_folder: dict[str, list[str]] = {}
    for rel in sorted(files):
        by_folder.setdefault(rel.rsplit("/", 1)[0], []).append(rel)
    picked = sorted({rels[0] for rels in by_folder.values()} | {rels[-1] for rels in by_folder.values()})
    return {prefix + rel: md5(files[rel]) for rel in picked}


def _pack(root_5m: Path, root_1m: Path, out: Path) -> dict:
    """Write the archives into ``out``; return the manifest (the built-in table, with their checksums)."""
    manifest = copy.deepcopy(json.loads((Path(dl.__file__).parent / "archives.json").read_text()))
    packed: dict[str, bytes] = {}
    checks: dict[str, dict[str, str]] = {}

    # BIOSCAN-5M: the metadata zip and the four image zips, members relative to the root.
    images = "bioscan5m/images/cropped_256"
    metadata = _files(root_5m, "bioscan5m/metadata")
    packed[META_5M] = _zip(metadata)
    checks[META_5M] = {rel: md5(data) for rel, data in metadata.items()}
    groups: dict[str, dict[str, bytes]] = {EVAL_ZIP: {}, TRAIN_ZIP: {}}
    for split in EVAL_SPLITS:
        groups[EVAL_ZIP].update(_files(root_5m, f"{images}/{split}"))
    groups[TRAIN_ZIP] = _files(root_5m, f"{images}/train")
    chunks = sorted(p.name for p in (root_5m / images / "pretrain").iterdir())
    half = len(chunks) // 2
    for name, part in zip(PRETRAIN_ZIPS, (chunks[:half], chunks[half:])):
        groups[name] = {}
        for chunk in part:
            groups[name].update(_files(root_5m, f"{images}/pretrain/{chunk}"))
    for name, files in groups.items():
        assert files, name
        packed[name] = _zip(files)
        checks[name] = _check(files)

    # BIOSCAN-1M: the TSV as a plain file; the zips extract into bioscan1m/, the images
    # under a leading "bioscan/" folder that is dropped.
    packed[META_1M] = (root_1m / "bioscan1m" / META_1M).read_bytes()
    checks[META_1M] = {}
    partitions = _files(root_1m / "bioscan1m", "CLIBD_partitioning")
    packed[CLIBD_ZIP] = _zip(partitions)
    checks[CLIBD_ZIP] = {f"bioscan1m/{rel}": md5(data) for rel, data in partitions.items()}
    images_1m = _files(root_1m / "bioscan1m", "images/cropped_256")
    packed[IMAGES_1M] = _zip({f"bioscan/{rel}": data for rel, data in images_1m.items()})
    checks[IMAGES_1M] = _check(images_1m, "bioscan1m/")

    out.mkdir(parents=True)
    for spec in manifest["datasets"].values():
        spec["archives"] = [a for a in spec["archives"] if a["filename"] in packed]  # no original_256
        for entry in spec["archives"]:
            data = packed[entry["filename"]]
            (out / entry["filename"]).write_bytes(data)
            entry["md5"] = md5(data)
            entry["check"] = checks[entry["filename"]] or {entry["download_to"]: md5(data)}
    assert sorted(
        a["filename"] for spec in manifest["datasets"].values() for a in spec["archives"]
    ) == sorted(packed)
    return manifest


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Sources:
    base = tmp_path_factory.mktemp("download-e2e")
    make_sample_data.make_bioscan5m_root(base / "src5m", n_rows=64, seed=3, faults=False)
    make_sample_data.make_bioscan1m_root(base / "src1m", n_rows=64, seed=3, faults=False)
    manifest = _pack(base / "src5m", base / "src1m", base / "archives")
    return Sources(base / "src5m", base / "src1m", base / "archives", manifest)


# ---------------------------------------------------------------- the mirror server
@dataclass
class Rules:
    status: int | None = None  #: answer every request with this error status
    cut_after: int | None = None  #: on the first request, close the connection after N body bytes
    corrupt: int = 0  #: serve damaged bytes on this many first requests


@dataclass
class Mirror:
    url: str
    directory: Path
    manifest: dict
    requests: list[tuple[str, str | None]] = field(default_factory=list)  #: (file name, Range header)
    rules: dict[str, Rules] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def archive_requests(self) -> list[str]:
        return [name for name, _ in self.requests if name != dl.MANIFEST_NAME]

    def ranges(self, name: str) -> list[str | None]:
        return [rng for n, rng in self.requests if n == name]

    def write_manifest(self) -> None:
        (self.directory / dl.MANIFEST_NAME).write_text(json.dumps(self.manifest))

    def replace(self, filename: str, data: bytes) -> None:
        """Serve other bytes under ``filename``, with a manifest checksum that matches them."""
        (self.directory / filename).write_bytes(data)
        for spec in self.manifest["datasets"].values():
            for entry in spec["archives"]:
                if entry["filename"] == filename:
                    entry["md5"] = md5(data)
        self.write_manifest()


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "TestMirror/1"

    def log_message(self, format, *args):  # silence the request log
        pass

    def do_GET(self):  # http.server's naming
        mirror: Mirror = self.server.mirror  # type: ignore[attr-defined]
        name = urllib.parse.unquote(self.path.lstrip("/"))
        with mirror.lock:
            mirror.requests.append((name, self.headers.get("Range")))
            nth = sum(n == name for n, _ in mirror.requests)
        rules = mirror.rules.get(name, Rules())
        path = mirror.directory / name
        if rules.status:
            self.send_error(rules.status)
            return
        if "/" in name or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if nth <= rules.corrupt:
            data = data[:100] + bytes(b ^ 0x5A for b in data[100:200]) + data[200:]
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if nth == 1 and rules.cut_after is not None:
            body = body[: rules.cut_after]
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def mirror(sources, tmp_path):
    directory = tmp_path / "mirror"
    shutil.copytree(sources.archives, directory)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    state = Mirror(f"http://{host}:{port}", directory, copy.deepcopy(sources.manifest))
    state.write_manifest()
    httpd.mirror = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# ---------------------------------------------------------------- helpers
def store_path(root: Path, dataset: str = "bioscan5m") -> Path:
    return Path(fmt.default_store_path(root, dataset, "cropped_256", fmt.DEFAULT_IMAGE_SIZE))


def splits_built(root: Path, dataset: str = "bioscan5m") -> list[str]:
    with Store(store_path(root, dataset)) as st:
        return json.loads(st.attrs[fmt.ATTR_SPLITS_BUILT])


def assert_same_samples(got, want) -> None:
    """Same rows, metadata and samples (pixels, barcode, label) in the same order."""
    assert len(got) == len(want) > 0
    assert np.array_equal(got.rows, want.rows)
    pd.testing.assert_frame_equal(got.metadata, want.metadata)
    for i in range(len(want)):
        a, b = got[i], want[i]
        assert len(a) == len(b)
        for x, y in zip(a, b):
            if isinstance(y, np.ndarray):
                assert x.shape == y.shape and np.array_equal(x, y), f"sample {i}: pixels differ"
            else:
                assert x == y, f"sample {i}: {x!r} != {y!r}"
    assert got[0][0].any()  # decoded pixels, not the zeros of a row without an image


def reference_5m(sources: Sources, split: str) -> BIOSCAN5M:
    """The dataset over the generated root itself (its store is built there on first use)."""
    return BIOSCAN5M(sources.root_5m, split=split, image_format="numpy")


def outside_listing(base: Path, root: Path) -> list[str]:
    return sorted(str(p) for p in base.rglob("*") if root not in p.parents and p != root)


def refuse_to_build(cfg: BuildConfig) -> BuildResult:
    raise AssertionError(f"unexpected build of {cfg.out}")


def cli_env(tmp_path: Path) -> dict[str, str]:
    guard = tmp_path / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(_GUARD)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(guard), str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


@pytest.mark.subprocess
def test_cli_subprocesses_cannot_reach_other_hosts(tmp_path):
    code = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=1)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=cli_env(tmp_path)
    )
    assert proc.returncode != 0 and "test guard" in proc.stderr


# ---------------------------------------------------------------- BIOSCAN-5M through the dataset
def test_dataset_downloads_only_what_the_split_needs_and_builds(mirror, sources, tmp_path, capsys):
    root = tmp_path / "root"
    ds = BIOSCAN5M(root, split="val", download=True, mirror=mirror.url, image_format="numpy")
    assert mirror.archive_requests() == [META_5M, EVAL_ZIP]
    assert mirror.requests[0] == (dl.MANIFEST_NAME, None)
    images = root / "bioscan5m/images/cropped_256"
    assert sorted(p.name for p in images.iterdir()) == sorted(EVAL_SPLITS)
    assert not list(root.glob("*.zip")) and not list(root.glob("*.part"))  # archives deleted once extracted
    assert ds.store_path == str(store_path(root))
    assert splits_built(root) == ["val"]  # only val's images were decoded
    assert_same_samples(ds, reference_5m(sources, "val"))
    assert "building" in capsys.readouterr().err

    # Again: nothing is fetched (the manifest is read), nothing is built.
    again = BIOSCAN5M(root, split="validation", download=True, mirror=mirror.url, image_format="numpy")
    assert mirror.archive_requests() == [META_5M, EVAL_ZIP] and len(again) == len(ds)
    assert "building" not in capsys.readouterr().err

    # Another split of the same archive: nothing is fetched, the store is extended with its images.
    ds = BIOSCAN5M(root, split="test", download=True, mirror=mirror.url, image_format="numpy")
    assert mirror.archive_requests() == [META_5M, EVAL_ZIP]
    assert splits_built(root) == ["test", "val"]
    assert_same_samples(ds, reference_5m(sources, "test"))


@pytest.mark.subprocess
def test_cli_download_then_dataset_opens_without_building(mirror, sources, tmp_path, monkeypatch, capsys):
    root = tmp_path / "root"
    args = ["download", "--dataset", "bioscan5m", "--root", root, "--splits", "val", "--mirror", mirror.url]
    proc = subprocess.run(
        [sys.executable, "-m", "bioscan_h5.cli", *map(str, args), "-q", "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_env(tmp_path),
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == str(root / "bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv")
    assert lines[1:-1] == [str(root / "bioscan5m/images/cropped_256" / s) for s in EVAL_SPLITS]
    assert lines[-1] == str(store_path(root))
    assert mirror.archive_requests() == [META_5M, EVAL_ZIP]
    assert splits_built(root) == ["val"]

    reference = reference_5m(sources, "val")
    with monkeypatch.context() as patch:  # the store is there: opening it builds nothing
        patch.setattr(build_package, "build", refuse_to_build)
        ds = BIOSCAN5M(root, split="val", image_format="numpy")
    assert_same_samples(ds, reference)

    # The pretrain split group is two archives; the store is extended with pretrain only.
    argv = [*map(str, args[:5]), "--splits", "pretrain", "--mirror", mirror.url, "-q", "--workers", "1"]
    assert cli.main(argv) == 0
    assert mirror.archive_requests() == [META_5M, EVAL_ZIP, *PRETRAIN_ZIPS]
    assert not (root / "bioscan5m/images/cropped_256/train").exists()
    assert capsys.readouterr().out.splitlines()[-1] == str(store_path(root))
    assert splits_built(root) == ["pretrain", "val"]
    assert_same_samples(
        BIOSCAN5M(root, split="pretrain", image_format="numpy"), reference_5m(sources, "pretrain")
    )


def test_cli_download_no_build_and_invalid_split(mirror, tmp_path, capsys):
    root = tmp_path / "root"
    base = ["download", "--dataset", "bioscan5m", "--root", str(root), "--mirror", mirror.url, "-q"]
    assert cli.main([*base, "--splits", "train", "--no-build"]) == 0
    assert mirror.archive_requests() == [META_5M, TRAIN_ZIP]
    assert (root / "bioscan5m/images/cropped_256/train").is_dir() and not (root / "bioscan5m/h5").exists()
    assert cli.main([*base, "--splits", "trian"]) == 2
    assert "Invalid split name 'trian'" in capsys.readouterr().err
    assert mirror.archive_requests() == [META_5M, TRAIN_ZIP]  # refused before anything was fetched


# ---------------------------------------------------------------- BIOSCAN-1M
def test_bioscan1m_clibd_download_and_build(mirror, sources, tmp_path, capsys):
    root = tmp_path / "root"
    kw = {"partitioning_version": "clibd", "image_format": "numpy"}
    ds = BIOSCAN1M(root, split="val_seen", download=True, mirror=mirror.url, **kw)
    assert mirror.archive_requests() == [META_1M, CLIBD_ZIP, IMAGES_1M]
    assert (root / "bioscan1m" / META_1M).read_bytes() == (
        sources.root_1m / "bioscan1m" / META_1M
    ).read_bytes()
    assert not (root / "bioscan").exists()  # the leading folder of the image zip was dropped
    assert sorted(p.name for p in (root / "bioscan1m/CLIBD_partitioning").iterdir()) == sorted(
        p.name for p in (sources.root_1m / "bioscan1m/CLIBD_partitioning").iterdir()
    )
    assert splits_built(root, "bioscan1m") == ["clibd:val_seen"]
    assert_same_samples(ds, BIOSCAN1M(sources.root_1m, split="val_seen", **kw))

    # The command line takes the builder's <partitioning>:<split> names; everything is in place.
    argv = ["download", "--dataset", "bioscan1m", "--root", str(root), "--mirror", mirror.url, "-q"]
    assert cli.main([*argv, "--splits", "clibd:test_seen", "--workers", "1"]) == 0
    assert mirror.archive_requests() == [META_1M, CLIBD_ZIP, IMAGES_1M]
    assert splits_built(root, "bioscan1m") == ["clibd:test_seen", "clibd:val_seen"]
    assert_same_samples(
        BIOSCAN1M(root, split="test_seen", build=False, **kw),
        BIOSCAN1M(sources.root_1m, split="test_seen", **kw),
    )
    assert cli.main([*argv, "--splits", "train_seen"]) == 2  # not a large_diptera_family split
    assert "clibd:train_seen" in capsys.readouterr().err


# ---------------------------------------------------------------- failures on the way
@pytest.mark.parametrize("how", ["connection_dropped", "process_killed"])
def test_interrupted_transfer_resumes_then_builds(mirror, sources, tmp_path, how):
    root = tmp_path / "root"
    data = (mirror.directory / EVAL_ZIP).read_bytes()
    half = len(data) // 2
    if how == "connection_dropped":
        mirror.rules[EVAL_ZIP] = Rules(cut_after=half)
    else:  # an earlier run was killed half way: its partial file is continued
        root.mkdir()
        (root / (EVAL_ZIP + dl.PART_SUFFIX)).write_bytes(data[:half])
    ds = BIOSCAN5M(root, split="val", download=True, mirror=mirror.url, image_format="numpy")
    if how == "connection_dropped":
        assert mirror.ranges(EVAL_ZIP) == [None, f"bytes={half}-"]
    else:
        assert mirror.ranges(EVAL_ZIP) == [f"bytes={half}-"]
    assert not (root / (EVAL_ZIP + dl.PART_SUFFIX)).exists()
    assert_same_samples(ds, reference_5m(sources, "val"))


@pytest.mark.parametrize("where", ["served", "on_disk"])
def test_corrupted_archive_is_replaced_then_built(mirror, sources, tmp_path, where, caplog):
    root = tmp_path / "root"
    if where == "served":  # the first transfer arrives damaged
        mirror.rules[EVAL_ZIP] = Rules(corrupt=1)
    else:  # a damaged copy is already where the archive is downloaded to
        root.mkdir()
        data = (mirror.directory / EVAL_ZIP).read_bytes()
        (root / EVAL_ZIP).write_bytes(data[:-300] + b"\0" * 300)
    ds = BIOSCAN5M(root, split="val", download=True, mirror=mirror.url, image_format="numpy")
    assert mirror.archive_requests().count(EVAL_ZIP) == (2 if where == "served" else 1)
    assert "corrupt" in caplog.text
    assert_same_samples(ds, reference_5m(sources, "val"))


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_gives_a_clear_download_error(mirror, tmp_path, status):
    root = tmp_path / "root"
    mirror.rules[EVAL_ZIP] = Rules(status=status)
    with pytest.raises(DownloadError) as info:
        BIOSCAN5M(root, split="val", download=True, mirror=mirror.url)
    message = str(info.value)
    assert f"{mirror.url}/{EVAL_ZIP}" in message and f"HTTP {status}" in message
    assert "mirror" in message and "again" in message  # what to do next
    tries = 1 if status == 404 else 1 + len(dl_transfer.RETRY_DELAYS)  # a 500 is retried
    assert mirror.archive_requests() == [META_5M] + [EVAL_ZIP] * tries
    assert not (root / "bioscan5m/h5").exists() and not (root / "bioscan5m/images").exists()

    mirror.rules.clear()  # the server is back: the same call now succeeds
    assert len(BIOSCAN5M(root, split="val", download=True, mirror=mirror.url)) > 0
    assert mirror.archive_requests()[-1] == EVAL_ZIP


def _evil_zip(kind: str, outside: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("bioscan5m/images/cropped_256/val/AAA1-20.jpg", b"fine")
        if kind == "dotdot":
            zf.writestr("bioscan5m/images/../../../evil.txt", b"owned")
        else:
            zf.writestr(str(outside), b"owned")
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_malicious_archive_is_refused(mirror, tmp_path, kind):
    root = tmp_path / "work" / "root"
    root.parent.mkdir()
    outside = tmp_path / "absolute_evil.txt"
    mirror.replace(EVAL_ZIP, _evil_zip(kind, outside))
    before = outside_listing(tmp_path, root)
    with pytest.raises(DownloadError, match="Refusing to extract zip member"):
        BIOSCAN5M(root, split="val", download=True, mirror=mirror.url)
    assert outside_listing(tmp_path, root) == before  # nothing written outside the root
    assert not (root.parent / "evil.txt").exists() and not outside.exists()
    assert not (root / "bioscan5m/images").exists() and not (root / "bioscan5m/h5").exists()


def test_mirror_from_the_environment(mirror, sources, tmp_path, monkeypatch):
    root = tmp_path / "root"
    monkeypatch.setenv(dl.MIRROR_ENV, mirror.url + "/")
    # Without the image modality only the metadata is fetched, and a store without pixels is built.
    ds = BIOSCAN5M(root, split="val", modality="dna", download=True)
    assert mirror.archive_requests() == [META_5M]
    assert not (root / "bioscan5m/images").exists()
    want = BIOSCAN5M(sources.root_5m, split="val", modality="dna")
    assert [ds[i] for i in range(len(ds))] == [want[i] for i in range(len(want))]
    assert splits_built(root) == []
