"""The ``bioscan-h5`` command (``python -m bioscan_h5.cli``) run as a real subprocess: build,
info, verify, dry run, help; exit codes (0 ok, 1 verify found problems, 2 error, 130
interrupted) and messages."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from bioscan_h5 import __version__
from bioscan_h5 import format as fmt
from bioscan_h5.store import open_store

pytestmark = pytest.mark.subprocess

SIZE = 32


@pytest.fixture(scope="module")
def built(sample_root_5m, run_cli, tmp_path_factory):
    """``bioscan-h5 build`` of the shared root into a temporary folder, and what it printed."""
    out = tmp_path_factory.mktemp("cli") / "s.h5"
    args = ["build", "--root", sample_root_5m.root, "--image-size", SIZE, "--out", out, "--no-progress"]
    proc = run_cli(*args, "--workers", 2)
    assert proc.returncode == 0, proc.stderr
    return out, proc, args


# ------------------------------------------------------------------------------ help and usage
def test_help(run_cli):
    res = run_cli("--help")
    assert res.returncode == 0
    for word in ("build", "info", "verify"):
        assert word in res.stdout
    res = run_cli("build", "--help")
    assert res.returncode == 0
    for option in (
        "--root",
        "--dataset",
        "--image-package",
        "--image-size",
        "--fit",
        "--splits",
        "--max-nucleotides",
        "--workers",
        "--out",
        "--overwrite",
        "--dry-run",
        "--no-images",
        "--compression",
        "--no-draft",
        "--strict",
        "--no-space-check",
        "--tokenize",
    ):
        assert option in res.stdout, option
    assert "resume" in res.stdout
    for sub in ("info", "verify"):
        res = run_cli(sub, "--help")
        assert res.returncode == 0 and "store" in res.stdout


def test_version(run_cli):
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"bioscan-h5 {__version__}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: command"),
        (["build"], "the following arguments are required: --root"),
        (["build", "--root", ".", "--fit", "stretch"], "invalid choice: 'stretch'"),
        (["build", "--root", ".", "--image-package", "jpg"], "invalid choice: 'jpg'"),
        (
            ["build", "--root", ".", "--max-nucleotides", "0"],
            "expected a positive integer or 'none', got '0'",
        ),
        (["build", "--root", ".", "--image-size", "big"], "invalid int value: 'big'"),
        (["verify", "x.h5"], "the following arguments are required: --root"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors(run_cli, args, message):
    res = run_cli(*args)
    assert res.returncode == 2
    assert message in res.stderr
    assert "usage:" in res.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image-size", "0"], "image_size must be a positive integer, got 0"),
        (["--workers", "0"], "workers must be at least 1, got 0"),
        (["--splits", "val+nope"], "'nope'"),
    ],
)
def test_invalid_values_are_errors(run_cli, sample_root_5m, tmp_path, extra, message):
    res = run_cli("build", "--root", sample_root_5m.root, "--out", tmp_path / "s.h5", *extra)
    assert res.returncode == 2
    assert res.stderr.startswith("bioscan-h5 build: error:") and message in res.stderr
    assert "Traceback" not in res.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--splits", "nope"], "Invalid split name 'nope'"),
        (["build", "--tokenize", "barcodebert,nope"], "unknown tokenizer 'nope'"),
        (
            ["build", "--dataset", "bioscan1m", "--splits", "frob:train"],
            "Invalid partitioning version: 'frob'",
        ),
        (["download", "--dataset", "bioscan5m", "--splits", "trian"], "Invalid split name 'trian'"),
        (["download", "--dataset", "bioscan5m", "--mirror", "ftp://example.org/x"], "Unsupported mirror URL"),
        (
            ["download", "--dataset", "bioscan5m", "--mirror=", "--image-package", "jpg"],
            "image_package='jpg'",
        ),
    ],
)
def test_user_mistakes_are_one_line_errors(run_cli, sample_root_5m, tmp_path, args, message):
    root = sample_root_5m.root if args[0] == "build" else tmp_path / "root"
    res = run_cli(*args, "--root", root)
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert res.stderr.startswith(f"bioscan-h5 {args[0]}: error:") and message in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("error", [RuntimeError("boom"), ValueError("boom")])
def test_unexpected_errors_keep_their_traceback(monkeypatch, tmp_path, error):
    import bioscan_h5.cli.info
    from bioscan_h5.cli import main

    def broken(args):
        raise error

    monkeypatch.setattr(bioscan_h5.cli.info, "run", broken)
    with pytest.raises(type(error), match="boom"):
        main(["info", str(tmp_path / "s.h5")])


def test_interrupted_build_of_download_exits_130(monkeypatch, tmp_path, capsys):
    import bioscan_h5.cli.download
    from bioscan_h5.cli import main
    from bioscan_h5.errors import BuildInterrupted

    def interrupted(args):
        raise BuildInterrupted("interrupted by SIGTERM; rerun the same command to resume")

    monkeypatch.setattr(bioscan_h5.cli.download, "download", lambda *a, **k: [])
    monkeypatch.setattr(bioscan_h5.cli.download, "_build", interrupted)
    assert main(["download", "--dataset", "bioscan5m", "--root", str(tmp_path)]) == 130
    assert "bioscan-h5 download: interrupted by SIGTERM" in capsys.readouterr().err


def test_missing_root(run_cli, tmp_path):
    res = run_cli("build", "--root", tmp_path / "nowhere")
    assert res.returncode == 2
    assert "No bioscan5m metadata file" in res.stderr and "bioscan-h5 download" in res.stderr


# ------------------------------------------------------------------------------ build
def test_build_prints_a_summary(built, sample_root_5m):
    out, proc, _ = built
    n = sample_root_5m.n_rows
    bad = sample_root_5m.undecodable_rows
    assert f"wrote {out}: {n} rows in " in proc.stdout
    missing = sum(1 for f in sample_root_5m.faults() if f["kind"] == "missing")
    assert f"; {n - len(bad)} images decoded, {missing} missing, {len(bad) - missing} bad" in proc.stdout
    assert f"'OK': {n - len(bad)}" in proc.stdout
    assert (
        f"{len(bad)} bad image(s) flagged (rows kept, image zeros); details in {out}.report.json"
        in proc.stdout
    )
    peer = sample_root_5m.peer_frame
    for row in bad:
        assert f"row {row} {peer['processid'].iloc[row]!r} {peer['image_path'].iloc[row]}" in proc.stdout
    assert (Path(f"{out}.report.json")).is_file()
    assert "Traceback" not in proc.stderr


def test_build_again_is_up_to_date(built, run_cli):
    out, _, args = built
    before = os.stat(out).st_mtime_ns
    res = run_cli(*args)
    assert res.returncode == 0
    assert f"{out} is up to date (nothing to do)" in res.stdout
    assert os.stat(out).st_mtime_ns == before


def test_build_with_other_arguments_is_refused(built, run_cli):
    _out, _, args = built
    res = run_cli(*args, "--fit", "pad")
    assert res.returncode == 2
    assert "already exists and was built differently" in res.stderr
    assert "fit: store has 'crop', this build asks for 'pad'" in res.stderr
    assert "--overwrite" in res.stderr


def test_dry_run(run_cli, sample_root_5m, tmp_path):
    before = sorted(p for p in sample_root_5m.root.rglob("*"))
    res = run_cli("build", "--root", sample_root_5m.root, "--dry-run", "--splits", "val")
    assert res.returncode == 0, res.stderr
    n_val = len(sample_root_5m.split_rows("val"))
    default = sample_root_5m.root / "bioscan5m" / "h5" / "bioscan5m_cropped_256_256px.h5"
    assert f"dry run: would write {default}" in res.stdout
    assert f"rows: {sample_root_5m.n_rows}" in res.stdout
    assert f"images to decode: {n_val} (val)" in res.stdout
    assert "estimated size:" in res.stdout and " GB" in res.stdout
    res = run_cli(
        "build", "--root", sample_root_5m.root, "--dry-run", "--no-images", "--out", tmp_path / "x.h5"
    )
    assert res.returncode == 0 and "images to decode: 0 (none)" in res.stdout
    assert sorted(p for p in sample_root_5m.root.rglob("*")) == before
    assert os.listdir(tmp_path) == []


def test_build_options_reach_the_store(run_cli, sample_root_5m, tmp_path):
    out = tmp_path / "s.h5"
    res = run_cli(
        "build",
        "--root",
        sample_root_5m.root,
        "--out",
        out,
        "--no-images",
        "--max-nucleotides",
        "none",
        "--tokenize",
        "barcodebert",
        "--image-size",
        8,
        "--fit",
        "pad",
        "--compression",
        "lzf",
        "--no-draft",
        "--no-progress",
    )
    assert res.returncode == 0, res.stderr
    assert (
        f"{sample_root_5m.n_rows} rows in " in res.stdout
        and "; 0 images decoded, 0 missing, 0 bad" in res.stdout
    )
    with open_store(out) as st:
        assert st.max_nucleotides is None
        assert st.tokenizations == ["barcodebert"]
        assert st.attrs[fmt.ATTR_FIT] == "pad" and st.image_size == 8
        assert st.attrs[fmt.ATTR_COMPRESSION] == "lzf" and not st.attrs[fmt.ATTR_DRAFT]
    res = run_cli("build", "--root", sample_root_5m.root, "--out", out, "--overwrite", "--no-images")
    assert res.returncode == 0, res.stderr
    with open_store(out) as st:
        assert st.max_nucleotides == 660 and st.tokenizations == []


def test_bad_metadata_message(run_cli, make_root, tmp_path):
    root = make_root()
    text = root.metadata.read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    cells = text[5].split(",")
    cells[header.index("split")] = "holdout"
    text[5] = ",".join(cells)
    root.metadata.write_text("\n".join(text) + "\n", encoding="utf-8")
    res = run_cli("build", "--root", root.root, "--out", tmp_path / "s.h5", "--no-images")
    assert res.returncode == 2
    assert "data row 5" in res.stderr and "column 'split'" in res.stderr and "'holdout'" in res.stderr
    assert "Valid split names are: pretrain, train, val" in res.stderr
    assert "Traceback" not in res.stderr


# ------------------------------------------------------------------------------ info
def test_info_text(built, run_cli, sample_root_5m):
    out, _, _ = built
    res = run_cli("info", out)
    assert res.returncode == 0, res.stderr
    n = sample_root_5m.n_rows
    bad = len(sample_root_5m.undecodable_rows)
    text = res.stdout
    assert text.splitlines()[0] == str(out)
    assert f"dataset bioscan5m, format v{fmt.FORMAT_VERSION}, {n} rows" in text
    assert f"images cropped_256 -> ({SIZE}, {SIZE}, 3) (crop), memory-mapped" in text
    assert f"images decoded: {n - bad}, bad: {bad}, not built: 0" in text
    assert "max_nucleotides=660; tokens: none" in text
    for split, count in sample_root_5m.manifest["rows_per_split"].items():
        assert any(line.split()[:3] == [split, str(count), "rows"] for line in text.splitlines()), split
    assert "labelled fraction:" in text and "phylum            100.0 %" in text
    assert "INCOMPLETE" not in text


def test_info_json(built, run_cli, sample_root_5m):
    out, _, _ = built
    res = run_cli("info", out, "--json")
    assert res.returncode == 0
    info = json.loads(res.stdout)
    with open_store(out) as st:
        assert info == json.loads(json.dumps(st.info()))
    assert info["rows"] == sample_root_5m.n_rows
    assert info["rows_per_split"]["val"]["rows"] == len(sample_root_5m.split_rows("val"))
    assert info["images"]["ok"] + info["bad_images"] == sample_root_5m.n_rows
    assert info["complete"] is True and info["format_version"] == 2


def test_info_on_a_partial_build(run_cli, make_root, tmp_path):
    root = make_root()
    out = tmp_path / "s.h5"
    res = run_cli("build", "--root", root.root, "--out", out, "--image-size", 8, "--strict", "--no-progress")
    assert res.returncode == 2
    partial = fmt.partial_path(str(out))
    res = run_cli("info", partial)
    assert res.returncode == 0, res.stderr
    assert "INCOMPLETE: the build has not finished" in res.stdout
    assert "not built:" in res.stdout
    res = run_cli("info", out)
    assert res.returncode == 2
    assert "No store file" in res.stderr and "interrupted" in res.stderr


def test_info_errors(run_cli, tmp_path):
    res = run_cli("info", tmp_path / "none.h5")
    assert res.returncode == 2 and "No store file" in res.stderr and "bioscan-h5 build" in res.stderr
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"junk" * 100)
    res = run_cli("info", junk)
    assert res.returncode == 2 and "not a readable HDF5 file" in res.stderr
    assert "Traceback" not in res.stderr


# ------------------------------------------------------------------------------ verify
def test_verify_ok(built, run_cli, sample_root_5m):
    out, _, _ = built
    res = run_cli("verify", out, "--root", sample_root_5m.root, "--sample", sample_root_5m.n_rows)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith(
        f"OK {out}: format, completeness and {sample_root_5m.n_rows} re-decoded rows"
    )


def test_verify_finds_changed_pixels_and_metadata(built, run_cli, make_root, tmp_path):
    out, _, _ = built
    root = make_root()  # a copy of the same root
    copy = tmp_path / "copy.h5"
    shutil.copyfile(out, copy)
    with open_store(copy) as st:
        off, row = int(st.attrs[fmt.ATTR_PIXEL_OFFSET]), int(np.flatnonzero(st.image_ok)[3])
    pixels = np.memmap(copy, dtype=np.uint8, mode="r+", offset=off, shape=(root.n_rows, SIZE, SIZE, 3))
    pixels[row, 5, 5] ^= 0xFF
    pixels.flush()
    del pixels
    res = run_cli("verify", copy, "--root", root.root, "--sample", root.n_rows)
    assert res.returncode == 1
    assert f"FAIL row {row} (" in res.stdout and "pixels differ from a fresh decode" in res.stdout
    # A source image that changed status since the build.
    with open_store(out) as st:
        good = root.image_path(int(np.flatnonzero(st.image_ok)[0]))
    good.write_bytes(b"")
    root.metadata.write_text(root.metadata.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    res = run_cli("verify", out, "--root", root.root, "--sample", root.n_rows)
    assert res.returncode == 1
    assert "is not the metadata file the store was built from" in res.stdout
    assert "store says OK, source is EMPTY" in res.stdout


def test_verify_errors(run_cli, sample_root_5m, tmp_path):
    res = run_cli("verify", tmp_path / "none.h5", "--root", sample_root_5m.root)
    assert res.returncode == 1 and "FAIL No store file" in res.stdout
    res = run_cli("verify", tmp_path / "none.h5", "--root", tmp_path)
    assert res.returncode == 1
