"""BIOSCAN-1M: its root layout, label clean-up rules and split rows.

Layout::

    <root>/bioscan1m/BIOSCAN_Insect_Dataset_metadata.tsv
    <root>/bioscan1m/images/<package>/part<chunk_number>/<image_file>
    <root>/bioscan1m/CLIBD_partitioning/<split>.txt     (optional; see :mod:`.clibd`)

or, as ``bioscan-dataset`` 1.1 and earlier laid it out (read when ``<root>/bioscan1m/`` does
not exist), ``<root>/BIOSCAN_Insect_Dataset_metadata.tsv`` with the rest under
``<root>/bioscan/``; the stores then go to ``<root>/bioscan/h5/``.

The store keeps the labels *after* ``bioscan-dataset``'s clean-up (``not_classified`` ->
missing, three tribe fixes, genus from species, "unassigned ..." tribe and subfamily
placeholders), every partitioning column, the CLIBD split of each row (``clibd_split``) and
each CLIBD partition file's rows in file order (``/partitions/<name>``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import format as fmt
from ..errors import InvalidArgumentError, SourceFileNotFoundError
from ..metadata import Table, metadata_error, read_table
from ..splits import (
    BIOSCAN1M_SPLITS,
    CLIBD_METASPLITS,
    CLIBD_SPLIT_ALIASES,
    CLIBD_VALID_SPLITS,
    check_partitioning_version,
    explode_metasplit_1m,
)
from .base import ColumnSource, SourceLayout, rows_in
from .clibd import CLIBD_DIRNAME, add_clibd_partitions
from .paths import refuse_unsafe

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BIOSCAN1M_LAYOUT", "OLD_1M_FOLDER", "Bioscan1MLayout", "clean_labels_1m"]

#: The dataset folder of the layout of bioscan-dataset <= 1.1 (the metadata file beside it).
OLD_1M_FOLDER = "bioscan"

_LABELS = fmt.BIOSCAN1M_RANKS
_TRIBE_FIXES = {"Asteia": "Asteiini", "Nemorilla": "Winthemiini", "Philaenus": "Philaenini"}
_DEFAULT_PARTITIONING = "large_diptera_family"


def clean_labels_1m(df: pd.DataFrame) -> pd.DataFrame:
    """Apply ``bioscan-dataset``'s BIOSCAN-1M label rules to a chunk (row by row)."""
    import pandas as pd

    for c in _LABELS:
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

    def clibd_dir(self, root: str) -> str:
        """The folder of the CLIBD partition files."""
        return os.path.join(self.dataset_dir(root), CLIBD_DIRNAME)

    def read(self, root: str, max_nucleotides: int | None, full_barcodes: bool = False) -> Table:
        path = self.find_metadata(root)
        table = read_table(
            path,
            self.schema,
            sep=self.sep,
            max_nucleotides=max_nucleotides,
            prepare=clean_labels_1m,
            full_barcodes=full_barcodes,
        )
        self.validate(table, path)
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
                r,
                "chunk_number",
                None if chunk.missing_mask[r] else int(chunk.value_array[r]),
                "the image folder number is missing or negative",
                "Each row needs its part<N> folder number.",
                id_value=ids[r].decode("utf-8"),
            )
        for col in fmt.BIOSCAN1M_PARTITIONINGS:
            c = table.column(col)
            unknown = sorted(set(c.categories or ()) - set(BIOSCAN1M_SPLITS))
            if unknown:
                r = int(np.flatnonzero(c.category_codes == c.category_names.index(unknown[0]))[0])
                raise metadata_error(
                    path,
                    r,
                    col,
                    unknown[0],
                    "unknown partition name",
                    f"Valid names are: {', '.join(BIOSCAN1M_SPLITS)}.",
                    id_value=ids[r].decode("utf-8"),
                )

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
        if not source.partition_names:
            where = getattr(source, "path", "the store")
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
            where = getattr(source, "path", "the store")
            raise SourceFileNotFoundError(
                f"The CLIBD partition file {split + '.txt'!r} was not in {CLIBD_DIRNAME}/ when {where!r} was"
                f" built. Put it there (it comes with CLIBD_partitioning.zip) and rebuild the store with"
                " `bioscan-h5 build --overwrite`."
            )
        return np.asarray(rows, dtype=np.int64)


BIOSCAN1M_LAYOUT = Bioscan1MLayout(
    schema=fmt.BIOSCAN1M,
    metadata_relpath="BIOSCAN_Insect_Dataset_metadata.tsv",
    sep="\t",
    path_columns=("sampleid", "image_file", "chunk_number", *fmt.BIOSCAN1M_PARTITIONINGS),
)
