"""The split-name grammar every dataset shares: ``"+"`` unions, aliases, metasplits, the peer's errors.

Each dataset's own names and rules are in its layout module (:mod:`bioscan_h5.layouts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import InvalidArgumentError

__all__ = ["explode_named", "invalid_split"]


def invalid_split(metasplit: str, split_set: set[str], invalid: set[str], valid_msg: str) -> ValueError:
    """The peer's error for split names that are not splits (one name, or some within a union)."""
    if split_set == {metasplit}:
        return InvalidArgumentError(f"Invalid split name {metasplit!r}. {valid_msg}")
    plural = "s" if len(invalid) > 1 else ""
    names = ", ".join(repr(s) for s in sorted(invalid))
    return InvalidArgumentError(
        f"Invalid split name{plural} {names} within requested metasplit {metasplit!r}. {valid_msg}"
    )


def explode_named(
    metasplit: str | None,
    verify: bool,
    splits: Sequence[str],
    aliases: Mapping[str, str],
    metasplits: Mapping[str, Sequence[str]],
    unlisted: Mapping[str, Sequence[str]] | None = None,
) -> set[str]:
    """Split names and metasplits (``metasplits``: name -> its splits) joined by ``"+"``; None is ``"all"``.

    ``unlisted`` groups expand like metasplits but are not named in the error message.

    Raises
    ------
    ValueError
        A name is not a split (with ``verify=True``), listing the valid names.
    """
    metasplit = "all" if metasplit is None else metasplit
    out = {aliases.get(s.strip(), s.strip()) for s in metasplit.split("+")}
    for meta, members in {**metasplits, **(unlisted or {})}.items():
        if meta in out:
            out.discard(meta)
            out |= set(members)
    if verify:
        invalid = out - set(splits)
        if invalid:
            valid = ", ".join(repr(s) for s in (*metasplits, *splits))
            raise invalid_split(metasplit, out, invalid, f"Valid split names are: {valid}.")
    return out
