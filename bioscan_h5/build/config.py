"""What a build is asked to do (:class:`BuildConfig`) and what it did (:class:`BuildResult`).

:meth:`BuildConfig.from_content` makes one from a store's recorded content arguments (an
extension), and :meth:`BuildConfig.command` is the ``bioscan-h5 build`` command line that runs one.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import format as fmt
from ..errors import InvalidArgumentError, check_choice
from ..layouts import SCHEMAS, get_layout
from ..pixels import CODECS, DEFAULT_KIND, codec
from .limits import capped_workers, check_image_size, usable_cores

__all__ = ["CONTENT_ARGS", "CONTENT_DEFAULTS", "BuildConfig", "BuildResult", "recorded_content"]

#: Arguments that define a store's content: a resume or an extension must match them.
CONTENT_ARGS = (
    "dataset",
    "image_package",
    "image_size",
    "fit",
    "max_nucleotides",
    "compression",
    "draft",
    "tokenize",
    "pixels",
    "jpeg_quality",
    "jpeg_crop",
    "full_barcodes",
)

_COMPRESSIONS = (None, "lzf", "gzip")


@dataclass
class BuildConfig:
    """Everything ``bioscan-h5 build`` takes (see ``bioscan-h5 build --help``), checked once.

    A bad value raises :class:`~bioscan_h5.errors.InvalidArgumentError`. ``root`` and ``out``
    are made absolute; ``out`` defaults to the root's store path, ``workers`` to the usable cores.
    """

    root: str
    dataset: str = "bioscan5m"
    image_package: str = "cropped_256"
    image_size: int = fmt.DEFAULT_IMAGE_SIZE
    fit: str = "crop"
    splits: str = "all"
    max_nucleotides: int | None = fmt.DEFAULT_MAX_NUCLEOTIDES
    workers: int | None = None
    out: str = None  # type: ignore[assignment]  # None (the default store path): a str after __post_init__
    overwrite: bool = False
    dry_run: bool = False
    no_images: bool = False
    compression: str | None = None
    draft: bool = True
    strict: bool = False
    check_space: bool = True
    tokenize: tuple[str, ...] = ()
    progress: bool = True
    batch_size: int = 32
    pixels: str = DEFAULT_KIND
    jpeg_quality: int | None = None
    jpeg_crop: bool = False
    full_barcodes: bool = True

    def __post_init__(self) -> None:
        self.root = os.path.abspath(os.path.expanduser(os.fspath(self.root)))
        check_choice("image_package", self.image_package, fmt.IMAGE_PACKAGES)
        check_choice("fit", self.fit, fmt.FITS)
        check_choice("compression", self.compression, _COMPRESSIONS)
        if not _positive_int(self.image_size):
            raise InvalidArgumentError(f"image_size must be a positive integer, got {self.image_size!r}.")
        check_image_size(self.image_size)
        if self.max_nucleotides is not None and not _positive_int(self.max_nucleotides):
            raise InvalidArgumentError(
                f"max_nucleotides must be a positive integer or None, got {self.max_nucleotides!r}."
            )
        check_choice("pixels", self.pixels, tuple(CODECS))
        codec(self.pixels).check_arguments(self.jpeg_quality, self.compression)
        if self.jpeg_crop and not self.jpeg_quality:
            raise InvalidArgumentError(
                f"jpeg_crop={self.jpeg_crop!r} re-encodes the S x S image, so it needs jpeg_quality"
                f" (got {self.jpeg_quality!r}); pass e.g. --pixels jpeg --jpeg-quality 90 --jpeg-crop."
            )
        if self.max_nucleotides is None:
            self.full_barcodes = True  # one array as wide as the longest barcode: whole anyway
        schema = SCHEMAS.get(self.dataset)
        if schema is not None and not schema.has_images:
            if self.pixels != DEFAULT_KIND:
                raise InvalidArgumentError(
                    f"pixels={self.pixels!r} needs images, and {self.dataset!r} is a DNA-only dataset (its"
                    " store holds barcodes and taxonomy, no images); leave --pixels and --jpeg-quality out."
                )
            self.no_images = True
        if self.workers is None:
            self.workers = usable_cores()
        if self.workers < 1:
            raise InvalidArgumentError(f"workers must be at least 1, got {self.workers!r}.")
        self.workers = capped_workers(self.workers)
        self.tokenize = tuple(self.tokenize)
        out = self.default_out() if self.out is None else self.out
        self.out = os.path.abspath(os.path.expanduser(os.fspath(out)))

    @classmethod
    def from_content(cls, root: str, content: Mapping[str, Any], **options: Any) -> BuildConfig:
        """The config that builds (or extends) a store with the given content arguments.

        Parameters
        ----------
        root : str
        content : mapping
            Content arguments (:data:`CONTENT_ARGS`, e.g. a store's ``build_args``); other keys
            are ignored, absent ones take their defaults.
        **options
            Every other field (``splits``, ``out``, ``no_images``, ``workers``, ...).

        Raises
        ------
        InvalidArgumentError
            A value out of range or not among the valid ones.
        """
        known = {k: v for k, v in content.items() if k in CONTENT_ARGS}
        return cls(root=root, **{**known, **options})

    def content_args(self) -> dict:
        """The arguments that define the store's content (compared on resume)."""
        return {k: getattr(self, k) if k != "tokenize" else list(self.tokenize) for k in CONTENT_ARGS}

    def default_out(self) -> str:
        """The store path of this root and content (``ROOT/<dataset>/h5/...``)."""
        return get_layout(self.dataset).store_path(
            self.root,
            self.image_package,
            self.image_size,
            self.fit,
            codec(self.pixels).file_suffix(self.jpeg_quality, self.jpeg_crop),
        )

    def command(self) -> str:
        """The shell-quoted ``bioscan-h5 build`` command line that runs this config (defaults left out)."""
        args = ["bioscan-h5", "build", "--root", self.root, "--dataset", self.dataset]
        args += ["--image-package", self.image_package]
        for name in (
            "image_size",
            "fit",
            "max_nucleotides",
            "compression",
            "tokenize",
            "pixels",
            "jpeg_quality",
        ):
            value = getattr(self, name)
            if value != _DEFAULTS[name]:
                text = ",".join(value) if name == "tokenize" else "none" if value is None else str(value)
                args += [f"--{name.replace('_', '-')}", text]
        flags = {
            "--no-draft": not self.draft,
            "--jpeg-crop": self.jpeg_crop,
            "--no-full-barcodes": not self.full_barcodes,
            "--no-images": self.no_images,
        }
        args += [flag for flag, on in flags.items() if on]
        if self.out != self.default_out():
            args += ["--out", self.out]
        return shlex.join([*args, "--splits", self.splits])


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(BuildConfig)}
#: What a content argument that a store does not record was: its default.
CONTENT_DEFAULTS = {k: _DEFAULTS[k] for k in CONTENT_ARGS if k != "tokenize"}


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and value >= 1


@dataclass
class BuildResult:
    """What a build did.

    Attributes
    ----------
    store : str
    n_rows : int
        Rows of the store (every row of the metadata file).
    decoded_now, missing_now, bad_now : int
        Rows of this run whose image was decoded (dry run: would be), missing, or undecodable.
    left_out : list of str
        Splits of ``--splits all`` left out because their image files are absent.
    counts : dict
        Rows per image status name, over the whole store.
    bad_rows : list of dict
        The rows whose image could not be decoded (as in the build report at ``report``).
    report : str or None
    seconds : float
    up_to_date : bool
        The store already held everything asked for: nothing was done.
    resumed : bool
        The run went on from a partial build.
    dry_run : bool
        Nothing was written; ``estimated_bytes`` is the store's estimated size.
    estimated_bytes : int
    """

    store: str
    n_rows: int
    decoded_now: int = 0
    missing_now: int = 0
    bad_now: int = 0
    left_out: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    bad_rows: list = field(default_factory=list)
    report: str | None = None
    seconds: float = 0.0
    up_to_date: bool = False
    resumed: bool = False
    dry_run: bool = False
    estimated_bytes: int = 0

    @property
    def processed_now(self) -> int:
        """Rows whose image this run read: decoded, missing or bad."""
        return self.decoded_now + self.missing_now + self.bad_now


def recorded_content(build_args: str | None) -> dict[str, Any]:
    """The content arguments a store records (its ``build_args`` attribute, JSON), completed.

    Without ``full_barcodes`` a store holds every barcode whole only if built with
    ``max_nucleotides=None``; any other argument not recorded takes its default.
    """
    import json

    recorded = json.loads(build_args or "{}")
    if "full_barcodes" not in recorded:
        recorded["full_barcodes"] = "max_nucleotides" in recorded and recorded["max_nucleotides"] is None
    return {**CONTENT_DEFAULTS, **recorded}
