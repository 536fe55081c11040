"""Split and metasplit names, with the same rules and error messages as ``bioscan-dataset``."""

from __future__ import annotations

from .errors import InvalidArgumentError
from .format import BIOSCAN1M_PARTITIONINGS, BIOSCAN5M_SPLITS, CANADIAN_INVERTEBRATES_SPLITS

__all__ = [
    "BIOSCAN1M_SPLITS",
    "BIOSCAN1M_SPLIT_ALIASES",
    "BIOSCAN5M_SPLIT_ALIASES",
    "CANINV_METASPLITS",
    "CANINV_SEEN_SPLITS",
    "CANINV_SPLIT_ALIASES",
    "CANINV_UNSEEN_SPLITS",
    "CLIBD_5M_GROUPS",
    "CLIBD_METASPLITS",
    "CLIBD_SPLIT_ALIASES",
    "CLIBD_VALID_SPLITS",
    "PARTITIONING_VERSIONS",
    "check_partitioning_version",
    "explode_metasplit_1m",
    "explode_metasplit_5m",
    "explode_metasplit_caninv",
]

BIOSCAN5M_SPLIT_ALIASES = {"validation": "val"}
BIOSCAN5M_METASPLITS = ("all", "seen", "unseen")
SEEN_SPLITS = ("train", "val", "test")
UNSEEN_SPLITS = ("key_unseen", "val_unseen", "test_unseen")
#: CLIBD's BIOSCAN-5M group names (its ``generate_hdf5_file_5m.py``), accepted as split names:
#: the splits each stands for (``val_unseen``, ``test_unseen``, ``other_heldout`` are splits).
CLIBD_5M_GROUPS = {
    "all_keys": ("train", "key_unseen"),
    "seen_keys": ("train",),
    "unseen_keys": ("key_unseen",),
    "val_seen": ("val",),
    "test_seen": ("test",),
    "no_split_and_seen_train": ("pretrain", "train"),
}

BIOSCAN1M_SPLITS = ("train", "validation", "test", "no_split")
BIOSCAN1M_SPLIT_ALIASES = {"val": "validation"}
BIOSCAN1M_METASPLITS = ("all",)
CLIBD_VALID_SPLITS = (
    "no_split",
    "train_seen",
    "seen_keys",
    "single_species",
    "val_seen",
    "val_unseen",
    "val_unseen_keys",
    "test_seen",
    "test_unseen",
    "test_unseen_keys",
)
CLIBD_SPLIT_ALIASES = {
    "pretrain": "no_split",
    "train": "train_seen",
    "val": "val_seen",
    "validation": "val_seen",
    "test": "test_seen",
    "key_unseen": "test_unseen_keys",
}
#: CLIBD partition files that are unions of the base partitions (in their own row order).
CLIBD_METASPLITS = ("all", "all_keys", "no_split_and_seen_train")
PARTITIONING_VERSIONS = (*BIOSCAN1M_PARTITIONINGS, "clibd")

CANINV_SPLIT_ALIASES = {"validation": "val"}
CANINV_METASPLITS = ("all", "seen", "unseen")
CANINV_SEEN_SPLITS = ("train", "val", "test")
CANINV_UNSEEN_SPLITS = ("test_unseen",)


def check_partitioning_version(partitioning_version: str) -> str:
    """The partitioning version in lower case, if it is one of :data:`PARTITIONING_VERSIONS`.

    Raises
    ------
    InvalidArgumentError
        Otherwise, listing the valid versions (the peer's message).
    """
    pv = partitioning_version.lower() if isinstance(partitioning_version, str) else partitioning_version
    if pv not in PARTITIONING_VERSIONS:
        raise InvalidArgumentError(
            f"Invalid partitioning version: {partitioning_version!r}."
            f" Valid partitioning versions are: {', '.join(repr(s) for s in PARTITIONING_VERSIONS)}"
        )
    return pv


def _invalid(metasplit: str, split_set: set[str], invalid: set[str], valid_msg: str) -> ValueError:
    if split_set == {metasplit}:
        return InvalidArgumentError(f"Invalid split name {metasplit!r}. {valid_msg}")
    plural = "s" if len(invalid) > 1 else ""
    names = ", ".join(repr(s) for s in sorted(invalid))
    return InvalidArgumentError(
        f"Invalid split name{plural} {names} within requested metasplit {metasplit!r}. {valid_msg}"
    )


def explode_metasplit_5m(metasplit: str | None, verify: bool = True) -> set[str]:
    """The BIOSCAN-5M splits a (meta)split name stands for.

    ``"pretrain+train"`` is a union, ``"seen"`` = train+val+test, ``"unseen"`` =
    key_unseen+val_unseen+test_unseen, ``"all"`` (or None) = every split, and ``"validation"``
    is an alias of ``"val"``. CLIBD's group names (:data:`CLIBD_5M_GROUPS`: ``"all_keys"`` =
    train+key_unseen, ``"val_seen"`` = val, ...) stand for their splits too; error messages
    list the peer's names only, as ``bioscan-dataset`` does.

    Raises
    ------
    ValueError
        A name is not a split (with ``verify=True``), listing the valid names.
    """
    members = {"all": BIOSCAN5M_SPLITS, "seen": SEEN_SPLITS, "unseen": UNSEEN_SPLITS}
    return _explode_named(
        metasplit, verify, BIOSCAN5M_SPLITS, BIOSCAN5M_SPLIT_ALIASES, members, CLIBD_5M_GROUPS
    )


def explode_metasplit_caninv(metasplit: str | None, verify: bool = True) -> set[str]:
    """The Canadian Invertebrates splits a (meta)split name stands for.

    ``"seen"`` = train+val+test, ``"unseen"`` = test_unseen, ``"all"`` (or None) = every
    split, ``"+"`` joins, and ``"validation"`` is an alias of ``"val"``.

    Raises
    ------
    ValueError
        A name is not a split (with ``verify=True``), listing the valid names.
    """
    members = {
        "all": CANADIAN_INVERTEBRATES_SPLITS,
        "seen": CANINV_SEEN_SPLITS,
        "unseen": CANINV_UNSEEN_SPLITS,
    }
    return _explode_named(metasplit, verify, CANADIAN_INVERTEBRATES_SPLITS, CANINV_SPLIT_ALIASES, members)


def _explode_named(metasplit, verify, splits, aliases, metasplits, unlisted=None) -> set[str]:
    """Split names and metasplits (``metasplits``: name -> its splits) joined by ``"+"``.

    ``unlisted`` groups expand like metasplits but are not named in the error message.
    """
    if metasplit is None:
        metasplit = "all"
    out = {aliases.get(s.strip(), s.strip()) for s in metasplit.split("+")}
    for meta, members in {**metasplits, **(unlisted or {})}.items():
        if meta in out:
            out.discard(meta)
            out |= set(members)
    if verify:
        invalid = out - set(splits)
        if invalid:
            valid = ", ".join(repr(s) for s in (*metasplits, *splits))
            raise _invalid(metasplit, out, invalid, f"Valid split names are: {valid}.")
    return out


def explode_metasplit_1m(metasplit: str | None, partitioning_version: str, verify: bool = True) -> set[str]:
    """The BIOSCAN-1M partitions a (meta)split name stands for, for one partitioning version."""
    if metasplit is None:
        metasplit = "all"
    valid_splits: tuple[str, ...]
    valid_meta: tuple[str, ...]
    if partitioning_version == "clibd":
        aliases, valid_splits, valid_meta = CLIBD_SPLIT_ALIASES, CLIBD_VALID_SPLITS, CLIBD_METASPLITS
    else:
        aliases, valid_splits, valid_meta = BIOSCAN1M_SPLIT_ALIASES, BIOSCAN1M_SPLITS, BIOSCAN1M_METASPLITS
    parts = [aliases.get(s.strip(), s.strip()) for s in metasplit.split("+")]
    out = set(parts)
    if "all" in out:
        out.discard("all")
        out |= set(valid_splits)
    if verify:
        invalid = out - set(valid_splits) - set(valid_meta)
        if invalid:
            valid = ", ".join(repr(s) for s in (*valid_meta, *valid_splits))
            raise _invalid(
                metasplit,
                out,
                invalid,
                f"For {partitioning_version!r} partitioning, valid split names are: {valid}.",
            )
    return out
