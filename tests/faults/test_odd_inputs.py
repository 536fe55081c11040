"""Odd inputs that ended in a foreign exception or a misleading message (issue 24).

Archive members nested thousands of folders deep, a mirror's manifest nested 100,000 deep or
with a field of the wrong type, and a process out of file descriptors opening a sound store.
Each must end in a named error that says what really happened.
"""

from __future__ import annotations

import json
import sys
import zipfile

import pytest

from bioscan_h5 import download as dl
from bioscan_h5.errors import DownloadError
from tests.download.conftest import _loopback_only  # noqa: F401 - the network guard, used below

from ._helpers import crash, run, run_cli, sanitize
from .test_download_bounds import mirror  # noqa: F401 - the misbehaving mirror, used below

pytestmark = [pytest.mark.subprocess, pytest.mark.usefixtures("_loopback_only")]

SECTION = "Downloads"


@pytest.mark.parametrize("depth", [1500, 3000])
def test_archive_members_nested_thousands_deep_are_refused(depth, tmp_path, record):
    from bioscan_h5.download.extract import safe_extract

    archive = tmp_path / "deep.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("/".join(["d"] * depth) + "/x.txt", b"x")
    with pytest.raises(DownloadError) as err:
        safe_extract(archive, tmp_path / "root")
    assert f"nested {depth + 1} folders deep" in str(err.value)
    if depth == 3000:
        record(
            "An archive whose member is nested 1,500 or 3,000 folders deep",
            f"`DownloadError` before anything is written: `{sanitize(str(err.value), 260)}`",
            "Nothing (nothing had been written).",
        )


@pytest.mark.parametrize(
    "what",
    ["a manifest nested 100,000 deep", 'a manifest whose archive has "splits": 5'],
)
def test_a_malformed_manifest_is_a_download_error(what, mirror, tmp_path, record):  # noqa: F811
    httpd, url, manifest = mirror
    if "nested" in what:
        httpd.manifest = b"[" * 100_000 + b"]" * 100_000
    else:
        for a in manifest["datasets"]["bioscan5m"]["archives"]:
            a["splits"] = 5
        httpd.manifest = json.dumps(manifest).encode()
    with pytest.raises(DownloadError) as err:
        dl.download("bioscan5m", tmp_path / "root", images=False, mirror=url, progress=False)
    assert "archive table" in str(err.value) and "invalid" in str(err.value)
    record(
        f"A mirror serving {what}",
        f"`DownloadError`: `{sanitize(str(err.value), 300)}`",
        "Nothing (nothing was downloaded).",
    )


def test_out_of_file_descriptors_is_not_called_damage(shared_root, tmp_path, record):
    out = tmp_path / "s.h5"
    proc = run_cli("build", "--root", shared_root(), "--image-size", 16, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    code = r"""
import os, resource, sys
from bioscan_h5 import open_store
from bioscan_h5.errors import ResourceLimitError
import h5py, numpy, torch  # everything loaded before the limit
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
held = []
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
try:
    open_store(sys.argv[1])
except ResourceLimitError as exc:
    print("named:", exc)
"""
    proc = run([sys.executable, "-c", code, str(out)], timeout=120)
    assert crash(proc.returncode) is None and proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("named:") and "not damaged" in line and "Rebuild" not in line, line
    record(
        "A process with no file descriptor left opens a sound store",
        f"`ResourceLimitError` (an `OSError`): `{sanitize(line[7:], 300)}`",
        "Nothing: the store is not called damaged, nor is the user sent to rebuild it.",
    )
