"""BIOSCAN-1M's store schema, files, label clean-up, splits, CLIBD partitions, peer columns (torch-free).

Root: ``<root>/bioscan1m/BIOSCAN_Insect_Dataset_metadata.tsv``, ``images/<package>/part<N>/<file>``
and ``CLIBD_partitioning/<split>.txt``, or the layout of bioscan-dataset <= 1.1 (metadata beside
``<root>/bioscan/``). The dataset class is in :mod:`bioscan_h5.bioscan1m`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..columns import StoredColumn
from ..errors import InvalidArgumentError, SourceFileNotFoundError
from ..format import STORE_DIRNAME, ColumnSpec, DatasetSchema, Kind
from ..metadata import Table, metadata_error
from ..splits import invalid_split
from .base import ColumnSource, SourceLayout, refuse_unknown_splits, rows_in
from .paths import refuse_unsafe

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BIOSCAN1M_LAYOUT",
    "BIOSCAN1M_METASPLITS",
    "BIOSCAN1M_PARTITIONINGS",
    "BIOSCAN1M_RANKS",
    "BIOSCAN1M_SCHEMA",
    "BIOSCAN1M_SPLITS",
    "BIOSCAN1M_SPLIT_ALIASES",
    "CLIBD_DIRNAME",
    "CLIBD_FILES",
    "CLIBD_METASPLITS",
    "CLIBD_SPLIT_ALIASES",
    "CLIBD_VALID_SPLITS",
    "COLUMN_DTYPES_1M",
    "LABELS_1M",
    "OLD_1M_FOLDER",
    "PARTITIONING_VERSIONS",
    "USECOLS_1M",
    "Bioscan1MLayout",
    "add_clibd_partitions",
    "check_partitioning_version",
    "clean_labels_1m",
    "explode_metasplit_1m",
]

# ---------------------------------------------------------------- the store schema
_C, _S, _I = Kind.CATEGORY, Kind.STRING, Kind.INT

BIOSCAN1M_RANKS = ("phylum", "class", "order", "family", "subfamily", "tribe", "genus", "species", "uri")
BIOSCAN1M_PARTITIONINGS = (
    "large_diptera_family",
    "medium_diptera_family",
    "small_diptera_family",
    "large_insect_order",
    "medium_insect_order",
    "small_insect_order",
)
#: The credit columns (who took, holds and licenses each image).
_CREDITS = (
    "copyright_license",
    "copyright_holder",
    "copyright_institution",
    "copyright_contact",
    "photographer",
    "author",
)
BIOSCAN1M_SCHEMA = DatasetSchema(
    name="bioscan1m",
    columns=(
        ColumnSpec("sampleid", _S),
        ColumnSpec("processid", _S),
        ColumnSpec("uri", _C),
        ColumnSpec("name", _C, required=False),
        *(ColumnSpec(r, _C) for r in BIOSCAN1M_RANKS[:-1]),
        ColumnSpec("subspecies", _C, required=False),
        ColumnSpec("image_file", _S),
        *(ColumnSpec(p, _C) for p in BIOSCAN1M_PARTITIONINGS),
        ColumnSpec("chunk_number", _I),
        *(ColumnSpec(c, _C, required=False) for c in _CREDITS),
        ColumnSpec("clibd_split", _C, required=False),
    ),
    id_column="sampleid",
    barcode_column="nucraw",
    ranks=BIOSCAN1M_RANKS,
    split_columns=(*BIOSCAN1M_PARTITIONINGS, "clibd_split"),
)

# ---------------------------------------------------------------- split rules
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


def check_partitioning_version(partitioning_version: str) -> str:
    """The partitioning version in lower case, if it is one of :data:`PARTITIONING_VERSIONS`
    (else :class:`InvalidArgumentError` listing them, the peer's message)."""
    pv = partitioning_version.lower() if isinstance(partitioning_version, str) else partitioning_version
    if pv not in PARTITIONING_VERSIONS:
        raise InvalidArgumentError(
            f"Invalid partitioning version: {partitioning_version!r}."
            f" Valid partitioning versions are: {', '.join(repr(s) for s in PARTITIONING_VERSIONS)}"
        )
    return pv


def explode_metasplit_1m(metasplit: str | None, partitioning_version: str, verify: bool = False) -> set[str]:
    """The BIOSCAN-1M partitions a (meta)split name (None: ``"all"``) stands for under a partitioning
    version; ``verify``: raise ``ValueError`` for a name that is not one of its partitions."""
    if metasplit is None:
        metasplit = "all"
    clibd = partitioning_version == "clibd"
    aliases = CLIBD_SPLIT_ALIASES if clibd else BIOSCAN1M_SPLIT_ALIASES
    splits: tuple[str, ...] = CLIBD_VALID_SPLITS if clibd else BIOSCAN1M_SPLITS
    meta: tuple[str, ...] = CLIBD_METASPLITS if clibd else BIOSCAN1M_METASPLITS
    out = {aliases.get(s.strip(), s.strip()) for s in metasplit.split("+")}
    if "all" in out:
        out = (out - {"all"}) | set(splits)
    invalid = out - set(splits) - set(meta)
    if verify and invalid:
        valid = ", ".join(map(repr, (*meta, *splits)))
        msg = f"For {partitioning_version!r} partitioning, valid split names are: {valid}."
        raise invalid_split(metasplit, out, invalid, msg)
    return out


# ---------------------------------------------------------------- the peer's columns
#: The dtypes ``load_bioscan1m_metadata`` reads the BIOSCAN-1M TSV with (the label columns
#: are read as text, cleaned up, and then made categories).
COLUMN_DTYPES_1M: dict[str, Any] = {
    "sampleid": str,
    "processid": str,
    "uri": str,
    "name": "category",
    **dict.fromkeys(BIOSCAN1M_RANKS[:-1], str),
    "subspecies": str,
    "nucraw": str,
    "image_file": str,
    **dict.fromkeys(BIOSCAN1M_PARTITIONINGS, "category"),
    "chunk_number": "uint8",
    **dict.fromkeys(_CREDITS, "category"),
}
#: The columns ``BIOSCAN1M`` reads, the partition columns aside.
USECOLS_1M: list[str] = [
    "processid",
    "sampleid",
    "uri",
    *BIOSCAN1M_RANKS[:-1],
    "nucraw",
    "image_file",
    "chunk_number",
]
LABELS_1M: tuple[str, ...] = BIOSCAN1M_RANKS


# ---------------------------------------------------------------- CLIBD partition files
CLIBD_DIRNAME = "CLIBD_partitioning"
#: Every CLIBD partition file: the ten base partitions and the two unions.
CLIBD_FILES = (*CLIBD_VALID_SPLITS, "all_keys", "no_split_and_seen_train")


def add_clibd_partitions(table: Table, folder: str) -> None:
    """Read the CLIBD partition files in ``folder`` (if it exists) into ``table``.

    Each file lists sampleids, one per line. The store keeps each file's rows in the file's
    order (``/partitions/<name>``) and the base partition of every row as ``clibd_split``.

    Raises
    ------
    MetadataError
        A base partition file is missing, or lists a sampleid the metadata does not have.
    """
    import pandas as pd

    if not os.path.isdir(folder):
        return
    ids = table.column("sampleid").value_array
    index = pd.Index(ids)
    split_codes = np.full(table.n_rows, -1, dtype=np.int32)
    cats = sorted(CLIBD_VALID_SPLITS)
    for name in CLIBD_FILES:
        fpath = os.path.join(folder, f"{name}.txt")
        if not os.path.isfile(fpath):
            if name in CLIBD_VALID_SPLITS:
                raise metadata_error(
                    fpath,
                    "this CLIBD partition file is missing",
                    f"Download CLIBD_partitioning.zip again into {folder!r} (all of {', '.join(CLIBD_FILES)}).",
                )
            continue
        with open(fpath, encoding="utf-8-sig") as fh:
            sids = [line.strip() for line in fh if line.strip()]
        rows = index.get_indexer(np.array([s.encode("utf-8") for s in sids], dtype=ids.dtype))
        if (rows < 0).any():
            i = int(np.flatnonzero(rows < 0)[0])
            raise metadata_error(
                fpath,
                "this sampleid is not in the metadata file",
                "The partition files must come from the same release as the metadata TSV.",
                row=i,
                column="sampleid",
                value=sids[i],
            )
        table.partitions[name] = rows.astype(np.int64)
        if name in CLIBD_VALID_SPLITS:
            split_codes[rows] = cats.index(name)
    table.columns["clibd_split"] = StoredColumn(
        "clibd_split", Kind.CATEGORY, codes=split_codes, categories=cats
    )
    table.header.append("clibd_split")


# ---------------------------------------------------------------- the root layout
#: The dataset folder of the layout of bioscan-dataset <= 1.1 (the metadata file beside it).
OLD_1M_FOLDER = "bioscan"

_TRIBE_FIXES = {"Asteia": "Asteiini", "Nemorilla": "Winthemiini", "Philaenus": "Philaenini"}
_DEFAULT_PARTITIONING = "large_diptera_family"


def clean_labels_1m(df: pd.DataFrame) -> pd.DataFrame:
    """Apply ``bioscan-dataset``'s BIOSCAN-1M label rules to a chunk (row by row)."""
    import pandas as pd

    for c in BIOSCAN1M_RANKS:
        df.loc[df[c] == "not_classified", c] = pd.NA
    for genus, tribe in _TRIBE_FIXES.items():
        df.loc[df["genus"].notna() & (df["genus"] == genus), "tribe"] = tribe
    sel = df["genus"].isna() & df["species"].notna()
    df.loc[sel, "genus"] = df.loc[sel, "species"].map(lambda x: x.split(" ")[0])
    sel = df["tribe"].isna() & df["genus"].notna()
    has_sub = df["subfamily"].notna()
    df.loc[sel & has_sub, "tribe"] = "unassigned " + df.loc[sel & has_sub, "subfamily"]
    df.loc[sel & ~has_sub, "tribe"] = "unassigned " + df.loc[sel & ~has_sub, "family"]
    sel = df["subfamily"].isna() & df["tribe"].notna()
    df.loc[sel, "subfamily"] = "unassigned " + df.loc[sel, "family"]
    return df


@dataclass(frozen=True)
class Bioscan1MLayout(SourceLayout):
    """The BIOSCAN-1M root (TSV metadata, ``part<N>`` image folders, CLIBD partition files)."""

    def old_layout(self, root: str) -> bool:
        """Whether ``root`` has the layout of bioscan-dataset <= 1.1 (and not the current one)."""
        return (
            not os.path.isdir(os.path.join(root, self.name))
            and os.path.isfile(os.path.join(root, self.metadata_relpath))
            and os.path.isdir(os.path.join(root, OLD_1M_FOLDER))
        )

    def dataset_dir(self, root: str) -> str:
        return os.path.join(root, OLD_1M_FOLDER) if self.old_layout(root) else super().dataset_dir(root)

    def metadata_path(self, root: str) -> str:
        if self.old_layout(root):
            return os.path.join(root, self.metadata_relpath)
        return super().metadata_path(root)

    def metadata_store_dirs(self, metadata_path: str | os.PathLike) -> list[str]:
        """Also ``<metadata folder>/bioscan/h5``: the layout of bioscan-dataset <= 1.1."""
        (here,) = super().metadata_store_dirs(metadata_path)
        return [here, os.path.join(os.path.dirname(here), OLD_1M_FOLDER, STORE_DIRNAME)]

    def clibd_dir(self, root: str) -> str:
        """The folder of the CLIBD partition files."""
        return os.path.join(self.dataset_dir(root), CLIBD_DIRNAME)

    def read(self, root: str, max_nucleotides: int | None, full_barcodes: bool = False) -> Table:
        table = super().read(root, max_nucleotides, full_barcodes)
        add_clibd_partitions(table, self.clibd_dir(root))
        return table

    def validate(self, table: Table, path: str) -> None:
        ids = table.column("sampleid").value_array
        refuse_unsafe(path, table, "image_file", "sampleid")
        chunk = table.column("chunk_number")
        bad = np.flatnonzero(chunk.missing_mask | (chunk.value_array < 0))
        if bad.size:
            r = int(bad[0])
            raise metadata_error(
                path,
                "the image folder number is missing or negative",
                "Each row needs its part<N> folder number.",
                row=r,
                column="chunk_number",
                value=None if chunk.missing_mask[r] else int(chunk.value_array[r]),
                id_value=ids[r].decode("utf-8"),
            )
        for col in BIOSCAN1M_PARTITIONINGS:
            refuse_unknown_splits(table, path, col, BIOSCAN1M_SPLITS, "sampleid", kind="partition")

    def image_relpaths(self, source: ColumnSource, rows: np.ndarray) -> list[str]:
        files = source.column("image_file").value_array
        chunks = source.column("chunk_number").value_array
        return [f"part{int(chunks[r])}/{files[r].decode('utf-8')}" for r in rows]

    def explode(self, splits: str) -> list[str]:
        """Canonical ``"<partitioning>:<split>"`` tokens (plain names: large_diptera_family)."""
        out = set()
        for part in splits.split("+"):
            pv, _, name = part.strip().rpartition(":")
            pv = check_partitioning_version(pv or _DEFAULT_PARTITIONING)
            if name == "all":
                return ["all"]
            for s in explode_metasplit_1m(name, pv, verify=True):
                out.add(f"{pv}:{s}")
        return sorted(out)

    def token_rows(self, source: ColumnSource, token: str) -> np.ndarray:
        pv, name = token.split(":")
        if pv == "clibd":
            rows = source.partition(name)
            return np.zeros(0, np.int64) if rows is None else rows
        return rows_in(source, pv, [name])

    def split_rows(
        self, source: ColumnSource, split: str | None, partitioning_version: str | None = None
    ) -> np.ndarray:
        """Rows of a BIOSCAN-1M split in ``bioscan-dataset``'s order.

        CLIBD splits named alone follow their partition file's order; ``+`` unions and the
        BIOSCAN-1M partitionings follow the metadata file's order.
        """
        pv = check_partitioning_version(partitioning_version or _DEFAULT_PARTITIONING)
        if split is None or split == "all":
            return np.arange(source.n_rows, dtype=np.int64)
        if pv != "clibd":
            return rows_in(source, pv, explode_metasplit_1m(split, pv, verify=True))
        split = CLIBD_SPLIT_ALIASES.get(split, split)
        where = getattr(source, "path", "the store")
        if not source.partition_names:
            raise InvalidArgumentError(
                f"clibd partitioning requested, but {where!r} holds no CLIBD partition files."
                " Put CLIBD_partitioning/ beside the metadata TSV and rebuild the store with --overwrite."
            )
        if "+" in split:
            return rows_in(source, "clibd_split", explode_metasplit_1m(split, pv, verify=True))
        if split not in CLIBD_VALID_SPLITS + CLIBD_METASPLITS:
            valid = ", ".join(repr(s) for s in CLIBD_METASPLITS + CLIBD_VALID_SPLITS)
            raise InvalidArgumentError(
                f"Invalid split value: {split!r}. Valid splits for partitioning version 'clibd' are: {valid}"
            )
        rows = source.partition(split)
        if rows is None:  # a union file (the ten base files are required at build time)
            raise SourceFileNotFoundError(
                f"The CLIBD partition file {split + '.txt'!r} was not in {CLIBD_DIRNAME}/ when {where!r} was"
                f" built. Put it there (it comes with CLIBD_partitioning.zip) and rebuild the store with"
                " `bioscan-h5 build --overwrite`."
            )
        return np.asarray(rows, dtype=np.int64)


BIOSCAN1M_LAYOUT = Bioscan1MLayout(
    schema=BIOSCAN1M_SCHEMA,
    metadata_relpath="BIOSCAN_Insect_Dataset_metadata.tsv",
    sep="\t",
    path_columns=("sampleid", "image_file", "chunk_number", *BIOSCAN1M_PARTITIONINGS),
    prepare=clean_labels_1m,
)
