"""BIOSCAN-1M: its root layout, label clean-up rules, partitions and split rows.

Layout::

    <root>/bioscan1m/BIOSCAN_Insect_Dataset_metadata.tsv
    <root>/bioscan1m/images/<package>/part<chunk_number>/<image_file>
    <root>/bioscan1m/CLIBD_partitioning/<split>.txt     (optional; one sampleid per line)

The store keeps the labels *after* ``bioscan-dataset``'s clean-up (``not_classified`` ->
missing, three tribe fixes, genus from species, "unassigned ..." tribe and subfamily
placeholders), every partitioning column, the CLIBD split of each row (``clibd_split``) and
each CLIBD partition file's rows in file order (``/partitions/<name>``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import format as fmt
from .metadata import StoredColumn, Table, metadata_error, read_table
from .sources import SourceLayout, check_path_component, unsafe_components
from .splits import (
    CLIBD_METASPLITS,
    CLIBD_SPLIT_ALIASES,
    CLIBD_VALID_SPLITS,
    PARTITIONING_VERSIONS,
    explode_metasplit_1m,
)

__all__ = ["BIOSCAN1M_LAYOUT", "clean_labels_1m", "split_rows_1m", "CLIBD_DIRNAME", "CLIBD_FILES"]

CLIBD_DIRNAME = "CLIBD_partitioning"
#: Every CLIBD partition file: the ten base partitions and the two unions.
CLIBD_FILES = (*CLIBD_VALID_SPLITS, "all_keys", "no_split_and_seen_train")
_LABELS = fmt.BIOSCAN1M_RANKS
_TRIBE_FIXES = {"Asteia": "Asteiini", "Nemorilla": "Winthemiini", "Philaenus": "Philaenini"}


def clean_labels_1m(df: pd.DataFrame) -> pd.DataFrame:
    """Apply ``bioscan-dataset``'s BIOSCAN-1M label rules to a chunk (row by row)."""
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


def _read_partition_file(path: str) -> list[str]:
    with open(path, encoding="utf-8-sig") as fh:
        return [line.strip() for line in fh if line.strip()]


@dataclass(frozen=True)
class Bioscan1MLayout(SourceLayout):
    """The BIOSCAN-1M root (TSV metadata, ``part<N>`` image folders, CLIBD partition files)."""

    def clibd_dir(self, root: str) -> str:
        return os.path.join(root, self.name, CLIBD_DIRNAME)

    def read(self, root: str, max_nucleotides: int | None) -> Table:
        path = self.find_metadata(root)
        table = read_table(
            path, self.schema, sep=self.sep, max_nucleotides=max_nucleotides, prepare=clean_labels_1m
        )
        self.validate(table, path)
        self._add_clibd(table, root)
        return table

    def _add_clibd(self, table: Table, root: str) -> None:
        folder = self.clibd_dir(root)
        if not os.path.isdir(folder):
            return
        ids = table.columns["sampleid"].values
        index = pd.Index(ids)
        split_codes = np.full(table.n_rows, -1, dtype=np.int32)
        cats = sorted(CLIBD_VALID_SPLITS)
        for name in CLIBD_FILES:
            fpath = os.path.join(folder, f"{name}.txt")
            if not os.path.isfile(fpath):
                if name in CLIBD_VALID_SPLITS:
                    raise metadata_error(
                        fpath,
                        None,
                        None,
                        None,
                        "this CLIBD partition file is missing",
                        f"Download CLIBD_partitioning.zip again into {folder!r} (all of {', '.join(CLIBD_FILES)}).",
                    )
                continue
            sids = _read_partition_file(fpath)
            rows = index.get_indexer(np.array([s.encode("utf-8") for s in sids], dtype=ids.dtype))
            if (rows < 0).any():
                i = int(np.flatnonzero(rows < 0)[0])
                raise metadata_error(
                    fpath,
                    i,
                    "sampleid",
                    sids[i],
                    "this sampleid is not in the metadata file",
                    "The partition files must come from the same release as the metadata TSV.",
                )
            table.partitions[name] = rows.astype(np.int64)
            if name in CLIBD_VALID_SPLITS:
                split_codes[rows] = cats.index(name)
        table.columns["clibd_split"] = StoredColumn(
            "clibd_split", fmt.Kind.CATEGORY, codes=split_codes, categories=cats
        )
        table.header.append("clibd_split")

    def validate(self, table: Table, path: str) -> None:
        ids = table.columns["sampleid"].values
        values = table.columns["image_file"].values
        bad = unsafe_components(values)
        if bad.size:
            r = int(bad[0])
            check_path_component(path, values[r].decode("utf-8"), r, "image_file", ids[r].decode("utf-8"))
        chunk = table.columns["chunk_number"]
        bad = np.flatnonzero(chunk.missing | (chunk.values < 0))
        if bad.size:
            r = int(bad[0])
            raise metadata_error(
                path,
                r,
                "chunk_number",
                None if chunk.missing[r] else int(chunk.values[r]),
                "the image folder number is missing or negative",
                "Each row needs its part<N> folder number.",
                id_value=ids[r].decode("utf-8"),
            )
        for col in fmt.BIOSCAN1M_PARTITIONINGS:
            c = table.columns[col]
            unknown = sorted(set(c.categories) - {"train", "validation", "test", "no_split"})
            if unknown:
                r = int(np.flatnonzero(c.codes == c.categories.index(unknown[0]))[0])
                raise metadata_error(
                    path,
                    r,
                    col,
                    unknown[0],
                    "unknown partition name",
                    "Valid names are: train, validation, test, no_split.",
                    id_value=ids[r].decode("utf-8"),
                )

    def image_relpaths(self, table: Table, rows: np.ndarray) -> list[str]:
        files = table.columns["image_file"].values
        chunks = table.columns["chunk_number"].values
        return [f"part{int(chunks[r])}/{files[r].decode('utf-8')}" for r in rows]

    def explode(self, splits: str) -> list[str]:
        """Canonical ``"<partitioning>:<split>"`` tokens (plain names: large_diptera_family)."""
        out = set()
        for part in splits.split("+"):
            pv, _, name = part.strip().rpartition(":")
            pv = pv or "large_diptera_family"
            if pv not in PARTITIONING_VERSIONS:
                raise ValueError(
                    f"Invalid partitioning version: {pv!r}. Valid partitioning versions are: "
                    f"{', '.join(repr(s) for s in PARTITIONING_VERSIONS)}"
                )
            if name == "all":
                return ["all"]
            for s in explode_metasplit_1m(name, pv, verify=True):
                out.add(f"{pv}:{s}")
        return sorted(out)

    def rows_for_splits(self, table: Table, splits: str) -> np.ndarray:
        tokens = self.explode(splits)
        if tokens == ["all"]:
            return np.arange(table.n_rows, dtype=np.int64)
        mask = np.zeros(table.n_rows, dtype=bool)
        for tok in tokens:
            pv, name = tok.split(":")
            if pv == "clibd":
                if name in table.partitions:
                    mask[table.partitions[name]] = True
                continue
            col = table.columns[pv]
            if name in col.categories:
                mask |= col.codes == col.categories.index(name)
        return np.flatnonzero(mask)


BIOSCAN1M_LAYOUT = Bioscan1MLayout(
    schema=fmt.BIOSCAN1M,
    metadata_relpath="BIOSCAN_Insect_Dataset_metadata.tsv",
    sep="\t",
    path_columns=("sampleid", "image_file", "chunk_number", *fmt.BIOSCAN1M_PARTITIONINGS),
)


def split_rows_1m(store, split: str | None, partitioning_version: str) -> np.ndarray:
    """Rows of a BIOSCAN-1M split in ``bioscan-dataset``'s order.

    CLIBD splits named alone follow their partition file's order; ``+`` unions and the
    BIOSCAN-1M partitionings follow the metadata file's order.
    """
    pv = partitioning_version.lower()
    if pv not in PARTITIONING_VERSIONS:
        raise ValueError(
            f"Invalid partitioning version: {partitioning_version!r}."
            f" Valid partitioning versions are: {', '.join(repr(s) for s in PARTITIONING_VERSIONS)}"
        )
    if split is None or split == "all":
        return np.arange(store.n_rows, dtype=np.int64)
    if pv == "clibd":
        split = CLIBD_SPLIT_ALIASES.get(split, split)
        if fmt.PARTITIONS not in store.file:
            raise ValueError(
                f"clibd partitioning requested, but the store {store.path!r} holds no CLIBD partition files."
                " Put CLIBD_partitioning/ beside the metadata TSV and rebuild the store with --overwrite."
            )
        if "+" in split:
            wanted = explode_metasplit_1m(split, pv, verify=True)
            return store._rows_in("clibd_split", wanted)
        if split not in CLIBD_VALID_SPLITS + CLIBD_METASPLITS or split not in store.file[fmt.PARTITIONS]:
            valid = ", ".join(repr(s) for s in CLIBD_METASPLITS + CLIBD_VALID_SPLITS)
            raise ValueError(
                f"Invalid split value: {split!r}. Valid splits for partitioning version 'clibd' are: {valid}"
            )
        return np.asarray(store.file[fmt.partition_path(split)][()], dtype=np.int64)
    wanted = explode_metasplit_1m(split, pv, verify=True)
    return store._rows_in(pv, wanted)
