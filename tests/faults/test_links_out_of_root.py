"""Links out of the image folder (issue 24): a folder-level link, and a file swapped for a link.

A folder inside the image folder is replaced by a symbolic link to a folder outside the root
that holds other images under the same names: every row under it must be flagged
``OUTSIDE_ROOT``, none built from the outside files. Then a source file is swapped for a link
to an outside file (and back) by a thread while the decoder reads it, many times: the
outside file must never be read.
"""

from __future__ import annotations

import os
import shutil
import threading

import h5py
import numpy as np
import pytest
from PIL import Image

from bioscan_h5 import format as fmt
from bioscan_h5.format import ImageStatus
from bioscan_h5.images import decode_image

from ._helpers import run_cli

pytestmark = pytest.mark.subprocess

SECTION = "Bad images"


def test_a_folder_link_out_of_the_image_folder_is_refused(fault_root, tmp_path, record):
    root = fault_root()
    images = root / "bioscan5m" / "images" / "cropped_256"
    victim = next(p for p in sorted(images.rglob("*")) if p.is_dir() and any(p.glob("*.jpg")))
    names = sorted(p.name for p in victim.glob("*.jpg"))
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in names:  # other pictures under the same names
        Image.new("RGB", (300, 256), (250, 0, 0)).save(outside / name, quality=90)
    shutil.rmtree(victim)
    victim.symlink_to(outside, target_is_directory=True)
    out = tmp_path / "s.h5"
    proc = run_cli("build", "--root", root, "--image-size", 16, "--out", out, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out, "r", locking=False) as f:
        status = f[fmt.IMAGE_STATUS][()]
        pixels = f[fmt.IMAGES][()]
    flagged = np.flatnonzero(status == ImageStatus.OUTSIDE_ROOT)
    assert len(flagged) == len(names), (len(flagged), len(names))
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 50)
    assert not red.reshape(len(pixels), -1).all(axis=1).any(), "a row was built from the outside files"
    record(
        "A folder inside the image folder replaced by a symbolic link to a folder outside the root holding"
        f" other images under the same names ({len(names)} rows)",
        f"Each of the {len(names)} rows is flagged `OUTSIDE_ROOT`: the path of the file really opened (its"
        " descriptor's) is checked against the image folder, folder links included.",
        "Nothing read from outside the root; those rows keep their labels and barcodes.",
    )


def test_a_file_swapped_for_a_link_while_it_is_opened_is_never_read(tmp_path, record):
    image_dir = tmp_path / "images"
    image_dir.mkdir()
    inside = image_dir / "a.jpg"
    Image.new("RGB", (32, 32), (0, 0, 250)).save(tmp_path / "blue.jpg", quality=95)
    Image.new("RGB", (32, 32), (250, 0, 0)).save(tmp_path / "secret.jpg", quality=95)
    stop, started, errors = threading.Event(), threading.Event(), []

    def swap() -> None:
        link = image_dir / "link.tmp"
        try:
            _swap(link)
        except Exception as exc:  # reported by the test
            errors.append(exc)

    def _swap(link) -> None:
        while not stop.is_set():
            shutil.copyfile(tmp_path / "blue.jpg", image_dir / "file.tmp")
            os.replace(image_dir / "file.tmp", inside)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(tmp_path / "secret.jpg", link)
            os.replace(link, inside)
            started.set()

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    assert started.wait(30), errors
    real = os.path.realpath(image_dir)
    seen = {"OK": 0, "OUTSIDE_ROOT": 0, "other": 0}
    leaked = 0
    try:
        for _ in range(400):
            status, pixels, *_ = decode_image(str(inside), 16, "crop", True, real)
            if status == ImageStatus.OK:
                seen["OK"] += 1
                leaked += int(pixels[..., 0].mean() > 128)
            elif status == ImageStatus.OUTSIDE_ROOT:
                seen["OUTSIDE_ROOT"] += 1
            else:
                seen["other"] += 1
    finally:
        stop.set()
        thread.join(10)
    assert not errors, errors
    assert leaked == 0, seen
    assert seen["OUTSIDE_ROOT"] > 0 and seen["other"] < 400, seen
    record(
        "A source file swapped for a link to a file outside the root (and back) by another thread, 400 times"
        " while the decoder opens it",
        f"Outcomes: {seen['OK']} decoded from the inside file, {seen['OUTSIDE_ROOT']} flagged `OUTSIDE_ROOT`,"
        f" {seen['other']} other flags (a path caught between the two renames). The check is made on the"
        " opened descriptor, so there is no moment between check and open.",
        "Nothing read from outside the root.",
    )
