"""Downloads from a misbehaving server (issue 14): bounded in bytes and in time.

A real HTTP server on 127.0.0.1 serves a mirror whose ``manifest.json`` lists the BIOSCAN-5M
metadata archive with its size and MD5, and then misbehaves on the archive itself: it
streams on without a ``Content-Length``, announces far more than the archive's size, or
trickles a byte at a time. :func:`bioscan_h5.download.download` must stop each one with a
:class:`~bioscan_h5.errors.DownloadError` saying why, having written no more than the
archive's size, and never hang.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import json
import threading
import time
from pathlib import Path

import pytest

from bioscan_h5 import download as dl
from bioscan_h5.download import transfer
from bioscan_h5.download.table import select_archives
from bioscan_h5.errors import DownloadError
from tests.download.conftest import _loopback_only  # noqa: F401 - the network guard, used below

from ._helpers import sanitize

pytestmark = pytest.mark.usefixtures("_loopback_only")

SECTION = "Downloads"
ARCHIVE = b"PK" + bytes(range(256)) * 8  # 2050 bytes standing in for the metadata zip
BUILTIN = json.loads((Path(dl.__file__).parent / "archives.json").read_text())


class Misbehaving(http.server.BaseHTTPRequestHandler):
    """Serves ``manifest.json`` properly and the archive as ``server.mode`` says."""

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        server = self.server
        name = self.path.lstrip("/")
        server.requests.append(name)
        body = server.manifest if name == "manifest.json" else ARCHIVE
        if name != "manifest.json" and name != server.filename:
            self.send_error(404)
            return
        self.send_response(200)
        mode = "plain" if name == "manifest.json" else server.mode
        if mode != "stream":
            self.send_header("Content-Length", str(10_000_000 if mode == "long" else len(body)))
        self.end_headers()
        try:
            if mode == "plain":
                self.wfile.write(body)
            elif mode in ("stream", "long"):  # 20 MB, whatever the archive's size
                for _ in range(320):
                    self.wfile.write(bytes(65536))
                    server.sent += 65536
            else:  # trickle: one byte every 0.3 s, until the client gives up
                for b in body:
                    self.wfile.write(bytes([b]))
                    self.wfile.flush()
                    time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def mirror(tmp_path):
    entry = next(a for a in BUILTIN["datasets"]["bioscan5m"]["archives"] if a["name"] == "metadata")
    manifest = copy.deepcopy(BUILTIN)
    for a in manifest["datasets"]["bioscan5m"]["archives"]:
        if a["name"] == "metadata":
            a.update(md5=hashlib.md5(ARCHIVE).hexdigest(), size=len(ARCHIVE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    httpd.daemon_threads = True
    httpd.manifest = json.dumps(manifest).encode()
    httpd.filename = entry["filename"]
    httpd.requests, httpd.sent, httpd.mode = [], 0, "plain"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    try:
        yield httpd, f"http://{host}:{port}", manifest
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _download(url: str, root: Path) -> tuple[DownloadError, float]:
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        dl.download("bioscan5m", root, images=False, mirror=url, progress=False)
    return info.value, time.monotonic() - start


def _written(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


@pytest.mark.parametrize(
    ("mode", "fault"),
    [
        ("stream", "a server that sends no Content-Length and streams 20 MB for a 2 KB archive"),
        ("long", "a server announcing a Content-Length of 10 MB for a 2 KB archive, then streaming"),
    ],
)
def test_a_server_sending_more_than_the_archive_is_cut_off(mode, fault, mirror, tmp_path, record):
    httpd, url, _ = mirror
    httpd.mode = mode
    root = tmp_path / "root"
    err, seconds = _download(url, root)
    message = str(err)
    assert "sent more than the 2,050 bytes" in message and "archive table" in message, message
    assert _written(root) == 0  # the part file is deleted: what it held cannot be the archive
    assert httpd.requests.count(httpd.filename) == 1  # refused, not fetched again
    record(
        fault + " (the mirror's `manifest.json` gives the archive's `size`)",
        f"`DownloadError` after {seconds:.1f} s, having read at most one byte past the archive's 2,050:"
        f" `{sanitize(message, 330)}`",
        "Nothing: no byte beyond the archive's size is written, and the partial file is deleted.",
    )


def test_a_trickling_server_meets_the_deadline(mirror, tmp_path, monkeypatch, record):
    httpd, url, _ = mirror
    httpd.mode = "trickle"
    monkeypatch.setattr(transfer, "DEADLINE_BASE_S", 2.0)
    monkeypatch.setattr(transfer, "MIN_RATE", 10**12)
    root = tmp_path / "root"
    err, seconds = _download(url, root)
    message = str(err)
    assert "did not finish within its deadline of 2 s" in message, message
    assert seconds < 8, seconds  # each socket read still waits up to 10 s; the deadline came first
    record(
        "a server trickling the archive one byte every 0.3 s (each byte resets a socket timeout, so"
        " no read ever times out)",
        f"`DownloadError` after {seconds:.1f} s with the deadline set to 2 s for the test (by default 600 s"
        f" plus one second per 100 kB of the archive, over every attempt): `{sanitize(message, 300)}`",
        "Nothing: the bytes received so far are kept for a later resume.",
    )


def test_an_honest_server_with_the_size_in_the_table_still_works(mirror, tmp_path):
    httpd, url, manifest = mirror
    (archive,) = select_archives("bioscan5m", images=False, table=manifest)
    assert archive.size == len(ARCHIVE)
    path = transfer.fetch_archive(
        archive, str(tmp_path), [f"{url}/{httpd.filename}"], mirror=url, progress=False, verify=True
    )
    assert Path(path).read_bytes() == ARCHIVE
