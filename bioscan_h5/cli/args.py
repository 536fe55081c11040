"""Argument types and checks shared by the ``bioscan-h5`` commands.

The argparse types turn a bad value into a usage error (exit 2). The build configuration
and the split and tokenizer checks raise :class:`~bioscan_h5.errors.InvalidArgumentError`,
which the command reports in one line; any other exception keeps its traceback.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from ..build import BuildConfig

__all__ = [
    "build_config",
    "checked_splits",
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


def checked_splits(dataset: str, splits: str) -> list[str]:
    """The split names ``splits`` stands for, by the rules ``bioscan-h5 build --splits`` follows.

    Raises
    ------
    InvalidArgumentError
        A name that is not a split of ``dataset`` (the message lists the valid ones).
    """
    from ..layouts import get_layout

    return get_layout(dataset).explode(splits)


def checked_tokenizers(names: tuple[str, ...]) -> None:
    """Check the names of ``--tokenize`` before the build starts.

    Raises
    ------
    InvalidArgumentError
        A name that is no tokenizer (the message lists the valid ones).
    """
    if not names:
        return
    from ..tokenizers import get_tokenizer

    for name in names:
        try:
            get_tokenizer(name)
        except ValueError as exc:  # tokenizers raise plain ValueError for an unknown name
            raise InvalidArgumentError(str(exc)) from exc


def build_config(args: argparse.Namespace, **fields: Any) -> BuildConfig:
    """The build configuration of a command's arguments.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments with the options ``build`` and ``download`` share (``root``,
        ``dataset``, ``image_package``, ``image_size``, ``splits``, ``workers``, ``no_images``).
    **fields
        The command's other fields of :class:`~bioscan_h5.build.BuildConfig` (``fit``,
        ``out``, ``progress``, ...).

    Raises
    ------
    InvalidArgumentError
        A value the configuration refuses (an image size or worker count below 1, ...).
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
