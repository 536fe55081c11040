"""No path the user did not name as output is ever written (issue 24).

``bioscan-h5 build --out`` pointed, with and without ``--overwrite``, at a device, a symbolic
link to a user's file, the root's own metadata file and source image, a user's file and a
folder: each is refused with a usage error (exit code 2) and left as it was. ``--overwrite``
still replaces a store. An archive extracted into a root that already holds files of the
same names never replaces them.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from pathlib import Path

import pytest

from ._helpers import METADATA, assert_no_crash, run_cli, sanitize

pytestmark = pytest.mark.subprocess

SECTION = "User files"


def _digest(path: Path) -> str:
    if path.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in path.iterdir()))
    if path.is_symlink() or not path.is_file():
        return f"mode:{os.lstat(path).st_mode}:{os.readlink(path) if path.is_symlink() else ''}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _targets(root: Path, tmp_path: Path) -> dict[str, Path]:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    link = tmp_path / "link.h5"
    link.symlink_to(notes)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    image = next((root / "bioscan5m" / "images").rglob("*.jpg"))
    return {
        "a character device (a copy of /dev/null's node where mknod is allowed, else /dev/null itself)": _device(
            tmp_path
        ),
        "a named pipe": fifo,
        "a symbolic link to the user's own file": link,
        "the root's own metadata CSV": root / METADATA["bioscan5m"],
        "one of the root's source images": image,
        "a user's text file": notes,
        "an existing folder": folder,
    }


def _device(tmp_path: Path) -> Path:
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        return Path("/dev/null")
    return node


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
def test_build_out_never_replaces_what_is_not_a_store(overwrite, fault_root, tmp_path, record):
    root = fault_root()
    targets = _targets(root, tmp_path)
    before = {name: _digest(p) for name, p in targets.items()}
    messages = {}
    for name, path in targets.items():
        extra = ["--overwrite"] if overwrite else []
        proc = run_cli(
            "build", "--root", root, "--image-size", 16, "--out", path, "--no-progress", *extra, timeout=120
        )
        assert_no_crash(proc)
        assert proc.returncode == 2, (name, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr
        messages[name] = proc.stderr.strip().splitlines()[-1]
        assert _digest(path) == before[name], f"{name} was changed"
    assert all(p.exists() or p.is_symlink() for p in targets.values())
    flag = " --overwrite" if overwrite else ""
    for name, message in messages.items():
        record(
            f"`bioscan-h5 build --out X{flag}` where X is {name}",
            f"Refused before anything was written, exit code 2: `{sanitize(message)}`",
            "Nothing: the file (or node, or link, or folder) is as it was.",
        )


def test_overwrite_still_replaces_a_store(shared_root, tmp_path, record):
    out = tmp_path / "s.h5"
    for size in (16, 24):
        proc = run_cli(
            "build",
            "--root",
            shared_root(),
            "--image-size",
            size,
            "--out",
            out,
            "--no-progress",
            "--overwrite",
        )
        assert proc.returncode == 0, proc.stderr
    from bioscan_h5 import open_store

    with open_store(out) as st:
        assert st.image_size == 24


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_an_archive_never_replaces_the_users_files(tmp_path, record):
    from bioscan_h5.download.extract import safe_extract
    from bioscan_h5.errors import DownloadError

    dest = tmp_path / "root"
    (dest / "h5").mkdir(parents=True)
    own = {
        "h5/bioscan5m.h5": b"\x89HDF\r\n\x1a\n the user's store",
        "notes.txt": b"the user's notes\n",
    }
    for rel, data in own.items():
        (dest / rel).write_bytes(data)
    (dest / "images").mkdir()
    (dest / "images" / "part1").write_bytes(b"a file where the archive has a folder")
    (dest / "metadata.csv").mkdir()  # a folder where the archive has a file
    cases = {
        "an existing store under the name of an archive member": {"h5/bioscan5m.h5": b"other"},
        "the user's own notes file": {"notes.txt": b"replaced"},
        "a file where the archive has a folder": {"images/part1/a.jpg": b"jpg"},
        "a folder where the archive has a file": {"metadata.csv": b"a,b\n"},
    }
    before = {p: _digest(p) for p in dest.rglob("*")}
    messages = {}
    for i, (name, members) in enumerate(cases.items()):
        archive = tmp_path / f"a{i}.zip"
        _zip(archive, {"new/fresh.txt": b"new", **members})
        with pytest.raises(DownloadError) as err:
            safe_extract(archive, dest)
        messages[name] = str(err.value)
        assert next(iter(members)) in messages[name] or next(iter(members)).split("/")[0] in messages[name]
    assert {p: _digest(p) for p in dest.rglob("*")} == before
    assert not (dest / "new").exists()
    # the same archive extracted twice: its own identical files are not in the way
    archive = tmp_path / "same.zip"
    _zip(archive, {"new/fresh.txt": b"new", "notes2.txt": b"n"})
    assert sorted(safe_extract(archive, dest)) == ["new/fresh.txt", "notes2.txt"]
    safe_extract(archive, dest)
    for name, message in messages.items():
        record(
            f"A downloaded archive with a member whose path is {name} under the root",
            f"`DownloadError` before any member is moved into place: `{sanitize(message)}`",
            "Nothing: every file and folder under the root is as it was. An archive's files that are"
            " already there with the same bytes (a second extraction) are not in the way.",
        )
