"""The constructor arguments of a dataset, normalised and validated once (:class:`DatasetOptions`).

Checks that need the store are in :func:`check_against_store`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import format as fmt
from ..errors import InvalidArgumentError, check_choice

__all__ = ["DNA_MODALITIES", "IMAGE_FORMATS", "DatasetOptions", "check_against_store"]

#: Modality names that mean "the barcode" (besides the dataset's barcode column).
DNA_MODALITIES = ("dna", "dna_barcode", "barcode")
#: What ``image_format`` may be.
IMAGE_FORMATS = ("pil", "numpy", "tensor")
_BUILD_CHOICES = ("auto", True, False)


def _as_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True, kw_only=True)
class DatasetOptions:
    """The constructor arguments of a dataset, normalised and checked.

    The defaults are the dataset constructors'; the image options have some for the datasets
    without images (whose store requests still name a package). ``modality`` and ``target_type``
    become tuples (``target_type`` through ``rank_aliases``, such as ``{"uri": "dna_bin"}``),
    ``"dictionary"`` becomes ``"dict"``.

    Raises
    ------
    InvalidArgumentError
        An option string, or ``max_nucleotides``, is not valid.
    RuntimeError
        ``target_transform`` without a ``target_type`` (as the peer).
    """

    modality: tuple[str, ...]
    reduce_repeated_barcodes: bool
    max_nucleotides: int | None
    target_type: tuple[str, ...]
    target_format: str
    output_format: str
    dna_transform: Callable | None
    target_transform: Callable | None
    build: str | bool
    verify_reads: bool
    dense_labels: bool
    image_package: str = "cropped_256"
    transform: Callable | None = None
    image_size: int | None = None
    image_format: str = "pil"
    drop_bad_images: bool = False
    rank_aliases: dataclasses.InitVar[Mapping[str, str] | None] = None

    def __post_init__(self, rank_aliases: Mapping[str, str] | None) -> None:
        aliases = rank_aliases or {}
        object.__setattr__(self, "modality", _as_tuple(self.modality))
        object.__setattr__(self, "target_type", tuple(aliases.get(t, t) for t in _as_tuple(self.target_type)))
        if self.output_format == "dictionary":
            object.__setattr__(self, "output_format", "dict")
        check_choice("image_package", self.image_package, fmt.IMAGE_PACKAGES)
        check_choice("target_format", self.target_format, ("index", "text"))
        check_choice("output_format", self.output_format, ("tuple", "dict"))
        check_choice("image_format", self.image_format, IMAGE_FORMATS)
        check_choice("build", self.build, _BUILD_CHOICES)
        check_choice("verify_reads", self.verify_reads, (False, True))
        check_choice("dense_labels", self.dense_labels, (False, True))
        if not self.target_type and self.target_transform is not None:
            raise RuntimeError("target_transform is specified but target_type is empty")
        mx = self.max_nucleotides
        if mx is not None and (not isinstance(mx, (int, np.integer)) or mx < 0):
            raise InvalidArgumentError(f"max_nucleotides must be a non-negative integer or None, got {mx!r}.")

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any], rank_aliases: Mapping[str, str]) -> DatasetOptions:
        """The options among a constructor's ``locals()`` (its other arguments are not options)."""
        names = [f.name for f in dataclasses.fields(cls) if f.name in arguments]
        return cls(**{n: arguments[n] for n in names}, rank_aliases=rank_aliases)

    @property
    def wants_image(self) -> bool:
        return "image" in self.modality

    def is_dna(self, modality: str, barcode_column: str) -> bool:
        """Whether a modality name stands for the barcode."""
        return modality in DNA_MODALITIES or modality == barcode_column


def check_against_store(opts: DatasetOptions, st) -> None:
    """Refuse (:class:`InvalidArgumentError`) unknown modalities or ranks, and barcodes cut too short."""
    schema = st.schema
    valid = set(st.columns) | {schema.barcode_column, *DNA_MODALITIES}
    valid |= {f"{r}_index" for r in schema.ranks}
    if schema.has_images:
        valid |= {"image", "image_path"}
    for m in opts.modality:
        if m not in valid:
            head = "'image', 'dna'" if schema.has_images else "'dna' (the dataset has no images)"
            raise InvalidArgumentError(
                f"Unfamiliar modality: {m!r}. Valid modalities are {head} and the metadata columns: "
                f"{', '.join(repr(c) for c in sorted(valid - {'image', *DNA_MODALITIES}))}."
            )
    for t in opts.target_type:
        if t not in schema.ranks:
            raise InvalidArgumentError(
                f"Invalid target_type {t!r}. Valid target types are: {', '.join(repr(r) for r in schema.ranks)}."
            )
    if opts.reduce_repeated_barcodes or any(opts.is_dna(m, schema.barcode_column) for m in opts.modality):
        check_barcode_length(st, opts.max_nucleotides)


def check_barcode_length(st, max_nucleotides: int | None) -> None:
    """Refuse ``max_nucleotides`` longer than the store keeps, where a barcode is cut shorter.

    A store with whole barcodes (the default build) serves any ``max_nucleotides``.
    """
    stored = st.max_nucleotides
    if st.full_barcodes or (max_nucleotides is not None and max_nucleotides <= stored):
        return
    full = np.asarray(st.dna_full_lengths)
    longest = int(np.max(full, initial=0))
    if longest > stored:
        raise InvalidArgumentError(
            f"max_nucleotides={max_nucleotides!r} asks for more than the store holds: {st.path!r} keeps the"
            f" first {stored} nucleotides and {int((full > stored).sum())} barcodes are longer (up to"
            f" {longest}). Use max_nucleotides<={stored}, or rebuild the store with whole barcodes:"
            " `bioscan-h5 build --overwrite` (without --no-full-barcodes), or `--max-nucleotides none`."
        )
