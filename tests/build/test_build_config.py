"""BuildConfig: the one constructor the command line, download and the datasets use, its checks,
and ``command()``, which must parse back into the same configuration."""

from __future__ import annotations

import shlex

import pytest

from bioscan_h5 import cli
from bioscan_h5.build import BuildConfig
from bioscan_h5.cli.args import build_config
from bioscan_h5.cli.build import to_config
from bioscan_h5.cli.main import build_parser
from bioscan_h5.errors import InvalidArgumentError


def parse_command(command: str) -> BuildConfig:
    """The configuration ``bioscan-h5 build`` makes of a command line."""
    argv = shlex.split(command)
    assert argv[:2] == ["bioscan-h5", "build"]
    return to_config(build_parser().parse_args(argv[1:]))


ROUND_TRIPS = {
    "defaults": ({}, {}),
    "size": ({"image_size": 128}, {}),
    "fit": ({"fit": "pad"}, {}),
    "whole barcodes": ({"max_nucleotides": None}, {}),
    "short barcodes": ({"max_nucleotides": 100}, {}),
    "gzip": ({"compression": "gzip"}, {}),
    "lzf": ({"compression": "lzf"}, {}),
    "no draft": ({"draft": False}, {}),
    "tokenize": ({"tokenize": ["barcodebert", "clibd"]}, {}),
    "out": ({}, {"out": "elsewhere/my store.h5"}),
    "no images": ({}, {"no_images": True}),
    "splits": ({}, {"splits": "pretrain+train"}),
    "1m": ({"dataset": "bioscan1m", "image_package": "original_256"}, {"splits": "clibd:val_seen"}),
    "everything": (
        {
            "image_size": 64,
            "fit": "pad",
            "max_nucleotides": None,
            "compression": "gzip",
            "draft": False,
            "tokenize": ("char",),
        },
        {"out": "x.h5", "no_images": True, "splits": "val"},
    ),
}


@pytest.mark.parametrize(("content", "options"), ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_command_parses_back_into_the_same_config(tmp_path, monkeypatch, content, options):
    monkeypatch.chdir(tmp_path)
    cfg = BuildConfig.from_content(tmp_path / "a root", content, **options)
    assert parse_command(cfg.command()) == cfg


def test_command_names_only_what_differs_from_the_defaults(tmp_path):
    cfg = BuildConfig(root=tmp_path)
    assert cfg.command() == shlex.join(
        [
            "bioscan-h5",
            "build",
            "--root",
            str(tmp_path),
            "--dataset",
            "bioscan5m",
            "--image-package",
            "cropped_256",
            "--splits",
            "all",
        ]
    )
    assert "--out" not in BuildConfig(root=tmp_path, out=cfg.default_out()).command()


def test_from_content_ignores_other_recorded_arguments(tmp_path):
    recorded = {"image_size": 64, "tokenize": ["char"], "from_a_later_version": 1}
    cfg = BuildConfig.from_content(tmp_path, recorded, splits="val")
    assert (cfg.image_size, cfg.tokenize, cfg.splits) == (64, ("char",), "val")


def test_download_arguments_make_the_config_of_its_content(tmp_path):
    argv = ["download", "--dataset", "bioscan1m", "--root", str(tmp_path), "--image-size", "96"]
    args = build_parser().parse_args([*argv, "--splits", "clibd:test_seen", "--workers", "3"])
    expected = BuildConfig.from_content(
        tmp_path, {"dataset": "bioscan1m", "image_size": 96}, splits="clibd:test_seen", workers=3
    )
    assert build_config(args) == expected


BAD = {
    "image_package": ({"image_package": "cropped_512"}, "Unknown image_package: 'cropped_512'"),
    "fit": ({"fit": "stretch"}, "Unknown fit: 'stretch'. Valid values are: 'crop', 'pad'"),
    "compression": ({"compression": "zstd"}, "Unknown compression: 'zstd'"),
    "image_size": ({"image_size": 0}, "image_size must be a positive integer, got 0"),
    "max_nucleotides": (
        {"max_nucleotides": -5},
        "max_nucleotides must be a positive integer or None, got -5",
    ),
    "workers": ({"workers": 0}, "workers must be at least 1, got 0"),
}


@pytest.mark.parametrize(("fields", "message"), BAD.values(), ids=BAD.keys())
def test_bad_values_raise_invalid_argument_error(tmp_path, fields, message):
    with pytest.raises(InvalidArgumentError, match=message) as info:
        BuildConfig(root=tmp_path, **fields)
    assert isinstance(info.value, ValueError)  # still caught by `except ValueError`


def test_cli_reports_a_refused_value_in_one_line(tmp_path, capsys):
    argv = ["build", "--root", str(tmp_path), "--workers", "0", "--dry-run"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == "bioscan-h5 build: error: workers must be at least 1, got 0."
