"""Argument types and checks shared by the ``bioscan-h5`` commands.

The argparse types turn a bad value into a usage error (exit 2); the checks raise
:class:`~bioscan_h5.errors.InvalidArgumentError`, which the command reports in one line.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from ..build import BuildConfig

__all__ = [
    "build_config",
    "checked_tokenizers",
    "max_nucleotides",
    "non_negative_int",
    "positive_int",
]


def _whole_number(value: str, least: int, what: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = least - 1
    if n < least:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value!r}")
    return n


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _whole_number(value, 1, "a positive integer")


def non_negative_int(value: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _whole_number(value, 0, "a non-negative integer")


def max_nucleotides(value: str) -> int | None:
    """An argparse type: the barcode width kept, a positive integer or ``none``/``full``/``all``."""
    if value.lower() in ("none", "full", "all"):
        return None
    try:
        return positive_int(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', got {value!r}") from None


def checked_tokenizers(names: tuple[str, ...]) -> None:
    """Check the names of ``--tokenize`` before the build starts (:class:`InvalidArgumentError` otherwise)."""
    if not names:
        return
    from ..tokenizers import get_tokenizer

    for name in names:
        try:
            get_tokenizer(name)
        except ValueError as exc:  # tokenizers raise plain ValueError for an unknown name
            raise InvalidArgumentError(str(exc)) from exc


def build_config(args: argparse.Namespace, **fields: Any) -> BuildConfig:
    """The build configuration of the options ``build`` and ``download`` share, and ``fields``.

    Raises :class:`InvalidArgumentError` for a value the configuration refuses.
    """
    from ..build import BuildConfig

    return BuildConfig(
        root=args.root,
        dataset=args.dataset,
        image_package=args.image_package,
        image_size=args.image_size,
        splits=args.splits,
        workers=args.workers,
        no_images=args.no_images,
        **fields,
    )
