"""The constructor arguments of a dataset, normalised and validated once.

:class:`DatasetOptions` is the frozen record every collaborator of a dataset reads (the
sample reader, the label space, the store provisioning); the dataset classes only collect
their arguments into it. Checks that need the store (which columns exist, how long its
barcodes are) are in :func:`check_against_store`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import format as fmt
from ..errors import InvalidArgumentError

__all__ = ["DNA_MODALITIES", "IMAGE_FORMATS", "DatasetOptions", "check_against_store", "check_option"]

#: Modality names that mean "the barcode" (besides the dataset's barcode column).
DNA_MODALITIES = ("dna", "dna_barcode", "barcode")
#: What ``image_format`` may be.
IMAGE_FORMATS = ("pil", "numpy", "tensor")
_BUILD_CHOICES = ("auto", True, False)


def check_option(name: str, value: Any, valid: Iterable) -> None:
    """Raise :class:`InvalidArgumentError` unless ``value`` is one of ``valid`` (booleans by identity)."""
    valid = tuple(valid)
    if value not in valid or (isinstance(value, bool) and not any(v is value for v in valid)):
        raise InvalidArgumentError(
            f"Unknown {name}: {value!r}. Valid values are: {', '.join(repr(v) for v in valid)}."
        )


def _as_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class DatasetOptions:
    """What a sample holds and where it comes from (the shared constructor arguments)."""

    modality: tuple[str, ...]
    image_package: str
    reduce_repeated_barcodes: bool
    max_nucleotides: int | None
    target_type: tuple[str, ...]
    target_format: str
    output_format: str
    transform: Callable | None
    dna_transform: Callable | None
    target_transform: Callable | None
    image_size: int | None
    image_format: str
    build: str | bool
    drop_bad_images: bool
    verify_reads: bool = False
    dense_labels: bool = False

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The constructor arguments these options are made of."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any], rank_aliases: Mapping[str, str]) -> DatasetOptions:
        """Options from a constructor's arguments (e.g. its ``locals()``), validated.

        Parameters
        ----------
        arguments : Mapping
            Holds every name of :meth:`names` (other keys are ignored).
        rank_aliases : Mapping
            ``target_type`` aliases of the dataset (``{"uri": "dna_bin"}`` for BIOSCAN-5M).

        Raises
        ------
        InvalidArgumentError
            An option string, or ``max_nucleotides``, is not valid.
        RuntimeError
            ``target_transform`` without a ``target_type`` (as the peer).
        """
        values = {name: arguments[name] for name in cls.names() if name in arguments}
        values["modality"] = _as_tuple(values["modality"])
        values["target_type"] = tuple(rank_aliases.get(t, t) for t in _as_tuple(values["target_type"]))
        if values["output_format"] == "dictionary":
            values["output_format"] = "dict"
        opts = cls(**values)
        opts._validate()
        return opts

    def _validate(self) -> None:
        check_option("image_package", self.image_package, fmt.IMAGE_PACKAGES)
        check_option("target_format", self.target_format, ("index", "text"))
        check_option("output_format", self.output_format, ("tuple", "dict"))
        check_option("image_format", self.image_format, IMAGE_FORMATS)
        check_option("build", self.build, _BUILD_CHOICES)
        check_option("verify_reads", self.verify_reads, (False, True))
        check_option("dense_labels", self.dense_labels, (False, True))
        if not self.target_type and self.target_transform is not None:
            raise RuntimeError("target_transform is specified but target_type is empty")
        mx = self.max_nucleotides
        if mx is not None and (not isinstance(mx, (int, np.integer)) or mx < 0):
            raise InvalidArgumentError(f"max_nucleotides must be a non-negative integer or None, got {mx!r}.")

    @property
    def wants_image(self) -> bool:
        return "image" in self.modality

    def is_dna(self, modality: str, barcode_column: str) -> bool:
        """Whether a modality name stands for the barcode."""
        return modality in DNA_MODALITIES or modality == barcode_column

    def wants_dna(self, barcode_column: str) -> bool:
        return any(self.is_dna(m, barcode_column) for m in self.modality)


def check_against_store(opts: DatasetOptions, st, always_barcodes: bool = False) -> None:
    """Refuse options the store cannot serve: unknown modalities or ranks, barcodes cut too short.

    ``always_barcodes``: check the barcode length even without a DNA modality (the metadata
    frame holds the barcodes too).

    Raises
    ------
    InvalidArgumentError
        Naming the bad value and the valid ones, or how to rebuild the store.
    """
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
    if always_barcodes or opts.wants_dna(schema.barcode_column) or opts.reduce_repeated_barcodes:
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
