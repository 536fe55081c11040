"""Argument types and checks shared by the ``bioscan-h5`` commands.

The argparse types turn a bad value into a usage error (exit 2). :func:`user_arguments`
and :func:`checked_splits` turn the ``ValueError`` of a pure argument check made elsewhere
(the build configuration, the split names) into :class:`~bioscan_h5.errors.InvalidArgumentError`,
which the command reports in one line; any other exception keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import BioscanH5Error, InvalidArgumentError

if TYPE_CHECKING:
    from ..build import BuildConfig

__all__ = [
    "build_config",
    "checked_splits",
    "checked_tokenizers",
    "max_nucleotides",
    "non_negative_int",
    "positive_int",
    "user_arguments",
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


@contextlib.contextmanager
def user_arguments() -> Iterator[None]:
    """Report the ``ValueError`` of the argument check in the block as an ``InvalidArgumentError``.

    Wrap only calls that check arguments and do nothing else (building a
    :class:`~bioscan_h5.builder.BuildConfig`, reading split names): their ``ValueError`` is a
    user's mistake. Errors of bioscan-h5's own classes pass through unchanged.
    """
    try:
        yield
    except BioscanH5Error:
        raise
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from exc


def checked_splits(dataset: str, splits: str) -> list[str]:
    """The split names ``splits`` stands for, by the rules ``bioscan-h5 build --splits`` follows.

    Raises
    ------
    InvalidArgumentError
        A name that is not a split of ``dataset`` (the message lists the valid ones).
    """
    from ..layouts import get_layout

    with user_arguments():
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

    with user_arguments():
        for name in names:
            get_tokenizer(name)


def build_config(args: argparse.Namespace, **options: Any) -> BuildConfig:
    """The build configuration of the options ``build`` and ``download`` share, plus ``options``.

    Raises
    ------
    InvalidArgumentError
        A value the configuration refuses (an image size or worker count below 1, ...).
    """
    from ..build import BuildConfig

    with user_arguments():
        return BuildConfig(
            root=args.root,
            dataset=args.dataset,
            image_package=args.image_package,
            image_size=args.image_size,
            splits=args.splits,
            workers=args.workers,
            no_images=args.no_images,
            **options,
        )
