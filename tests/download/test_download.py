"""The download engine, against a real HTTP server on 127.0.0.1 serving generated archives."""

from __future__ import annotations

import argparse
import copy
import hashlib
import http.server
import io
import json
import os
import socket
import stat
import threading
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bioscan_h5 import download as dl
from bioscan_h5.cli.download import add_parser, run
from bioscan_h5.download import extract as dl_extract
from bioscan_h5.errors import ChecksumError, ChecksumMismatchError, DownloadChecksumError, DownloadError

from ._helpers import md5


# ---------------------------------------------------------------- the test server
@dataclass
class Request:
    name: str
    headers: dict[str, str]


@dataclass
class Rules:
    status: int | None = None  #: answer every request with this error status
    cut_after: int | None = None  #: on the first request, close the connection after N body bytes
    ignore_range: bool = False  #: answer Range requests with the whole file (200)
    corrupt: int = 0  #: serve damaged bytes on this many first requests


@dataclass
class ServerState:
    directory: Path
    requests: list[Request] = field(default_factory=list)
    rules: dict[str, Rules] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, name: str) -> int:
        return sum(r.name == name for r in self.requests)

    def names(self) -> list[str]:
        return [r.name for r in self.requests]


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "TestMirror/1"

    def log_message(self, format, *args):  # silence the request log
        pass

    def do_GET(self):  # http.server's naming
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        name = urllib.parse.unquote(self.path.lstrip("/"))
        with state.lock:
            state.requests.append(Request(name, dict(self.headers.items())))
            nth = state.count(name)
        rules = state.rules.get(name, Rules())
        if rules.status:
            self.send_error(rules.status)
            return
        path = state.directory / name
        if "/" in name or not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if nth <= rules.corrupt:
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        start = 0
        range_header = self.headers.get("Range")
        if range_header and not rules.ignore_range:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
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
def server(tmp_path):
    directory = tmp_path / "mirror"
    directory.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = ServerState(directory)  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def url_of(httpd) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host}:{port}"


# ---------------------------------------------------------------- generated archives
BUILTIN = json.loads((Path(dl.__file__).parent / "archives.json").read_text())


def jpeg_bytes(rel: str) -> bytes:
    """Deterministic stand-in bytes for an image (content is never decoded here)."""
    seed = hashlib.sha256(rel.encode()).digest()
    return b"\xff\xd8\xff\xe0" + seed * 40 + b"\xff\xd9"


def member_name(entry: dict, rel: str) -> str:
    """The zip member that extracts to ``rel`` (relative to the root) for an archive entry."""
    extract_to = entry.get("extract_to") or ""
    inner = rel[len(extract_to) + 1 :] if extract_to else rel
    return f"{entry['drop_prefix']}/{inner}" if entry.get("drop_prefix") else inner


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@dataclass
class Mirror:
    url: str
    state: ServerState
    manifest: dict
    files: dict[str, dict[str, bytes]]  #: dataset -> {path relative to the root: content}

    def archive(self, dataset: str, name: str) -> dict:
        return next(a for a in self.manifest["datasets"][dataset]["archives"] if a["name"] == name)

    def write_manifest(self) -> None:
        (self.state.directory / "manifest.json").write_text(json.dumps(self.manifest))

    def replace_archive(self, dataset: str, name: str, data: bytes) -> None:
        entry = self.archive(dataset, name)
        (self.state.directory / entry["filename"]).write_bytes(data)
        entry["md5"] = md5(data)
        self.write_manifest()


def build_mirror(httpd) -> Mirror:
    """Archives in the official structure for every entry of the built-in table, and a manifest."""
    manifest = copy.deepcopy(BUILTIN)
    files: dict[str, dict[str, bytes]] = {}
    for dataset, spec in manifest["datasets"].items():
        files[dataset] = {}
        archives = spec["archives"]
        # A check file listed by several archives (the two pretrain halves) goes into one of them.
        owners: dict[str, list[int]] = {}
        for i, entry in enumerate(archives):
            for rel in entry["check"]:
                owners.setdefault(rel, []).append(i)
        for i, entry in enumerate(archives):
            content: dict[str, bytes] = {}
            for k, rel in enumerate(sorted(entry["check"])):
                if owners[rel][k % len(owners[rel])] == i:
                    content[rel] = (
                        f"{dataset} metadata\n".encode() * 50 if entry["role"] == "metadata" else b""
                    )
                    content[rel] = content[rel] or jpeg_bytes(rel)
            for rel in entry["paths"]:
                if not Path(rel).suffix:  # a folder: give it one more file
                    chunk = "/0" if rel.endswith(("pretrain", "train", "other_heldout")) else ""
                    content[f"{rel}{chunk}/EXTRA{i}.jpg"] = jpeg_bytes(f"{rel}{i}")
            if entry["kind"] == "file":
                (rel,) = entry["paths"]
                data = content.get(rel) or b"sampleid\tprocessid\n1\tA\n"
                content = {rel: data}
            else:
                data = zip_bytes({member_name(entry, rel): b for rel, b in content.items()})
            (httpd.state.directory / entry["filename"]).write_bytes(data)
            entry["md5"] = md5(data)
            entry["check"] = {rel: md5(content[rel]) for rel in entry["check"] if rel in content}
            files[dataset].update(content)
    mirror = Mirror(url_of(httpd), httpd.state, manifest, files)
    mirror.write_manifest()
    return mirror


@pytest.fixture
def mirror(server) -> Mirror:
    return build_mirror(server)


def archive_requests(state: ServerState) -> list[str]:
    return [n for n in state.names() if n != "manifest.json"]


def assert_layout(root: Path, files: dict[str, bytes], prefix: str = "") -> None:
    for rel, data in files.items():
        if rel.startswith(prefix):
            assert (root / rel).read_bytes() == data, rel


# ---------------------------------------------------------------- the table itself
def test_table_has_format_and_every_archive():
    assert BUILTIN["format"] == 1
    names = {d: [a["name"] for a in spec["archives"]] for d, spec in BUILTIN["datasets"].items()}
    assert names["bioscan5m"] == [
        "metadata",
        "cropped_256_eval",
        "cropped_256_pretrain01",
        "cropped_256_pretrain02",
        "cropped_256_train",
    ]
    assert names["bioscan1m"] == ["metadata", "clibd_partitioning", "cropped_256", "original_256"]
    for dataset in BUILTIN["datasets"]:
        for archive in dl.select_archives(dataset, "all", images=True):
            assert archive.urls[0].startswith("https://") and len(archive.md5) == 32


def test_table_matches_bioscan_dataset_facts():
    """URLs and checksums are those of the installed bioscan-dataset package."""
    bd = pytest.importorskip("bioscan_dataset")
    by5 = {a.name: a for a in dl.select_archives("bioscan5m", "all")}
    assert by5["metadata"].urls == tuple(bd.BIOSCAN5M.meta["urls"])
    assert by5["metadata"].md5 == bd.BIOSCAN5M.meta["archive_md5"]
    assert dict(by5["metadata"].check) == {
        "bioscan5m/" + bd.BIOSCAN5M.meta["filename"].replace(os.sep, "/"): bd.BIOSCAN5M.meta["csv_md5"]
    }
    for group, packages in bd.BIOSCAN5M.zip_files.items():
        archive = by5[f"cropped_256_{group}"]
        assert archive.urls == (packages["cropped_256"]["url"],)
        assert archive.md5 == packages["cropped_256"]["md5"]
        assert archive.filename == packages["cropped_256"]["url"].rsplit("/", 1)[1]
    for split, samples in bd.BIOSCAN5M.image_files.items():
        archive = next(a for a in by5.values() if a.splits and split in a.splits)
        for rel, digests in samples:
            assert dict(archive.check)[f"bioscan5m/images/cropped_256/{rel}"] == digests["cropped_256"]

    by1 = {a.name: a for a in dl.select_archives("bioscan1m", "all", "original_256")}
    by1["cropped_256"] = dl.select_archives("bioscan1m", "all", "cropped_256")[-1]
    assert by1["metadata"].urls == tuple(bd.BIOSCAN1M.meta["urls"])
    assert by1["metadata"].md5 == bd.BIOSCAN1M.meta["csv_md5"]
    assert by1["metadata"].download_to == "bioscan1m/" + bd.BIOSCAN1M.meta["filename"]
    for package, info in bd.BIOSCAN1M.zip_files.items():
        archive = by1[package]
        assert (archive.urls, archive.md5) == ((info["url"],), info["md5"])
        assert archive.filename == "BIOSCAN_1M_" + info["url"].rsplit("/", 1)[1]
        assert archive.drop_prefix == "bioscan" and archive.extract_to == "bioscan1m"
        for rel, digests in bd.BIOSCAN1M.image_files:
            assert dict(archive.check)[f"bioscan1m/images/{package}/{rel}"] == digests[package]
    clibd = by1["clibd_partitioning"]
    assert clibd.urls == (bd.BIOSCAN1M.clibd_partitioning_files["url"],)
    assert clibd.md5 == bd.BIOSCAN1M.clibd_partitioning_files["md5"]
    assert dict(clibd.check) == {
        f"bioscan1m/CLIBD_partitioning/{name}": digest
        for name, digest in bd.BIOSCAN1M.clibd_partitioning_files["files"]
    }


@pytest.mark.parametrize(
    ("splits", "expected"),
    [
        (
            "all",
            {
                "metadata",
                "cropped_256_eval",
                "cropped_256_pretrain01",
                "cropped_256_pretrain02",
                "cropped_256_train",
            },
        ),
        ("val", {"metadata", "cropped_256_eval"}),
        ("validation", {"metadata", "cropped_256_eval"}),
        ("pretrain", {"metadata", "cropped_256_pretrain01", "cropped_256_pretrain02"}),
        (
            "pretrain+train",
            {"metadata", "cropped_256_pretrain01", "cropped_256_pretrain02", "cropped_256_train"},
        ),
        ("seen", {"metadata", "cropped_256_train", "cropped_256_eval"}),
        ("unseen", {"metadata", "cropped_256_eval"}),
        (["train", "other_heldout"], {"metadata", "cropped_256_train", "cropped_256_eval"}),
    ],
)
def test_select_archives_5m(splits, expected):
    assert {a.name for a in dl.select_archives("bioscan5m", splits)} == expected
    assert [a.name for a in dl.select_archives("bioscan5m", splits, images=False)] == ["metadata"]


def test_select_archives_1m_and_errors():
    assert [a.name for a in dl.select_archives("bioscan1m", "train")] == [
        "metadata",
        "clibd_partitioning",
        "cropped_256",
    ]
    assert [a.name for a in dl.select_archives("BIOSCAN1M", "no_split_and_seen_train", "original_256")][
        -1
    ] == ("original_256")
    with pytest.raises(ValueError, match="Invalid split name 'bogus'"):
        dl.select_archives("bioscan5m", "train+bogus")
    with pytest.raises(ValueError, match="bogus"):
        dl.select_archives("bioscan1m", "bogus")
    with pytest.raises(ValueError, match=r"original_full.*cropped_256"):
        dl.select_archives("bioscan5m", "train", "original_full")
    with pytest.raises(ValueError, match="Unknown dataset"):
        dl.select_archives("bioscan2m")


def test_resolve_mirror(tmp_path, monkeypatch):
    assert dl.resolve_mirror(None) is None
    monkeypatch.setenv(dl.MIRROR_ENV, "https://example.org/bioscan/")
    assert dl.resolve_mirror(None) == "https://example.org/bioscan"
    assert dl.resolve_mirror("http://10.0.0.1:8080/x") == "http://10.0.0.1:8080/x"
    assert dl.resolve_mirror(tmp_path) == tmp_path.resolve().as_uri()
    monkeypatch.setenv(dl.MIRROR_ENV, "")
    assert dl.resolve_mirror(None) is None
    with pytest.raises(ValueError, match="ftp"):
        dl.resolve_mirror("ftp://example.org/")


# ---------------------------------------------------------------- downloads
def test_fresh_download_5m_official_layout(mirror, tmp_path, monkeypatch):
    root = tmp_path / "root"
    monkeypatch.setenv(dl.MIRROR_ENV, mirror.url)  # the environment variable sets the mirror
    paths = dl.download("bioscan5m", root, progress=True)
    assert_layout(root, mirror.files["bioscan5m"])
    csv = root / "bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv"
    images = root / "bioscan5m/images/cropped_256"
    assert paths[0] == str(csv)
    assert set(paths[1:]) == {str(images / s) for s in ("pretrain", "train", "val", "test", "key_unseen",
                                                        "val_unseen", "test_unseen", "other_heldout")}  # fmt: skip
    assert (images / "pretrain/00/AACTA1040-20.jpg").is_file() and (
        images / "pretrain/ff/YGEN686-22.jpg"
    ).is_file()
    assert (images / "train/0/AACTA1026-20.jpg").is_file() and (
        images / "other_heldout/f/YDBB6502-21.jpg"
    ).is_file()
    markers = sorted(p.name for p in (root / "bioscan5m/.downloads").glob("*.complete"))
    assert len(markers) == 5
    # archives are deleted after extraction, no temporary folders are left
    assert sorted(p.name for p in root.iterdir()) == ["bioscan5m"]
    assert not list(root.rglob(".bioscan-h5-extract-*")) and not list(root.rglob("*.part"))
    assert sorted(archive_requests(mirror.state)) == sorted(
        a["filename"] for a in mirror.manifest["datasets"]["bioscan5m"]["archives"]
    )
    # the manifest came from the mirror: every request went to the test server
    assert mirror.state.names()[0] == "manifest.json"


def test_fresh_download_1m_with_prefix_and_partitions(mirror, tmp_path):
    root = tmp_path / "root"
    paths = dl.download(
        "bioscan1m", root, "train", "original_256", mirror=mirror.url, progress=False, keep_archives=True
    )
    assert paths == [str(root / "bioscan1m/BIOSCAN_Insect_Dataset_metadata.tsv"), str(root / "bioscan1m/CLIBD_partitioning"),
                     str(root / "bioscan1m/images/original_256")]  # fmt: skip
    expected = {k: v for k, v in mirror.files["bioscan1m"].items() if "cropped_256" not in k}
    assert_layout(root, expected)
    assert (root / "bioscan1m/images/original_256/part18/5351601.jpg").is_file()
    assert len(list((root / "bioscan1m/CLIBD_partitioning").glob("*.txt"))) == 12
    assert not (root / "bioscan1m/images/cropped_256").exists() and not (root / "bioscan1m/bioscan").exists()
    assert (root / "BIOSCAN_1M_original_256.zip").is_file() and (root / "CLIBD_partitioning.zip").is_file()
    assert "BIOSCAN_1M_cropped_256.zip" not in mirror.state.names()


def test_no_redownload_when_present(mirror, tmp_path):
    root = tmp_path / "root"
    first = dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    before = len(archive_requests(mirror.state))
    assert before == 2
    second = dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    assert second == first and len(archive_requests(mirror.state)) == before
    # a changed check file is verified again and, when damaged, its archive is fetched again
    csv = root / "bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv"
    csv.write_bytes(b"damaged")
    dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    assert archive_requests(mirror.state)[before:] == ["BIOSCAN_5M_Insect_Dataset_metadata_MultiTypes.zip"]
    assert csv.read_bytes() == mirror.files["bioscan5m"][str(csv.relative_to(root))]


def test_existing_archive_is_extracted_without_download(mirror, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    entry = mirror.archive("bioscan5m", "cropped_256_train")
    (root / entry["filename"]).write_bytes((mirror.state.directory / entry["filename"]).read_bytes())
    dl.download("bioscan5m", root, "train", mirror=mirror.url, progress=False)
    assert entry["filename"] not in mirror.state.names()
    assert_layout(root, mirror.files["bioscan5m"], "bioscan5m/images/cropped_256/train")


def test_content_in_place_without_marker_is_adopted(mirror, tmp_path):
    """Files put in place by bioscan-dataset (no marker) pass the same checks and are kept."""
    root = tmp_path / "root"
    for rel, data in mirror.files["bioscan1m"].items():
        if "original_256" not in rel:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
    dl.download("bioscan1m", root, mirror=mirror.url, progress=False)
    assert archive_requests(mirror.state) == []
    assert len(list((root / "bioscan1m/.downloads").glob("*.complete"))) == 3


def test_one_split_fetches_only_its_archives(mirror, tmp_path):
    root = tmp_path / "root"
    dl.download("bioscan5m", root, "test", mirror=mirror.url, progress=False)
    assert archive_requests(mirror.state) == [
        "BIOSCAN_5M_Insect_Dataset_metadata_MultiTypes.zip",
        "BIOSCAN_5M_cropped_256_eval.zip",
    ]
    dl.download("bioscan5m", root, "pretrain", mirror=mirror.url, progress=False)
    assert archive_requests(mirror.state)[2:] == [
        "BIOSCAN_5M_cropped_256_pretrain.01.zip",
        "BIOSCAN_5M_cropped_256_pretrain.02.zip",
    ]
    assert not (root / "bioscan5m/images/cropped_256/train").exists()
    dl.download("bioscan5m", root, images=False, mirror=mirror.url, progress=False)
    assert len(archive_requests(mirror.state)) == 4


def test_interrupted_transfer_resumes_with_range(mirror, tmp_path):
    root = tmp_path / "root"
    entry = mirror.archive("bioscan5m", "cropped_256_eval")
    size = (mirror.state.directory / entry["filename"]).stat().st_size
    cut = size // 3
    mirror.state.rules[entry["filename"]] = Rules(cut_after=cut)
    dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False, keep_archives=True)
    first, second = [r for r in mirror.state.requests if r.name == entry["filename"]]
    assert "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={cut}-"
    assert md5((root / entry["filename"]).read_bytes()) == entry["md5"]
    assert_layout(root, mirror.files["bioscan5m"], "bioscan5m/images/cropped_256/val/")


def test_partial_file_from_an_earlier_run_is_resumed(mirror, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    entry = mirror.archive("bioscan5m", "cropped_256_train")
    data = (mirror.state.directory / entry["filename"]).read_bytes()
    (root / (entry["filename"] + ".part")).write_bytes(data[:100])
    dl.download("bioscan5m", root, "train", mirror=mirror.url, progress=False)
    (request,) = [r for r in mirror.state.requests if r.name == entry["filename"]]
    assert request.headers["Range"] == "bytes=100-"
    assert_layout(root, mirror.files["bioscan5m"], "bioscan5m/images/cropped_256/train/")
    # a partial file that is in fact whole: the server answers 416 and nothing more is fetched
    root2 = tmp_path / "root2"
    root2.mkdir()
    (root2 / (entry["filename"] + ".part")).write_bytes(data)
    dl.download("bioscan5m", root2, "train", mirror=mirror.url, progress=False)
    assert_layout(root2, mirror.files["bioscan5m"], "bioscan5m/images/cropped_256/train/")


def test_server_ignoring_range_restarts(mirror, tmp_path):
    root = tmp_path / "root"
    entry = mirror.archive("bioscan5m", "cropped_256_train")
    mirror.state.rules[entry["filename"]] = Rules(cut_after=150, ignore_range=True)
    dl.download("bioscan5m", root, "train", mirror=mirror.url, progress=False, keep_archives=True)
    requests = [r for r in mirror.state.requests if r.name == entry["filename"]]
    assert len(requests) == 2 and requests[1].headers["Range"] == "bytes=150-"
    assert md5((root / entry["filename"]).read_bytes()) == entry["md5"]
    assert_layout(root, mirror.files["bioscan5m"], "bioscan5m/images/cropped_256/train/")


def test_corrupted_archive_is_fetched_again(mirror, tmp_path, caplog):
    root = tmp_path / "root"
    entry = mirror.archive("bioscan5m", "cropped_256_eval")
    mirror.state.rules[entry["filename"]] = Rules(corrupt=1)
    dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    assert mirror.state.count(entry["filename"]) == 2
    assert any("corrupt" in r.getMessage() and entry["filename"] in r.getMessage() for r in caplog.records)
    assert_layout(root, mirror.files["bioscan5m"], "bioscan5m/images/cropped_256/val/")


def test_archive_corrupted_twice_raises_checksum_error(mirror, tmp_path):
    root = tmp_path / "root"
    entry = mirror.archive("bioscan5m", "cropped_256_eval")
    mirror.state.rules[entry["filename"]] = Rules(corrupt=99)
    with pytest.raises(DownloadChecksumError) as info:
        dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    message = str(info.value)
    assert entry["filename"] in message and entry["md5"] in message and "mirror" in message
    # one family with the store's checksum errors, but not a store error
    assert isinstance(info.value, ChecksumError) and not isinstance(info.value, ChecksumMismatchError)
    assert issubclass(ChecksumMismatchError, ChecksumError)
    assert not issubclass(ChecksumMismatchError, DownloadError)
    assert mirror.state.count(entry["filename"]) == 2
    assert not (root / entry["filename"]).exists() and not (root / (entry["filename"] + ".part")).exists()
    assert not (root / "bioscan5m/images").exists()
    assert not (root / "bioscan5m/.downloads" / (entry["filename"] + ".complete")).exists()


@pytest.mark.parametrize("status", [404, 500])
def test_http_errors_name_url_and_status(mirror, tmp_path, status):
    root = tmp_path / "root"
    entry = mirror.archive("bioscan5m", "cropped_256_train")
    mirror.state.rules[entry["filename"]] = Rules(status=status)
    with pytest.raises(DownloadError) as info:
        dl.download("bioscan5m", root, "train", mirror=mirror.url, progress=False)
    message = str(info.value)
    assert f"{mirror.url}/{entry['filename']}" in message and f"HTTP {status}" in message
    assert "again" in message and dl.MIRROR_ENV in message
    # 5xx is retried (RETRY_DELAYS has two entries here), 404 is not
    assert mirror.state.count(entry["filename"]) == (1 if status == 404 else 3)
    assert not (root / "bioscan5m/images").exists()


def test_unreachable_server_gives_a_clear_error(tmp_path):
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"http://127.0.0.1:{port}/manifest.json.*network error"):
        dl.download("bioscan5m", tmp_path / "root", mirror=f"http://127.0.0.1:{port}", progress=False)


def test_mirror_without_manifest_uses_builtin_table(server, tmp_path):
    """No manifest.json: the built-in names and checksums, fetched from the mirror."""
    (server.state.directory / "BIOSCAN_Insect_Dataset_metadata.tsv").write_bytes(b"not the real file\n")
    with pytest.raises(DownloadChecksumError, match="dec3bb23870a35e2e13bc17a5809c901"):
        dl.download("bioscan1m", tmp_path / "root", images=False, mirror=url_of(server) + "/", progress=False)
    assert server.state.names() == ["manifest.json"] + ["BIOSCAN_Insect_Dataset_metadata.tsv"] * 2


def test_local_folder_mirror(tmp_path, server):
    mirror = build_mirror(server)  # the files are written to the server's folder; read them from disk
    root = tmp_path / "root"
    paths = dl.download("bioscan5m", root, "val", mirror=server.state.directory, progress=False)
    assert server.state.requests == [] and len(paths) == 7
    assert_layout(root, mirror.files["bioscan5m"], "bioscan5m/images/cropped_256/val/")


# ---------------------------------------------------------------- safe extraction
def evil_zip(kind: str, outside: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("bioscan5m/images/cropped_256/val/ok.jpg", b"fine")
        if kind == "dotdot":
            zf.writestr("bioscan5m/../../evil.txt", b"owned")
        elif kind == "absolute":
            zf.writestr(str(outside), b"owned")
        elif kind == "symlink":
            info = zipfile.ZipInfo("bioscan5m/images/cropped_256/val/link")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, str(outside))
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_malicious_archive_is_refused(mirror, tmp_path, kind):
    root = tmp_path / "root"
    outside = tmp_path / "abs_evil.txt"
    mirror.replace_archive("bioscan5m", "cropped_256_eval", evil_zip(kind, outside))
    with pytest.raises(DownloadError, match="Refusing to extract zip member") as info:
        dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    assert {"dotdot": "'bioscan5m/../../evil.txt'", "absolute": repr(str(outside)),
            "symlink": "link"}[kind] in str(info.value)  # fmt: skip
    assert not (tmp_path / "evil.txt").exists() and not outside.exists()
    assert not (root / "bioscan5m/images").exists()  # nothing of the archive was written
    assert not (root / "bioscan5m/.downloads/BIOSCAN_5M_cropped_256_eval.zip.complete").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirror", "root"]


def test_safe_extract_drops_prefix_and_rejects_backslash_escapes(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(zip_bytes({"bioscan/images/x/part1/a.jpg": b"a", "bioscan/": b"", "top.txt": b"t"}))
    written = dl.safe_extract(archive, tmp_path / "out", drop_prefix="bioscan")
    assert sorted(written) == ["images/x/part1/a.jpg", "top.txt"]
    assert (tmp_path / "out/images/x/part1/a.jpg").read_bytes() == b"a"
    archive.write_bytes(zip_bytes({"a\\..\\..\\evil.txt": b"owned"}))
    with pytest.raises(DownloadError, match="leaves the target folder"):
        dl.safe_extract(archive, tmp_path / "out2")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out2").exists()


def test_half_extracted_folder_is_not_taken_for_complete(mirror, tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "bioscan5m/images/cropped_256").mkdir(parents=True)  # split folders are then moved one by one
    real_move = dl_extract._move
    moved = []

    def crashing_move(src, dst):
        if "cropped_256" in dst and moved:
            raise OSError("simulated crash while moving files into place")
        if "cropped_256" in dst:
            moved.append(dst)
        real_move(src, dst)

    monkeypatch.setattr(dl_extract, "_move", crashing_move)
    with pytest.raises(OSError, match="simulated crash"):
        dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    monkeypatch.setattr(dl_extract, "_move", real_move)
    downloads = root / "bioscan5m/.downloads"
    assert len(moved) == 1 and os.listdir(moved[0])  # one split folder is in place, the others are not
    assert (downloads / "BIOSCAN_5M_cropped_256_eval.zip.extracting").exists()
    assert not (downloads / "BIOSCAN_5M_cropped_256_eval.zip.complete").exists()
    assert not list(root.rglob(".bioscan-h5-extract-*"))
    # a stale temporary folder (as a killed process would leave) is removed by the next run
    (root / ".bioscan-h5-extract-BIOSCAN_5M_cropped_256_eval.zip-stale").mkdir()
    dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    assert mirror.state.count("BIOSCAN_5M_cropped_256_eval.zip") == 1  # the kept archive is extracted again
    for split in ("val", "test", "key_unseen", "val_unseen", "test_unseen", "other_heldout"):
        assert_layout(root, mirror.files["bioscan5m"], f"bioscan5m/images/cropped_256/{split}/")
    assert not (downloads / "BIOSCAN_5M_cropped_256_eval.zip.extracting").exists()
    assert (downloads / "BIOSCAN_5M_cropped_256_eval.zip.complete").exists()
    assert (
        not list(root.glob(".bioscan-h5-extract-*"))
        and not (root / "BIOSCAN_5M_cropped_256_eval.zip").exists()
    )


def test_interrupted_extraction_is_never_adopted(mirror, tmp_path):
    """Check files in place do not make a folder complete while an extraction journal exists."""
    root = tmp_path / "root"
    dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False, keep_archives=True)
    downloads = root / "bioscan5m/.downloads"
    extra = root / "bioscan5m/images/cropped_256/test/EXTRA1.jpg"
    # as an extraction that stopped after the check files but before this one was moved in
    (downloads / "BIOSCAN_5M_cropped_256_eval.zip.complete").unlink()
    extra.unlink()
    (downloads / "BIOSCAN_5M_cropped_256_eval.zip.extracting").write_text("")
    dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    assert extra.is_file() and mirror.state.count("BIOSCAN_5M_cropped_256_eval.zip") == 1
    # without the journal, the same check files are enough (content put there by bioscan-dataset)
    (downloads / "BIOSCAN_5M_cropped_256_eval.zip.complete").unlink()
    extra.unlink()
    dl.download("bioscan5m", root, "val", mirror=mirror.url, progress=False)
    assert not extra.exists() and (downloads / "BIOSCAN_5M_cropped_256_eval.zip.complete").exists()


# ---------------------------------------------------------------- command line
def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bioscan-h5")
    add_parser(parser.add_subparsers(dest="command"))
    return parser


def test_cli_download(mirror, tmp_path, capsys):
    root = tmp_path / "root"
    args = make_parser().parse_args(
        [
            "download",
            "--dataset",
            "bioscan5m",
            "--root",
            str(root),
            "--splits",
            "val",
            "--mirror",
            mirror.url,
            "-q",
            "--no-build",  # the generated archives hold stand-in files, not a buildable root
        ]
    )
    assert args.func is run and run(args) == 0
    out = capsys.readouterr().out.split()
    assert out[0].endswith("BIOSCAN_5M_Insect_Dataset_metadata.csv") and len(out) == 7

    args = make_parser().parse_args(["download", "--dataset", "bioscan5m", "--root", str(root), "--no-images",
                                     "--splits", "nope", "--mirror", mirror.url, "-q"])  # fmt: skip
    assert run(args) == 2 and "Invalid split name 'nope'" in capsys.readouterr().err

    mirror.state.rules["BIOSCAN_5M_cropped_256_train.zip"] = Rules(status=404)
    args = make_parser().parse_args(
        [
            "download",
            "--dataset",
            "bioscan5m",
            "--root",
            str(root),
            "--splits",
            "train",
            "--mirror",
            mirror.url,
            "-q",
        ]
    )
    assert run(args) == 1 and "HTTP 404" in capsys.readouterr().err


def test_minimal_manifest_and_newer_format(server, tmp_path):
    """A mirror's manifest may leave out the optional fields; a newer format is refused."""
    tsv = b"sampleid\tprocessid\n1\tA\n"
    clibd = zip_bytes({"CLIBD_partitioning/train_seen.txt": b"1\n"})
    images = zip_bytes({"bioscan/images/cropped_256/part1/1.jpg": jpeg_bytes("1")})
    files = {"meta.tsv": tsv, "clibd.zip": clibd, "img.zip": images}
    for name, data in files.items():
        (server.state.directory / name).write_bytes(data)
    manifest = {
        "format": 1,
        "datasets": {
            "bioscan1m": {
                "archives": [
                    {"name": "metadata", "filename": "meta.tsv", "md5": md5(tsv), "download_to": "bioscan1m/m.tsv"},
                    {"name": "p", "role": "partitioning", "filename": "clibd.zip", "md5": md5(clibd), "extract_to": "bioscan1m"},
                    {"name": "i", "filename": "img.zip", "md5": md5(images), "image_package": "cropped_256",
                     "extract_to": "bioscan1m", "drop_prefix": "bioscan", "paths": ["bioscan1m/images/cropped_256"]},
                ]
            }
        },
    }  # fmt: skip
    (server.state.directory / "manifest.json").write_text(json.dumps(manifest))
    root = tmp_path / "root"
    paths = dl.download("bioscan1m", root, mirror=url_of(server), progress=False)
    assert paths == [str(root / "bioscan1m/m.tsv"), str(root / "bioscan1m/images/cropped_256")]
    assert (root / "bioscan1m/m.tsv").read_bytes() == tsv
    assert (root / "bioscan1m/CLIBD_partitioning/train_seen.txt").read_bytes() == b"1\n"
    assert (root / "bioscan1m/images/cropped_256/part1/1.jpg").is_file()
    dl.download("bioscan1m", root, mirror=url_of(server), progress=False)
    assert sorted(archive_requests(server.state)) == sorted(files)

    manifest["format"] = 2
    (server.state.directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DownloadError, match=r"format 2.*upgrade bioscan-h5"):
        dl.download("bioscan1m", root, mirror=url_of(server), progress=False)
    (server.state.directory / "manifest.json").write_text("{not json")
    with pytest.raises(DownloadError, match="not JSON"):
        dl.download("bioscan1m", root, mirror=url_of(server), progress=False)


def test_one_free_space_check_keeps_each_callers_message(monkeypatch, tmp_path):
    """The builder and the downloads share one check (``_files.require_free_space``)."""
    import types

    import bioscan_h5._files as files
    from bioscan_h5.build.space import check_space
    from bioscan_h5.download.transfer import check_disk_space
    from bioscan_h5.errors import InsufficientSpaceError

    monkeypatch.setattr(files.shutil, "disk_usage", lambda folder: types.SimpleNamespace(free=2 * 10**9))
    with pytest.raises(
        InsufficientSpaceError, match=r"to download x\.zip: 3\.00 GB needed, 2\.00 GB free at "
    ):
        check_disk_space(str(tmp_path), 3 * 10**9, "download x.zip")
    with pytest.raises(InsufficientSpaceError, match=r"needs about 3\.0 GB more but .* has 2\.0 GB free"):
        check_space(types.SimpleNamespace(check_space=True), str(tmp_path), 3 * 10**9)
    check_disk_space(str(tmp_path), 10**9, "download x.zip")  # enough

    def unreadable(folder):
        raise OSError("no such folder")

    monkeypatch.setattr(files.shutil, "disk_usage", unreadable)
    check_disk_space(str(tmp_path), 3 * 10**9, "download x.zip")  # free space unknown: not refused
