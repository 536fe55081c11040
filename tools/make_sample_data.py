#!/usr/bin/env python
"""Write tiny BIOSCAN-5M / BIOSCAN-1M shaped dataset roots, for ``make demo`` and the tests.

Command line::

    python tools/make_sample_data.py --out demo                     # BIOSCAN-5M, 320 rows
    python tools/make_sample_data.py --out /tmp/s --dataset both --packages all --overwrite
    python tools/make_sample_data.py --out /tmp/c --dataset canadian_invertebrates

From Python (the tests, with the repository root on the path: ``from tools import make_sample_data``)::

    info = make_sample_data.make_bioscan5m_root(tmp_path)          # the manifest, as a dict
    info = make_sample_data.make_bioscan1m_root(tmp_path, n_rows=120, packages="all")
    info = make_sample_data.make_canadian_invertebrates_root(tmp_path)   # DNA only, 300 rows

Layouts (the official ones, as read by ``bioscan-dataset`` 1.3.0)::

    <root>/bioscan5m/metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv
    <root>/bioscan5m/images/<package>/<split>/[<chunk>/]<processid>.jpg
    <root>/bioscan5m/SAMPLE_MANIFEST.json

    <root>/bioscan1m/BIOSCAN_Insect_Dataset_metadata.tsv
    <root>/bioscan1m/images/<package>/part<chunk_number>/<image_file>
    <root>/bioscan1m/CLIBD_partitioning/<split>.txt
    <root>/bioscan1m/SAMPLE_MANIFEST.json

    <root>/CanadianInvertebrates/CanInv_metadata.csv           (the peer's development branch)
    <root>/CanadianInvertebrates/SAMPLE_MANIFEST.json

Everything is derived from ``seed``: the same arguments give byte-identical files. The
metadata does not depend on ``packages`` or ``faults``, and each package's images do not
depend on which other packages are written.

Images are derived from the real BIOSCAN images in ``tools/sample_images/`` (CC BY-NC-SA 4.0,
see ``tools/sample_images/PROVENANCE.md``; the derived images carry the same licence) by
90/180 degree rotations (180 only for ``original_full``), flips, small crops, brightness
jitter and resizing, and saved as baseline JPEG, quality 75, 4:2:0, like the real packages.
Sizes: ``cropped_256`` 256 pixels high and 280-380 wide; ``original_256`` 341x256;
``cropped`` short side 500-700, long side up to 1.45 times that (about one in seven
portrait); ``original_full`` 1024x768 for both datasets. The real BIOSCAN-1M
``original_full`` images are 2880x2160, which would make a sample root tens of megabytes and
slow to write; 1024x768 (the BIOSCAN-5M size) keeps the layout without the bulk.

With ``faults=True`` some rows of the small evaluation splits (5M: ``val`` and ``test``;
1M: CLIBD ``val_seen`` and ``test_seen``, which are also ``validation`` / ``test`` in every
BIOSCAN-1M partition column) get a deliberately bad image file in every package written. The
manifest lists them; every other split is clean, so tests comparing with ``bioscan-dataset``
can use the clean splits or skip the listed rows. Kinds: ``zero_bytes``, ``truncated`` (the
first 40% of a JPEG), ``not_an_image`` (text), ``missing`` (no file) fail to decode;
``grayscale`` and ``cmyk`` JPEGs and ``png_named_jpg`` (a PNG under the ``.jpg`` name) decode
and become RGB after ``convert("RGB")``.

Note that ``bioscan_dataset.BIOSCAN5M`` / ``BIOSCAN1M`` check the metadata file's MD5 and a
few named image files, so they refuse a sample root unless ``_check_integrity`` is patched;
``load_bioscan5m_metadata`` / ``load_bioscan1m_metadata`` read it as is.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "CLIBD_FILES",
    "COLUMNS_1M",
    "COLUMNS_5M",
    "DECODABLE_FAULTS",
    "FAULT_KINDS",
    "MANIFEST_NAME",
    "PACKAGES",
    "PARTITION_COLUMNS_1M",
    "SPLITS_5M",
    "CLIBD_BASE_SPLITS",
    "CANINV_COLUMNS",
    "CANINV_SPLITS",
    "main",
    "make_bioscan1m_root",
    "make_bioscan5m_root",
    "make_canadian_invertebrates_root",
]

LOGGER = logging.getLogger("make_sample_data")

#: Image packages, in the order the manifest lists them.
PACKAGES: tuple[str, ...] = ("cropped_256", "original_256", "cropped", "original_full")
#: The name of the JSON manifest written into each dataset folder.
MANIFEST_NAME = "SAMPLE_MANIFEST.json"
#: Fault kinds, in the order they are assigned to rows.
FAULT_KINDS: tuple[str, ...] = (
    "zero_bytes",
    "truncated",
    "missing",
    "grayscale",
    "not_an_image",
    "cmyk",
    "png_named_jpg",
)
#: Fault kinds whose file still decodes (to RGB after ``convert("RGB")``).
DECODABLE_FAULTS = frozenset({"grayscale", "cmyk", "png_named_jpg"})

SPLITS_5M: tuple[str, ...] = (
    "pretrain",
    "train",
    "val",
    "test",
    "key_unseen",
    "val_unseen",
    "test_unseen",
    "other_heldout",
)
COLUMNS_5M: tuple[str, ...] = (
    "processid",
    "sampleid",
    "taxon",
    "phylum",
    "class",
    "order",
    "family",
    "subfamily",
    "genus",
    "species",
    "dna_bin",
    "dna_barcode",
    "country",
    "province_state",
    "coord-lat",
    "coord-lon",
    "image_measurement_value",
    "area_fraction",
    "scale_factor",
    "inferred_ranks",
    "split",
    "index_bioscan_1M_insect",
    "chunk",
)
PARTITION_COLUMNS_1M: tuple[str, ...] = (
    "large_diptera_family",
    "medium_diptera_family",
    "small_diptera_family",
    "large_insect_order",
    "medium_insect_order",
    "small_insect_order",
)
COLUMNS_1M: tuple[str, ...] = (
    "sampleid",
    "processid",
    "uri",
    "name",
    "phylum",
    "class",
    "order",
    "family",
    "subfamily",
    "tribe",
    "genus",
    "species",
    "subspecies",
    "nucraw",
    "image_file",
    *PARTITION_COLUMNS_1M,
    "chunk_number",
    "copyright_license",
    "copyright_holder",
    "copyright_institution",
    "copyright_contact",
    "photographer",
    "author",
)
#: The ten CLIBD partitions; every BIOSCAN-1M row is in exactly one.
CLIBD_BASE_SPLITS: tuple[str, ...] = (
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
_CLIBD_KEY_SPLITS = ("seen_keys", "val_unseen_keys", "test_unseen_keys")
#: All twelve CLIBD partition files (the ten partitions and two unions).
CLIBD_FILES: tuple[str, ...] = tuple(sorted((*CLIBD_BASE_SPLITS, "all_keys", "no_split_and_seen_train")))

NOT_CLASSIFIED = "not_classified"
_METADATA_5M = "metadata/csv/BIOSCAN_5M_Insect_Dataset_metadata.csv"
_METADATA_1M = "BIOSCAN_Insect_Dataset_metadata.tsv"
_SAMPLE_IMAGES = Path(__file__).resolve().parent / "sample_images"
_SPECIMENS = ("BIOUG68001-C12", "BIOUG68020-A01", "BIOUG68021-F12", "BIOUG68104-C02", "BIOUG68134-F03")
_FULL_SOURCES = ("Coleoptera", "Diptera", "Hemiptera", "Hymenoptera", "Lepidoptera", "Psocodea")
_DS_ID = {"bioscan5m": 5, "bioscan1m": 1}

# (split, share of rows, minimum rows); the first split of each plan takes the rest.
_PLAN_5M = (
    ("pretrain", 0.0, 8),
    ("train", 0.08, 8),
    ("val", 0.025, 8),
    ("test", 0.03, 8),
    ("key_unseen", 0.03, 8),
    ("val_unseen", 0.025, 8),
    ("test_unseen", 0.025, 8),
    ("other_heldout", 0.04, 8),
)
_PLAN_1M = (
    ("no_split", 0.0, 10),
    ("train_seen", 0.10, 8),
    ("seen_keys", 0.03, 5),
    ("single_species", 0.025, 5),
    ("val_seen", 0.035, 8),
    ("val_unseen", 0.03, 5),
    ("val_unseen_keys", 0.025, 5),
    ("test_seen", 0.04, 8),
    ("test_unseen", 0.03, 5),
    ("test_unseen_keys", 0.03, 5),
)
# Faulty rows: 4 in the first split, 3 in the second (each keeps at least 4 clean rows).
_FAULT_SPLITS = {"bioscan5m": ("val", "test"), "bioscan1m": ("val_seen", "test_seen")}

# ------------------------------------------------------------------------------ taxonomy


@dataclass(frozen=True)
class _Genus:
    """One genus of the sample taxonomy, with its relative abundance and known species."""

    weight: float
    klass: str
    order: str
    family: str
    subfamily: str  # "" where the genus has no subfamily
    tribe: str  # "" where the genus has no tribe
    genus: str
    species: tuple[str, ...]


def _g(weight: float, lineage: str, species: Sequence[str] = ()) -> _Genus:
    klass, order, family, subfamily, tribe, genus = lineage.split("/")
    return _Genus(weight, klass, order, family, subfamily, tribe, genus, tuple(species))


# class/order/family/subfamily/tribe/genus; relative weights roughly as in BIOSCAN (Diptera
# dominate). Labels include spaces, dots, placeholders and non-ASCII characters.
# fmt: off
_TAXONOMY: tuple[_Genus, ...] = (
    _g(14, "Insecta/Diptera/Cecidomyiidae/Cecidomyiinae/Cecidomyiini/Contarinia", ["Contarinia nasturtii", "Contarinia sp. 2GAB"]),
    _g(8, "Insecta/Diptera/Cecidomyiidae/Porricondylinae/Porricondylini/Porricondyla"),
    _g(5, "Insecta/Diptera/Cecidomyiidae/Lestremiinae/Lestremiini/Lestremia", ["Lestremia cinerea"]),
    _g(10, "Insecta/Diptera/Sciaridae///Bradysia", ["Bradysia impatiens", "Bradysia sp. BIOUG456"]),
    _g(6, "Insecta/Diptera/Sciaridae///Corynoptera", ["Corynoptera sp. 3ES"]),
    _g(12, "Insecta/Diptera/Phoridae/Metopininae/Metopinini/Megaselia", ["Megaselia scalaris", "Megaselia sp. BIOUG123", "Megaselia pleuralis", "Megaselia sp. 14"]),
    _g(3, "Insecta/Diptera/Phoridae/Phorinae/Phorini/Phora"),
    _g(8, "Insecta/Diptera/Chironomidae/Chironominae/Tanytarsini/Tanytarsus", ["Tanytarsus mendax", "Tanytarsus sp. 1ES"]),
    _g(4, "Insecta/Diptera/Chironomidae/Chironominae/Chironomini/Chironomus", ["Chironomus riparius"]),
    _g(5, "Insecta/Diptera/Chironomidae/Orthocladiinae//Smittia", ["Smittia sp. 2"]),
    _g(4, "Insecta/Diptera/Ceratopogonidae/Forcipomyiinae//Forcipomyia", ["Forcipomyia brevipennis"]),
    _g(4, "Insecta/Diptera/Ceratopogonidae/Ceratopogoninae/Culicoidini/Culicoides", ["Culicoides obsoletus", "Culicoides sp. 5"]),
    _g(3, "Insecta/Diptera/Psychodidae/Psychodinae/Psychodini/Psychoda", ["Psychoda alternata"]),
    _g(3, "Insecta/Diptera/Mycetophilidae/Mycetophilinae/Mycetophilini/Mycetophila", ["Mycetophila fungorum"]),
    _g(3, "Insecta/Diptera/Sphaeroceridae/Limosininae//Leptocera", ["Leptocera fontinalis"]),
    _g(2, "Insecta/Diptera/Drosophilidae/Drosophilinae/Drosophilini/Drosophila", ["Drosophila melanogaster", "Drosophila suzukii"]),
    _g(1, "Insecta/Diptera/Asteiidae//Asteiini/Asteia", ["Asteia concinna"]),
    _g(1, "Insecta/Diptera/Tachinidae/Exoristinae/Winthemiini/Nemorilla", ["Nemorilla pyste"]),
    _g(5, "Insecta/Hymenoptera/Braconidae/Microgastrinae//Apanteles", ["Apanteles sp. Rodriguez123"]),
    _g(3, "Insecta/Hymenoptera/Braconidae/Microgastrinae//Cotesia", ["Cotesia glomerata"]),
    _g(3, "Insecta/Hymenoptera/Braconidae/Opiinae/Opiini/Opius"),
    _g(3, "Insecta/Hymenoptera/Diapriidae/Diapriinae/Trichopriini/Trichopria", ["Trichopria sp. 3"]),
    _g(2, "Insecta/Hymenoptera/Platygastridae/Platygastrinae//Platygaster"),
    _g(1, "Insecta/Hymenoptera/Ormyridae///Ôrmyrus", ["Ôrmyrus nitidulus", "Ôrmyrus sp. É"]),
    _g(1, "Insecta/Hymenoptera/Formicidae/Ectatomminae/Ectatommini/Gnamptogenys", ["Gnamptogenys sulcata"]),
    _g(1, "Insecta/Hymenoptera/Formicidae/Myrmicinae/Attini/Pheidole", ["Pheidole dentata"]),
    _g(2, "Insecta/Coleoptera/Staphylinidae/Aleocharinae/Athetini/Atheta", ["Atheta fungi"]),
    _g(2, "Insecta/Coleoptera/Curculionidae/Scolytinae/Cryphalini/Hypothenemus", ["Hypothenemus hampei"]),
    _g(1, "Insecta/Coleoptera/Chrysomelidae/Galerucinae/Alticini/Phyllotreta", ["Phyllotreta striolata"]),
    _g(3, "Insecta/Hemiptera/Cicadellidae/Typhlocybinae/Empoascini/Empoasca", ["Empoasca fabae", "Empoasca sp. 1"]),
    _g(2, "Insecta/Hemiptera/Cicadellidae/Deltocephalinae/Balcluthini/Balclutha", ["Balclutha neglecta"]),
    _g(2, "Insecta/Hemiptera/Aphididae/Aphidinae/Aphidini/Aphis", ["Aphis gossypii"]),
    _g(1, "Insecta/Hemiptera/Aphrophoridae/Aphrophorinae/Philaenini/Philaenus", ["Philaenus spumarius"]),
    _g(2, "Insecta/Lepidoptera/Tortricidae/Olethreutinae/Eucosmini/Epinotia", ["Epinotia solandriana"]),
    _g(1, "Insecta/Lepidoptera/Gelechiidae/Gelechiinae/Gnorimoschemini/Chionodes", ["Chionodes mediofuscella"]),
    _g(1, "Insecta/Lepidoptera/Noctuidae/Noctuinae/Noctuini/Agrotis", ["Agrotis ipsilon"]),
    _g(2, "Insecta/Psocodea/Ectopsocidae///Ectopsocus", ["Ectopsocus meridionalis"]),
    _g(1, "Insecta/Psocodea/Lachesillidae/Lachesillinae//Lachesilla"),
    _g(2, "Insecta/Thysanoptera/Thripidae/Thripinae/Thripini/Frankliniella", ["Frankliniella occidentalis"]),
    _g(1, "Insecta/Trichoptera/Hydroptilidae/Hydroptilinae/Hydroptilini/Hydroptila", ["Hydroptila waubesiana"]),
    _g(1.5, "Arachnida/Araneae/Linyphiidae/Erigoninae//Erigone", ["Erigone dentosa"]),
    _g(1, "Arachnida/Trombidiformes/Eupodidae///Eupodes"),
    _g(1, "Arachnida/Sarcoptiformes/Oribatulidae///Zygoribatula"),
    _g(1.5, "Collembola/Entomobryomorpha/Entomobryidae/Entomobryinae//Entomobrya", ["Entomobrya nivalis"]),
    _g(1, "Collembola/Poduromorpha/Hypogastruridae///Hypogastrura"),
)
# fmt: on
# Always among the seen species, so they appear in every root (placeholders, non-ASCII).
_MUST_SEE = ("Megaselia sp. BIOUG123", "Bradysia impatiens", "Ôrmyrus sp. É", "Gnamptogenys sulcata")
# BIOSCAN-5M writes a placeholder subfamily for these families.
_SUBFAMILY_PLACEHOLDERS_5M = {"Sciaridae": "unassigned Sciaridae"}
# Depth of labelling for rows not labelled to species (5M pretrain, 1M no_split):
# 2 = order, 3 = family, 4 = subfamily, 5 = genus, 6 = species.
_DEPTH_PROBS = {2: 0.04, 3: 0.80, 4: 0.10, 5: 0.05, 6: 0.01}

# country, weight, ((province_state, lat, lon), ...)
# fmt: off
_COUNTRIES = (
    ("Canada", 0.46, (("Ontario", 43.9, -79.6), ("Québec", 46.8, -71.2), ("British Columbia", 49.3, -123.1), ("Yukon Territory", 60.7, -135.0))),
    ("Costa Rica", 0.20, (("Guanacaste", 10.8, -85.6), ("Alajuela", 10.9, -85.4), ("Puntarenas", 8.9, -83.4))),
    ("South Africa", 0.08, (("Western Cape", -33.9, 18.9), ("KwaZulu-Natal", -28.7, 31.0))),
    ("Pakistan", 0.06, (("Punjab", 31.5, 74.3),)),
    ("Kenya", 0.04, (("Kakamega", 0.28, 34.75),)),
    ("Thailand", 0.04, (("Chiang Mai", 18.8, 98.98),)),
    ("Brazil", 0.04, (("São Paulo", -23.5, -46.6),)),
    ("Finland", 0.03, (("Uusimaa", 60.2, 24.9),)),
    ("Malaysia", 0.03, (("Sabah", 5.4, 116.8),)),
    ("Bonaire, Sint Eustatius and Saba", 0.02, (("Bonaire", 12.15, -68.27),)),
)
# fmt: on
_PROJECTS_5M = ("AACTA", "YGEN", "ABOTH", "BCMIN", "YDBB", "ABSSI", "GMOND", "CNGSB", "BBDIT", "UPCCB")
_PROJECTS_1M = ("GMOND", "GMOUB", "BBLOD", "CNKOB", "GMCMO", "BSCAN", "AACTA")
_CHUNK_NUMBERS_1M = (1, 2, 3, 17, 56, 113)


@dataclass
class _Row:
    """The hidden truth of one sample, and what the metadata file says about it."""

    split: str
    entry: _Genus
    species: str  # the true species ("" for a genus without named species)
    hidden: int  # which unnamed species of the genus (for BIN assignment)
    depth: int  # labelled down to: 0 phylum ... 5 genus, 6 species
    bin: str = ""
    specimen: int = 0
    full_source: int = 0


# ------------------------------------------------------------------------------ helpers


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _allocate(n_rows: int, plan: Sequence[tuple[str, float, int]], dataset: str) -> dict[str, int]:
    """Rows per split: ``max(minimum, share * n_rows)``; the first split takes the rest."""
    minimum = sum(m for _, _, m in plan)
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)) or n_rows < minimum:
        raise ValueError(
            f"n_rows={n_rows!r} is too small for a {dataset} sample root: it needs at least {minimum} rows"
            f" (at least {', '.join(f'{m} {s}' for s, _, m in plan)})."
        )
    sizes = {name: max(m, round(share * n_rows)) for name, share, m in plan[1:]}
    first, _, first_min = plan[0]
    sizes[first] = int(n_rows) - sum(sizes.values())
    if sizes[first] < first_min:  # only for odd plans; keep the message useful
        raise ValueError(f"n_rows={n_rows!r} leaves {sizes[first]} rows for {first!r}; use more rows.")
    return {name: sizes[name] for name, _, _ in plan}


def _interleave(rng: np.random.Generator, sizes: dict[str, int]) -> list[str]:
    """Split labels in a shuffled file order (splits are interleaved in real metadata files)."""
    labels = [name for name, k in sizes.items() for _ in range(k)]
    return [labels[i] for i in rng.permutation(len(labels))]


def _normalise_packages(packages: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(packages, str):
        packages = (
            PACKAGES if packages.strip() == "all" else [p.strip() for p in packages.split(",") if p.strip()]
        )
    wanted = list(packages)
    bad = [p for p in wanted if p not in PACKAGES]
    if bad or not wanted:
        raise ValueError(
            f"Invalid image package(s) {bad or wanted!r}. Valid packages: {', '.join(PACKAGES)} (or 'all')."
        )
    return tuple(p for p in PACKAGES if p in wanted)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}.")
    return int(seed)


def _prepare_dir(ds_dir: Path, overwrite: bool) -> None:
    if ds_dir.exists() and (not ds_dir.is_dir() or any(ds_dir.iterdir())):
        if not overwrite:
            raise FileExistsError(
                f"{str(ds_dir)!r} already exists and is not empty; pass overwrite=True to replace it."
            )
        if ds_dir.is_dir():
            shutil.rmtree(ds_dir)
        else:
            ds_dir.unlink()
    ds_dir.mkdir(parents=True, exist_ok=True)


def _unique(rng: np.random.Generator, n: int, make: Callable[[np.random.Generator], str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        value = make(rng)
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def _bioug_sampleid(rng: np.random.Generator) -> str:
    well = f"{'ABCDEFGH'[rng.integers(8)]}{int(rng.integers(1, 13)):02d}"
    if rng.random() < 0.8:
        return f"BIOUG{int(rng.integers(10000, 100000))}-{well}"
    return f"CCDB-{int(rng.integers(10000, 100000))}-{well}"


def _processid(projects: Sequence[str], years: tuple[int, int]) -> Callable[[np.random.Generator], str]:
    def make(rng: np.random.Generator) -> str:
        project = projects[int(rng.integers(len(projects)))]
        return f"{project}{int(rng.integers(1, 20000))}-{int(rng.integers(*years))}"

    return make


def _fmt_float(value: float) -> str:
    """Shortest text that reads back as exactly ``value`` ("" for NaN)."""
    return "" if value != value else repr(float(value))


# ------------------------------------------------------------------------------ taxonomy sampling


def _taxonomy(dataset: str) -> tuple[_Genus, ...]:
    # BIOSCAN-1M holds insects only.
    return tuple(g for g in _TAXONOMY if dataset == "bioscan5m" or g.klass == "Insecta")


def _species_pools(
    rng: np.random.Generator, taxonomy: Sequence[_Genus], shares: Sequence[float]
) -> list[list[str]]:
    """Partition the named species into disjoint pools (seen, unseen, ...); pool 0 gets ``_MUST_SEE``."""
    names = [s for g in taxonomy for s in g.species if s not in _MUST_SEE]
    names = [names[i] for i in rng.permutation(len(names))]
    pools: list[list[str]] = []
    start = 0
    for k, share in enumerate(shares):
        stop = len(names) if k == len(shares) - 1 else start + round(share * len(names))
        pools.append(names[start:stop])
        start = stop
    pools[0] = [s for s in _MUST_SEE if any(s in g.species for g in taxonomy)] + pools[0]
    return pools


def _assign_species(rng: np.random.Generator, n: int, pool: Sequence[str], cyclic: bool) -> list[str]:
    """Species for ``n`` rows: the pool in turn (so all of it appears), or random picks."""
    if cyclic:
        return [pool[k % len(pool)] for k in range(n)]
    return [pool[int(rng.integers(len(pool)))] for _ in range(n)]


def _build_rows(
    rng: np.random.Generator,
    splits: list[str],
    taxonomy: Sequence[_Genus],
    species_of_split: dict[str, list[str]],
    unlabelled_split: str,
    placeholder_split: str | None = None,
) -> list[_Row]:
    """Draw the true taxon of every row and how deep it is labelled.

    Rows of ``unlabelled_split`` are labelled to a random depth (mostly family); rows of
    ``placeholder_split`` get a new placeholder species each; the others take their species,
    in turn, from ``species_of_split``.
    """
    by_species = {s: g for g in taxonomy for s in g.species}
    weights = np.array([g.weight for g in taxonomy], dtype=float)
    weights /= weights.sum()
    depths = np.array(list(_DEPTH_PROBS))
    depth_p = np.array(list(_DEPTH_PROBS.values()))
    rows: list[_Row] = []
    cursor = dict.fromkeys(species_of_split, 0)
    n_placeholders = 0
    for split in splits:
        if split == placeholder_split:
            entry = taxonomy[int(rng.choice(len(taxonomy), p=weights))]
            n_placeholders += 1
            rows.append(_Row(split, entry, f"{entry.genus} sp. BIOUG{9000 + n_placeholders}", 0, 6))
        elif split == unlabelled_split:
            entry = taxonomy[int(rng.choice(len(taxonomy), p=weights))]
            named = bool(entry.species) and rng.random() < 0.6
            species = entry.species[int(rng.integers(len(entry.species)))] if named else ""
            depth = int(rng.choice(depths, p=depth_p))
            if depth == 6 and not species:
                depth = 5
            rows.append(_Row(split, entry, species, int(rng.integers(3)), depth))
        else:
            species = species_of_split[split][cursor[split]]
            cursor[split] += 1
            rows.append(_Row(split, by_species[species], species, 0, 6))
    return rows


def _labels(row: _Row, dataset: str) -> dict[str, str]:
    """The metadata's label columns for a row ("" = missing)."""
    e, d = row.entry, row.depth
    subfamily = e.subfamily
    if dataset == "bioscan5m" and not subfamily:
        subfamily = _SUBFAMILY_PLACEHOLDERS_5M.get(e.family, "")
    return {
        "phylum": "Arthropoda",
        "class": e.klass if d >= 1 else "",
        "order": e.order if d >= 2 else "",
        "family": e.family if d >= 3 else "",
        "subfamily": subfamily if d >= 4 else "",
        "tribe": e.tribe if d >= 5 else "",
        "genus": e.genus if d >= 5 else "",
        "species": row.species if d >= 6 else "",
    }


def _assign_bins(rng: np.random.Generator, rows: list[_Row]) -> None:
    """Give each row a BOLD BIN: one or two per named species, three per genus for the unnamed."""
    bins_of: dict[tuple[str, str], list[str]] = {}
    used: set[str] = set()
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def new_bin() -> str:
        while True:
            code = (
                f"BOLD:A{letters[rng.integers(26)]}{letters[rng.integers(26)]}{int(rng.integers(10000)):04d}"
            )
            if code not in used:
                used.add(code)
                return code

    for row in rows:
        key = (row.entry.genus, row.species or f"#{row.hidden}")
        if key not in bins_of:
            bins_of[key] = [new_bin() for _ in range(2 if row.species and rng.random() < 0.15 else 1)]
        choices = bins_of[key]
        row.bin = choices[int(rng.integers(len(choices)))]


def _assign_image_sources(rng: np.random.Generator, rows: list[_Row]) -> None:
    """Pick the real image each row's pictures are derived from (matching the order where we can)."""
    for row in rows:
        order = row.entry.order
        if order == "Hymenoptera":
            row.specimen = 4
        elif order == "Diptera":
            row.specimen = int(rng.integers(4))
        else:
            row.specimen = int(rng.integers(len(_SPECIMENS)))
        row.full_source = (
            _FULL_SOURCES.index(order) if order in _FULL_SOURCES else int(rng.integers(len(_FULL_SOURCES)))
        )


# ------------------------------------------------------------------------------ barcodes

_ACGT = np.frombuffer(b"ACGT", dtype=np.uint8)
_IUPAC = np.frombuffer(b"RYKMSWBDHV", dtype=np.uint8)
_N = ord("N")
_COI_P = (0.30, 0.16, 0.17, 0.37)  # COI is AT-rich
#: Barcode edge cases recorded in the manifest's ``barcode_cases``.
BARCODE_CASES = (
    "interior_n",
    "trailing_n",
    "iupac",
    "gap",
    "long",
    "short",
    "duplicate_exact",
    "duplicate_trailing_n",
    "duplicate_beyond_660",
    "missing",
)


def _make_barcodes(
    rng: np.random.Generator, bins: Sequence[str], missing_candidates: Sequence[int], n_missing: int
) -> tuple[list[str], dict[str, list]]:
    """Barcodes: one ~660 bp base per BIN with a few point mutations per row, plus edge cases.

    Returns the barcodes ("" = missing) and the rows of each case; duplicate cases are lists
    of ``[source_row, duplicate_row]`` pairs.
    """
    n = len(bins)
    bases: dict[str, np.ndarray] = {}
    seqs: list[np.ndarray] = []
    lengths: list[int] = []
    for b in bins:
        if b not in bases:
            bases[b] = _ACGT[rng.choice(4, size=1000, p=_COI_P)]
        seq = bases[b].copy()
        n_mut = int(rng.binomial(660, 0.004))
        seq[rng.integers(0, 1000, size=n_mut)] = _ACGT[rng.integers(0, 4, size=n_mut)]
        seqs.append(seq)
        lengths.append(658 if rng.random() < 0.7 else int(rng.integers(650, 661)))

    # Duplicate pairs, within a BIN where possible (as in the real data).
    first_of: dict[str, int] = {}
    pairs: list[tuple[int, int]] = []
    for i, b in enumerate(bins):
        if b in first_of:
            pairs.append((first_of[b], i))
        else:
            first_of[b] = i
    pairs = [pairs[k] for k in rng.permutation(len(pairs))]
    counts = {
        "duplicate_beyond_660": max(2, round(0.02 * n)),
        "duplicate_trailing_n": max(2, round(0.02 * n)),
        "duplicate_exact": max(3, round(0.10 * n)),
    }
    cases: dict[str, list] = {k: [] for k in BARCODE_CASES}
    targets: set[int] = set()
    sources: set[int] = set()
    long_sources: set[int] = set()
    for kind, count in counts.items():
        while len(cases[kind]) < count:
            if pairs:
                src, dup = pairs.pop()
            else:  # too few shared BINs: pair any two rows
                free = [i for i in range(n) if i not in targets]
                src, dup = free[0], free[int(rng.integers(1, len(free)))]
            if src in targets or dup in targets or dup in sources or src == dup:
                continue  # a row is either a source or a duplicate, never both
            cases[kind].append([src, dup])
            targets.add(dup)
            sources.add(src)
            if kind == "duplicate_beyond_660":
                long_sources.add(src)

    # Edge cases on rows that are not duplicates of another row.
    free = [i for i in rng.permutation(n) if i not in targets and i not in long_sources]
    edge_counts = {
        "long": max(2, round(0.02 * n)),
        "short": max(2, round(0.02 * n)),
        "interior_n": max(2, round(0.04 * n)),
        "trailing_n": max(2, round(0.03 * n)),
        "iupac": max(2, round(0.02 * n)),
        "gap": max(1, round(0.006 * n)),
    }
    for kind, count in edge_counts.items():
        cases[kind], free = sorted(int(i) for i in free[:count]), free[count:]
    for i in [*cases["long"], *sorted(long_sources)]:
        lengths[i] = int(rng.integers(700, 1001))
    for i in cases["short"]:
        lengths[i] = int(rng.integers(180, 261))
    for i in cases["interior_n"]:
        if rng.random() < 0.5:
            pos = rng.integers(30, lengths[i] - 30, size=int(rng.integers(1, 5)))
            seqs[i][pos] = _N
        else:
            start = int(rng.integers(30, lengths[i] - 40))
            seqs[i][start : start + int(rng.integers(2, 6))] = _N
    for i in cases["trailing_n"]:
        run = int(rng.integers(2, 41))
        seqs[i][lengths[i] - run : lengths[i]] = _N
    for i in cases["iupac"]:
        k = int(rng.integers(1, 4))
        seqs[i][rng.integers(10, lengths[i] - 10, size=k)] = _IUPAC[rng.integers(0, len(_IUPAC), size=k)]
    for i in cases["gap"]:
        start = int(rng.integers(100, lengths[i] - 100))
        seqs[i][start : start + int(rng.integers(1, 4))] = ord("-")

    out = [seqs[i][: lengths[i]].tobytes().decode("ascii") for i in range(n)]
    for src, dup in cases["duplicate_exact"]:
        out[dup] = out[src]
    for src, dup in cases["duplicate_trailing_n"]:
        out[dup] = out[src].rstrip("N") + "N" * int(rng.integers(2, 9))
    for src, dup in cases["duplicate_beyond_660"]:
        tail = _ACGT[rng.choice(4, size=int(rng.integers(60, 301)), p=_COI_P)].tobytes().decode("ascii")
        if out[src][660 : 660 + len(tail)] == tail:  # vanishingly unlikely; keep the case honest
            tail = tail[::-1] + "A"
        out[dup] = out[src][:660] + tail
    for kind in counts:
        cases[kind].sort()

    special = targets | sources | {i for k in edge_counts for i in cases[k]}
    missing = [i for i in missing_candidates if i not in special][:n_missing]
    for i in missing:
        out[i] = ""
    cases["missing"] = sorted(missing)
    return out, cases


# ------------------------------------------------------------------------------ images


@cache
def _source_image(package: str, index: int) -> Image.Image:
    """A real BIOSCAN image to derive from, at the scale the package is cut at.

    ``cropped`` windows are cut from the full-size originals decoded at half size (1440x1080),
    ``original_full`` ones from the same resized to 1100x825; both without resampling.
    """
    if package == "cropped_256":
        path = _SAMPLE_IMAGES / f"cropped_resized_{_SPECIMENS[index]}.jpg"
    elif package == "original_256":
        path = _SAMPLE_IMAGES / f"{_SPECIMENS[index]}.jpg"
    else:
        path = _SAMPLE_IMAGES / "original_full" / f"{_FULL_SOURCES[index]}.jpg"
    with Image.open(path) as im:
        if package in ("cropped", "original_full"):
            im.draft("RGB", (im.width // 2, im.height // 2))
        im = im.convert("RGB")
    if package == "original_full":
        im = im.resize((1100, 825), Image.Resampling.BILINEAR)
    return im


def _target_size(package: str, rng: np.random.Generator) -> tuple[int, int]:
    if package == "cropped_256":
        return int(rng.integers(280, 381)), 256
    if package == "original_256":
        return 341, 256
    if package == "original_full":
        return 1024, 768
    short = int(rng.integers(500, 701))
    long = round(short * rng.uniform(1.05, 1.45))
    return (short, long) if rng.random() < 0.15 else (long, short)


# package: (zoom range relative to the largest window of the target's aspect, centre jitter);
# zoom None: cut the window at the source's own scale.
_FRAMING = {
    "cropped_256": ((0.86, 1.0), 1.0),
    "original_256": ((0.9, 1.0), 1.0),
    "cropped": (None, 0.25),
    "original_full": (None, 1.0),
}
_ROTATIONS = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)


def _render(package: str, source: int, rng: np.random.Generator) -> Image.Image:
    """Derive one sample image: cut a window (resized to the target), rotate / flip, jitter brightness.

    The window has the aspect the output has before rotation, so only the small result is
    rotated. ``original_full`` images are only turned by 180 degrees (the camera's frame is
    always landscape).
    """
    im = _source_image(package, source)
    rotation_p = (0.75, 0.0, 0.25, 0.0) if package == "original_full" else (0.6, 0.08, 0.24, 0.08)
    rotation = _ROTATIONS[int(rng.choice(4, p=rotation_p))]
    flips = [
        flip
        for flip, p in ((Image.Transpose.FLIP_LEFT_RIGHT, 0.5), (Image.Transpose.FLIP_TOP_BOTTOM, 0.2))
        if rng.random() < p
    ]
    tw, th = _target_size(package, rng)
    if rotation in (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270):
        tw, th = th, tw
    zoom, jitter = _FRAMING[package]
    w, h = im.size
    if zoom is None:
        x0 = round((w - tw) / 2 * (1 + jitter * rng.uniform(-1, 1)))
        y0 = round((h - th) / 2 * (1 + jitter * rng.uniform(-1, 1)))
        im = im.crop((x0, y0, x0 + tw, y0 + th))
    else:
        scale = min(w / tw, h / th) * rng.uniform(*zoom)
        cw, ch = tw * scale, th * scale
        x0 = (w - cw) / 2 * (1 + jitter * rng.uniform(-1, 1))
        y0 = (h - ch) / 2 * (1 + jitter * rng.uniform(-1, 1))
        im = im.resize((tw, th), Image.Resampling.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
    for op in (rotation, *flips):
        if op is not None:
            im = im.transpose(op)
    gain = rng.uniform(0.9, 1.1)
    lut = np.minimum(np.rint(np.arange(256) * gain), 255).astype(int).tolist()
    return im.point(lut * 3)


def _encode(im: Image.Image, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        im.save(buf, format="PNG", compress_level=1)
    elif im.mode == "RGB":
        im.save(buf, format="JPEG", quality=75, subsampling="4:2:0", optimize=False, progressive=False)
    else:  # grayscale / CMYK: no chroma subsampling to choose
        im.save(buf, format="JPEG", quality=75, optimize=False, progressive=False)
    return buf.getvalue()


def _fault_bytes(kind: str, im: Image.Image) -> bytes | None:
    """The file content for a faulty row (``None``: write no file)."""
    if kind == "zero_bytes":
        return b""
    if kind == "truncated":
        data = _encode(im)
        return data[: int(len(data) * 0.4)]
    if kind == "not_an_image":
        return b"not an image: deliberate fault written by tools/make_sample_data.py\n"
    if kind == "missing":
        return None
    if kind == "grayscale":
        return _encode(im.convert("L"))
    if kind == "cmyk":
        return _encode(im.convert("CMYK"))
    if kind == "png_named_jpg":
        return _encode(im, "PNG")
    raise ValueError(f"Unknown fault kind {kind!r}; valid kinds: {', '.join(FAULT_KINDS)}.")


def _write_images(
    ds_dir: Path,
    dataset: str,
    seed: int,
    packages: Sequence[str],
    rows: Sequence[_Row],
    rel_paths: Sequence[str],
    faults: dict[int, str],
) -> dict[str, list[list[int] | None]]:
    """Write every package's images; return each package's (width, height) per row (None: bad)."""
    sizes: dict[str, list[list[int] | None]] = {}
    made_dirs: set[Path] = set()
    for package in packages:
        pkg_id = PACKAGES.index(package)
        pkg_sizes: list[list[int] | None] = []
        for i, (row, rel) in enumerate(zip(rows, rel_paths)):
            source = row.specimen if package in ("cropped_256", "original_256") else row.full_source
            im = _render(package, source, _rng(seed, _DS_ID[dataset], 10 + pkg_id, i))
            kind = faults.get(i)
            data = _encode(im) if kind is None else _fault_bytes(kind, im)
            ok = kind is None or kind in DECODABLE_FAULTS
            pkg_sizes.append([im.width, im.height] if ok else None)
            path = ds_dir / "images" / package / rel
            if path.parent not in made_dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
                made_dirs.add(path.parent)
            if data is not None:
                path.write_bytes(data)
        sizes[package] = pkg_sizes
    return sizes


def _choose_faults(rng: np.random.Generator, dataset: str, splits: Sequence[str]) -> dict[int, str]:
    first, second = _FAULT_SPLITS[dataset]
    out: dict[int, str] = {}
    kinds = iter(FAULT_KINDS)
    for split, k in ((first, 4), (second, 3)):
        candidates = [i for i, s in enumerate(splits) if s == split]
        for i in sorted(int(candidates[j]) for j in rng.permutation(len(candidates))[:k]):
            out[i] = next(kinds)
    return out


def _fault_records(
    faults: dict[int, str],
    packages: Sequence[str],
    dataset: str,
    rows,
    rel_paths,
    ids: Sequence[tuple[str, str]],
) -> list[dict[str, Any]]:
    records = []
    for i in sorted(faults):
        for package in packages:
            records.append(
                {
                    "row": i,
                    "processid": ids[i][0],
                    "sampleid": ids[i][1],
                    "split": rows[i].split,
                    "package": package,
                    "path": f"{dataset}/images/{package}/{rel_paths[i]}",
                    "kind": faults[i],
                    "decodes": faults[i] in DECODABLE_FAULTS,
                }
            )
    return records


def _write_manifest(ds_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    (ds_dir / MANIFEST_NAME).write_text(text, encoding="utf-8")
    return json.loads(text)


def _write_table(
    path: Path, columns: Sequence[str], records: Iterable[Sequence[str]], delimiter: str
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(columns)
        writer.writerows(records)


def _geography(rng: np.random.Generator, n_rows: int, forced: Sequence[int]) -> list[list[Any]]:
    """Country, province / state, latitude and longitude per row ("" and NaN where missing).

    The five ``forced`` rows get, in turn: a country that needs CSV quoting, two non-ASCII
    provinces, no country (nor province), no coordinates.
    """
    country_p = np.array([c[1] for c in _COUNTRIES])
    places = [
        (name, province, lat, lon) for name, _, provinces in _COUNTRIES for province, lat, lon in provinces
    ]
    geo: list[list[Any]] = []
    for _ in range(n_rows):
        name, _, provinces = _COUNTRIES[int(rng.choice(len(_COUNTRIES), p=country_p / country_p.sum()))]
        province, lat, lon = provinces[int(rng.integers(len(provinces)))]
        geo.append([name, province, lat, lon])
    for i, want in zip(forced, ("Bonaire, Sint Eustatius and Saba", "Québec", "São Paulo")):
        geo[i] = list(next(p for p in places if want in p[:2]))
    for i, row in enumerate(geo):
        row[2] = round(row[2] + rng.normal(0, 0.3), 4)
        row[3] = round(row[3] + rng.normal(0, 0.3), 4)
        r = 1.0 if i in forced[:3] else rng.random()
        if r < 0.01 or i == forced[3]:
            row[0] = row[1] = ""
        elif r < 0.09:
            row[1] = ""
        if rng.random() < 0.04 or i == forced[4]:
            row[2] = row[3] = float("nan")
    return geo


# ------------------------------------------------------------------------------ BIOSCAN-5M


def make_bioscan5m_root(
    root: str | Path,
    n_rows: int = 320,
    seed: int = 0,
    packages: str | Iterable[str] = ("cropped_256",),
    faults: bool = True,
    *,
    missing_barcodes: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a small BIOSCAN-5M root under ``<root>/bioscan5m`` in the official layout.

    Parameters
    ----------
    root : str or pathlib.Path
        The dataset root (the ``root`` argument of ``BIOSCAN5M``); created if needed.
    n_rows : int, default=320
        Number of metadata rows (at least 64: every one of the eight splits gets 8 or more).
    seed : int, default=0
        Seed for everything; the same arguments give byte-identical files.
    packages : str or iterable of str, default=("cropped_256",)
        Image packages to write: any of ``"cropped_256"``, ``"original_256"``, ``"cropped"``,
        ``"original_full"``, or ``"all"`` (a comma-separated string also works).
    faults : bool, default=True
        Whether to give seven rows of ``val`` (4) and ``test`` (3) a bad image file.
    missing_barcodes : int, default=0
        Number of ``pretrain`` rows to give an empty ``dna_barcode``.
    overwrite : bool, default=False
        Replace an existing non-empty ``<root>/bioscan5m``; otherwise raise ``FileExistsError``.

    Returns
    -------
    dict
        The manifest, also written to ``<root>/bioscan5m/SAMPLE_MANIFEST.json``: ``n_rows``,
        ``rows_per_split``, ``packages``, ``faults`` (one record per faulty row and package:
        ``row``, ``processid``, ``sampleid``, ``split``, ``package``, ``path`` relative to
        ``root``, ``kind``, ``decodes``), ``faulty_rows``, ``undecodable_rows``,
        ``clean_splits``, ``barcode_cases`` and ``image_sizes`` (per package, ``[width,
        height]`` per row, ``None`` where the file is bad or missing).
    """
    dataset = "bioscan5m"
    seed = _check_seed(seed)
    packages = _normalise_packages(packages)
    sizes = _allocate(n_rows, _PLAN_5M, dataset)
    ds_dir = Path(root) / dataset
    _prepare_dir(ds_dir, overwrite)

    rng = _rng(seed, 5, 0)
    splits = _interleave(rng, sizes)
    taxonomy = _taxonomy(dataset)
    seen, unseen, heldout = _species_pools(rng, taxonomy, (0.45, 0.35, 0.20))
    species_of_split = {}
    for pool, main, others in (
        (seen, "train", ("val", "test")),
        (unseen, "key_unseen", ("val_unseen", "test_unseen")),
        (heldout, "other_heldout", ()),
    ):
        species_of_split[main] = _assign_species(rng, sizes[main], pool, cyclic=True)
        for split in others:
            species_of_split[split] = _assign_species(rng, sizes[split], pool, cyclic=False)
    rows = _build_rows(rng, splits, taxonomy, species_of_split, "pretrain")
    pretrain = [i for i, s in enumerate(splits) if s == "pretrain"]
    pretrain = [pretrain[k] for k in rng.permutation(len(pretrain))]
    rows[pretrain[0]].depth = 0  # class unknown (real: class 99.9% labelled)
    rows[pretrain[1]].depth = 1  # order unknown
    _assign_bins(rng, rows)
    _assign_image_sources(rng, rows)

    processids = _unique(rng, n_rows, _processid(_PROJECTS_5M, (19, 24)))
    sampleids = _unique(rng, n_rows, _bioug_sampleid)

    # Geography, measurements and the rest, with gaps (some forced, so every root has them).
    everyone = [int(i) for i in rng.permutation(n_rows)]
    geo = _geography(rng, n_rows, everyone[:5])
    measurement = [float(round(rng.lognormal(10.5, 1.0))) for _ in range(n_rows)]
    for i in range(n_rows):
        if rng.random() < 0.01 or i == everyone[5]:
            measurement[i] = float("nan")
    area_fraction = [round(float(rng.uniform(0.002, 0.3)), 6) for _ in range(n_rows)]
    scale_factor = [round(float(rng.uniform(0.12, 0.6)), 6) for _ in range(n_rows)]
    inferred = rng.choice(8, size=n_rows, p=(0.6, 0.12, 0.08, 0.06, 0.05, 0.04, 0.03, 0.02))
    in_1m = rng.random(n_rows) < 0.2
    index_1m = rng.choice(1_128_313, size=n_rows, replace=False)
    bin_missing = (rng.random(n_rows) < 0.01) | (np.arange(n_rows) == everyone[6])

    barcodes, barcode_cases = _make_barcodes(
        _rng(seed, 5, 2), [r.bin for r in rows], pretrain[::-1], missing_barcodes
    )

    chunks, rel_paths, records = [], [], []
    for i, row in enumerate(rows):
        pid = processids[i]
        digest = hashlib.md5(pid.encode("utf-8")).hexdigest()
        chunk = (
            digest[:2]
            if row.split == "pretrain"
            else digest[:1]
            if row.split in ("train", "other_heldout")
            else ""
        )
        chunks.append(chunk)
        rel_paths.append(f"{row.split}/{chunk}/{pid}.jpg" if chunk else f"{row.split}/{pid}.jpg")
        lab = _labels(row, dataset)
        ranks = ("phylum", "class", "order", "family", "subfamily", "genus", "species")
        taxon = [lab[r] for r in ranks if lab[r]][-1]
        lat, lon = geo[i][2], geo[i][3]
        records.append(
            [
                pid,
                sampleids[i],
                taxon,
                *(lab[r] for r in ranks),
                "" if bin_missing[i] else row.bin,
                barcodes[i],
                geo[i][0],
                geo[i][1],
                _fmt_float(lat),
                _fmt_float(lon),
                _fmt_float(measurement[i]),
                _fmt_float(area_fraction[i]),
                _fmt_float(scale_factor[i]),
                str(int(inferred[i])),
                row.split,
                f"{int(index_1m[i])}.0" if in_1m[i] else "",
                chunk,
            ]
        )
    _write_table(ds_dir / _METADATA_5M, COLUMNS_5M, records, ",")

    fault_rows = _choose_faults(_rng(seed, 5, 3), dataset, splits) if faults else {}
    image_sizes = _write_images(ds_dir, dataset, seed, packages, rows, rel_paths, fault_rows)
    ids = list(zip(processids, sampleids))
    manifest = {
        "dataset": dataset,
        "generator": "tools/make_sample_data.py",
        "seed": seed,
        "n_rows": n_rows,
        "metadata": f"{dataset}/{_METADATA_5M}",
        "image_dir": f"{dataset}/images/<package>/<split>/[<chunk>/]<processid>.jpg",
        "packages": list(packages),
        "rows_per_split": sizes,
        "faults_enabled": bool(faults),
        "faults": _fault_records(fault_rows, packages, dataset, rows, rel_paths, ids),
        "faulty_rows": sorted(fault_rows),
        "undecodable_rows": sorted(i for i, k in fault_rows.items() if k not in DECODABLE_FAULTS),
        "clean_splits": [s for s in SPLITS_5M if not any(rows[i].split == s for i in fault_rows)],
        "barcode_cases": barcode_cases,
        "image_sizes": image_sizes,
    }
    return _write_manifest(ds_dir, manifest)


# ------------------------------------------------------------------------------ BIOSCAN-1M


def _partition_column(rng: np.random.Generator, groups: Sequence[str], keep: int | None) -> list[str]:
    """One BIOSCAN-1M partition column: rows of the ``keep`` biggest groups are split 70/10/20."""
    counts: dict[str, int] = {}
    for g in groups:
        if g:
            counts[g] = counts.get(g, 0) + 1
    ranked = sorted(counts, key=lambda g: (-counts[g], g))
    kept = set(ranked if keep is None else ranked[:keep])
    out = []
    for g in groups:
        if g in kept:
            out.append(("train", "validation", "test")[int(rng.choice(3, p=(0.7, 0.1, 0.2)))])
        else:
            out.append("no_split")
    eligible = [i for i, g in enumerate(groups) if g in kept]
    for k, name in enumerate(("train", "validation", "test")):  # never leave a split empty
        if len(eligible) >= 3 and name not in out:
            out[eligible[k]] = name
    return out


_RANKS_1M = ("phylum", "class", "order", "family", "subfamily", "tribe", "genus", "species", "subspecies")
_TRIBE_FIXES_1M = ("Asteia", "Nemorilla", "Philaenus")  # genera whose tribe the peer overwrites


def _sampleids_1m(rng: np.random.Generator, splits: Sequence[str], numeric: Sequence[int]) -> list[str]:
    """Sample ids, about 6% of them numeric ("5351601"), always including the ``numeric`` rows.

    The peer reads CLIBD partition files without dtypes: a file of numeric ids only would be
    read as int64 and fail to merge, so every partition keeps a non-numeric id.
    """
    ids = _unique(
        rng,
        len(splits),
        lambda r: str(int(r.integers(1_000_000, 10_000_000))) if r.random() < 0.06 else _bioug_sampleid(r),
    )
    taken = set(ids)
    for k, i in enumerate(numeric):
        if not ids[i].isdigit():
            ids[i] = next(v for v in (str(5351601 + 1000 * k + j) for j in range(1000)) if v not in taken)
            taken.add(ids[i])
    for split in CLIBD_BASE_SPLITS:
        members = [i for i, s in enumerate(splits) if s == split and i not in numeric]
        if all(ids[i].isdigit() for i in members):
            ids[members[0]] = next(
                v for v in (f"BIOUG{100000 + j}-A01" for j in range(1000)) if v not in taken
            )
            taken.add(ids[members[0]])
    return ids


def _raw_labels_1m(
    rng: np.random.Generator, rows: Sequence[_Row], no_split: Sequence[int], train_seen: Sequence[int]
) -> tuple[list[dict[str, str]], dict[str, list[int]]]:
    """BIOSCAN-1M label columns ("" = not_classified), with the gaps the peer's loader fills.

    ``no_split[:6]`` are the forced rows of genera Asteia, Nemorilla, Philaenus, Bradysia,
    Tanytarsus and Culicoides. Returns the labels and, per fix of ``load_bioscan1m_metadata``,
    the rows it applies to.
    """
    subfamily_dropped = {no_split[5]}  # Culicoides: subfamily missing, tribe present
    genus_dropped = set(train_seen[1:3])  # species known, genus not
    raw: list[dict[str, str]] = []
    for i, row in enumerate(rows):
        lab = _labels(row, "bioscan1m")
        if lab["genus"] and lab["tribe"] and i not in subfamily_dropped:
            if rng.random() < 0.4 or i == no_split[4]:
                lab["tribe"] = ""  # tribes are often unrecorded
        if lab["genus"] in _TRIBE_FIXES_1M:
            lab["tribe"] = "Eryciini" if i == no_split[1] else ""  # a wrong tribe (Nemorilla), or none
        if i in subfamily_dropped:
            lab["subfamily"] = ""
        if i in genus_dropped:
            lab["genus"] = lab["tribe"] = ""
        lab["subspecies"] = ""
        raw.append(lab)
    for i in train_seen:  # one nominotypical subspecies ("Aphis gossypii gossypii")
        if raw[i]["genus"] and " sp. " not in raw[i]["species"]:
            raw[i]["subspecies"] = f"{raw[i]['species']} {raw[i]['species'].split(' ')[-1]}"
            break

    # Which rows each fix applies to, in the peer's order: tribe fixes (on the genus as
    # written), genus from species, tribe placeholders, subfamily placeholders.
    cases: dict[str, list[int]] = {f"tribe_{g.lower()}": [] for g in _TRIBE_FIXES_1M}
    cases |= {k: [] for k in ("genus_from_species", "tribe_from_subfamily", "tribe_from_family")}
    cases["subfamily_placeholder"] = []
    for i, lab in enumerate(raw):
        tribe = lab["tribe"]
        if lab["genus"] in _TRIBE_FIXES_1M:
            cases[f"tribe_{lab['genus'].lower()}"].append(i)
            tribe = "fixed"
        genus = lab["genus"] or lab["species"].split(" ")[0]
        if lab["species"] and not lab["genus"]:
            cases["genus_from_species"].append(i)
        if genus and not tribe:
            cases["tribe_from_subfamily" if lab["subfamily"] else "tribe_from_family"].append(i)
            tribe = "placeholder"
        if not lab["subfamily"] and tribe:
            cases["subfamily_placeholder"].append(i)
    return raw, cases


def make_bioscan1m_root(
    root: str | Path,
    n_rows: int = 240,
    seed: int = 0,
    packages: str | Iterable[str] = ("cropped_256",),
    faults: bool = True,
    *,
    missing_barcodes: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a small BIOSCAN-1M root under ``<root>/bioscan1m``, with CLIBD partition files.

    Images go to ``images/<package>/part<chunk_number>/<processid>.jpg``. The
    ``original_full`` images are 1024x768, not the real 2880x2160 (too big for a sample).

    Parameters
    ----------
    root : str or pathlib.Path
        The dataset root (the ``root`` argument of ``BIOSCAN1M``); created if needed.
    n_rows : int, default=240
        Number of metadata rows (at least 64, so every CLIBD partition has rows).
    seed : int, default=0
        Seed for everything; the same arguments give byte-identical files.
    packages : str or iterable of str, default=("cropped_256",)
        Image packages to write (see :func:`make_bioscan5m_root`).
    faults : bool, default=True
        Whether to give seven rows of CLIBD ``val_seen`` (4) and ``test_seen`` (3) a bad image
        file; those rows are ``validation`` / ``test`` in every partition column, so ``train``
        and ``no_split`` stay clean under every partitioning.
    missing_barcodes : int, default=0
        Number of ``no_split`` rows to give an empty ``nucraw``.
    overwrite : bool, default=False
        Replace an existing non-empty ``<root>/bioscan1m``; otherwise raise ``FileExistsError``.

    Returns
    -------
    dict
        The manifest (see :func:`make_bioscan5m_root`), also written to
        ``<root>/bioscan1m/SAMPLE_MANIFEST.json``. ``rows_per_split`` counts the ten CLIBD
        partitions; ``clibd_files`` the lines of each partition file; ``rows_per_partition``
        each partition column; ``label_fix_cases`` the rows exercising each metadata fix of
        ``load_bioscan1m_metadata``.
    """
    dataset = "bioscan1m"
    seed = _check_seed(seed)
    packages = _normalise_packages(packages)
    sizes = _allocate(n_rows, _PLAN_1M, dataset)
    ds_dir = Path(root) / dataset
    _prepare_dir(ds_dir, overwrite)

    rng = _rng(seed, 1, 0)
    splits = _interleave(rng, sizes)
    taxonomy = _taxonomy(dataset)
    seen, val_unseen, test_unseen = _species_pools(rng, taxonomy, (0.5, 0.25, 0.25))
    species_of_split = {
        "train_seen": _assign_species(rng, sizes["train_seen"], seen, cyclic=True),
        "seen_keys": _assign_species(rng, sizes["seen_keys"], seen, cyclic=True),
        "val_seen": _assign_species(rng, sizes["val_seen"], seen, cyclic=False),
        "test_seen": _assign_species(rng, sizes["test_seen"], seen, cyclic=False),
        "val_unseen_keys": _assign_species(rng, sizes["val_unseen_keys"], val_unseen, cyclic=True),
        "val_unseen": _assign_species(rng, sizes["val_unseen"], val_unseen, cyclic=False),
        "test_unseen_keys": _assign_species(rng, sizes["test_unseen_keys"], test_unseen, cyclic=True),
        "test_unseen": _assign_species(rng, sizes["test_unseen"], test_unseen, cyclic=False),
    }
    # single_species: one sample each of otherwise unused placeholder species.
    rows = _build_rows(rng, splits, taxonomy, species_of_split, "no_split", "single_species")

    # Rows exercising each fix load_bioscan1m_metadata applies (raw values set further down).
    no_split = [i for i, s in enumerate(splits) if s == "no_split"]
    no_split = [no_split[k] for k in rng.permutation(len(no_split))]
    by_genus = {g.genus: g for g in taxonomy}
    forced_no_split = ("Asteia", "Nemorilla", "Philaenus", "Bradysia", "Tanytarsus", "Culicoides")
    for genus, i in zip(forced_no_split, no_split):
        rows[i] = _Row("no_split", by_genus[genus], "", 0, 5)
    rows[no_split[6]].depth = 0  # class unknown
    rows[no_split[7]].depth = 1  # order unknown
    _assign_bins(rng, rows)
    _assign_image_sources(rng, rows)

    processids = _unique(rng, n_rows, _processid(_PROJECTS_1M, (19, 22)))
    sampleids = _sampleids_1m(rng, splits, numeric=[no_split[8], splits.index("train_seen")])
    train_seen = [i for i, s in enumerate(splits) if s == "train_seen"]
    raw, fix_cases = _raw_labels_1m(rng, rows, no_split, train_seen)

    barcodes, barcode_cases = _make_barcodes(
        _rng(seed, 1, 2), [r.bin for r in rows], no_split[::-1], missing_barcodes
    )
    fault_candidates = _choose_faults(_rng(seed, 1, 3), dataset, splits)  # drawn even without faults
    fault_rows = fault_candidates if faults else {}

    part_rng = _rng(seed, 1, 4)
    orders = [lab["order"] for lab in raw]
    families = [lab["family"] if lab["order"] == "Diptera" else "" for lab in raw]
    partitions = {
        "large_diptera_family": _partition_column(part_rng, families, None),
        "medium_diptera_family": _partition_column(part_rng, families, 5),
        "small_diptera_family": _partition_column(part_rng, families, 3),
        "large_insect_order": _partition_column(part_rng, orders, None),
        "medium_insect_order": _partition_column(part_rng, orders, 4),
        "small_insect_order": _partition_column(part_rng, orders, 2),
    }
    for column in partitions.values():  # rows that may be faulty never land in train / no_split
        for i in fault_candidates:
            column[i] = "validation" if splits[i] == "val_seen" else "test"

    chunk_numbers = rng.choice(_CHUNK_NUMBERS_1M, size=n_rows, p=(0.3, 0.25, 0.2, 0.1, 0.1, 0.05))
    bin_missing = (rng.random(n_rows) < 0.01) | (np.arange(n_rows) == no_split[9])
    photographers = ("CBG Robotic Imager", "CBG Photography Group")
    nc = NOT_CLASSIFIED
    rel_paths, records = [], []
    for i, row in enumerate(rows):
        lab = raw[i]
        image_file = f"{processids[i]}.jpg"
        rel_paths.append(f"part{int(chunk_numbers[i])}/{image_file}")
        name = next(
            lab[r]
            for r in ("species", "genus", "tribe", "subfamily", "family", "order", "class", "phylum")
            if lab[r]
        )
        records.append(
            [
                sampleids[i],
                processids[i],
                nc if bin_missing[i] else row.bin,
                name,
                *(lab[r] or nc for r in _RANKS_1M),
                barcodes[i],
                image_file,
                *(partitions[c][i] for c in PARTITION_COLUMNS_1M),
                str(int(chunk_numbers[i])),
                "CreativeCommons - Attribution Non-Commercial Share-Alike",
                "CBG Photography Group",
                "Centre for Biodiversity Genomics",
                "ccdbcol@uoguelph.ca",
                photographers[int(i % 17 == 0)],
                "BIOSCAN",
            ]
        )
    _write_table(ds_dir / _METADATA_1M, COLUMNS_1M, records, "\t")

    # CLIBD partition files, each in its own shuffled order (not the TSV's).
    file_rng = _rng(seed, 1, 5)
    members = {s: [i for i, x in enumerate(splits) if x == s] for s in CLIBD_BASE_SPLITS}
    members["all_keys"] = [i for s in _CLIBD_KEY_SPLITS for i in members[s]]
    members["no_split_and_seen_train"] = members["no_split"] + members["train_seen"]
    clibd_dir = ds_dir / "CLIBD_partitioning"
    clibd_dir.mkdir()
    for name in CLIBD_FILES:
        rows_in = [members[name][k] for k in file_rng.permutation(len(members[name]))]
        (clibd_dir / f"{name}.txt").write_text(
            "".join(f"{sampleids[i]}\n" for i in rows_in), encoding="utf-8"
        )

    image_sizes = _write_images(ds_dir, dataset, seed, packages, rows, rel_paths, fault_rows)
    ids = list(zip(processids, sampleids))
    manifest = {
        "dataset": dataset,
        "generator": "tools/make_sample_data.py",
        "seed": seed,
        "n_rows": n_rows,
        "metadata": f"{dataset}/{_METADATA_1M}",
        "image_dir": f"{dataset}/images/<package>/part<chunk_number>/<image_file>",
        "packages": list(packages),
        "rows_per_split": sizes,
        "clibd_files": {name: len(members[name]) for name in CLIBD_FILES},
        "rows_per_partition": {
            c: {p: partitions[c].count(p) for p in ("train", "validation", "test", "no_split")}
            for c in PARTITION_COLUMNS_1M
        },
        "faults_enabled": bool(faults),
        "faults": _fault_records(fault_rows, packages, dataset, rows, rel_paths, ids),
        "faulty_rows": sorted(fault_rows),
        "undecodable_rows": sorted(i for i, k in fault_rows.items() if k not in DECODABLE_FAULTS),
        "clean_splits": [s for s in CLIBD_BASE_SPLITS if not any(rows[i].split == s for i in fault_rows)],
        "label_fix_cases": fix_cases,
        "barcode_cases": barcode_cases,
        "image_sizes": image_sizes,
    }
    return _write_manifest(ds_dir, manifest)


# ------------------------------------------------------------------------------ Canadian Invertebrates

#: Splits of Canadian Invertebrates (bioscan-dataset's development branch).
CANINV_SPLITS: tuple[str, ...] = ("pretrain", "train", "val", "test", "test_unseen")
#: Columns of ``CanInv_metadata.csv``, in order.
CANINV_COLUMNS: tuple[str, ...] = (
    "processid",
    "sampleid",
    "dna_bin",
    "phylum",
    "class",
    "order",
    "family",
    "genus",
    "species",
    "dna_barcode",
    "sequence_len",
    "split",
)
_METADATA_CANINV = "CanInv_metadata.csv"
_PLAN_CANINV = (
    ("pretrain", 0.0, 10),
    ("train", 0.12, 10),
    ("val", 0.04, 8),
    ("test", 0.05, 8),
    ("test_unseen", 0.05, 8),
)
# Invertebrates beyond the BIOSCAN insects: crustaceans, molluscs, worms, centipedes.
# fmt: off
_CANINV_TAXA: tuple[_Genus, ...] = (
    _g(3, "Malacostraca/Isopoda/Oniscidae///Oniscus", ["Oniscus asellus"]),
    _g(3, "Branchiopoda/Anomopoda/Daphniidae///Daphnia", ["Daphnia pulex", "Daphnia magna"]),
    _g(2, "Gastropoda/Stylommatophora/Helicidae///Cepaea", ["Cepaea nemoralis"]),
    _g(2, "Clitellata/Crassiclitellata/Lumbricidae///Lumbricus", ["Lumbricus terrestris"]),
    _g(1, "Bivalvia/Sphaeriida/Sphaeriidae///Pisidium", ["Pisidium casertanum"]),
    _g(1, "Chilopoda/Lithobiomorpha/Lithobiidae///Lithobius", ["Lithobius forficatus"]),
)
# fmt: on
_PHYLUM_OF_CLASS = {"Gastropoda": "Mollusca", "Bivalvia": "Mollusca", "Clitellata": "Annelida"}
_PROJECTS_CANINV = ("BBCCM", "BBHYL", "CNWBA", "SMTPB", "BBARA", "GBMIN")


def _labels_caninv(row: _Row) -> dict[str, str]:
    """The label columns of a Canadian Invertebrates row ("" = missing)."""
    e, d = row.entry, row.depth
    return {
        "phylum": _PHYLUM_OF_CLASS.get(e.klass, "Arthropoda"),
        "class": e.klass if d >= 1 else "",
        "order": e.order if d >= 2 else "",
        "family": e.family if d >= 3 else "",
        "genus": e.genus if d >= 5 else "",
        "species": row.species if d >= 6 else "",
    }


def make_canadian_invertebrates_root(
    root: str | Path, n_rows: int = 300, seed: int = 0, *, missing_barcodes: int = 0, overwrite: bool = False
) -> dict[str, Any]:
    """Write a small Canadian Invertebrates root: ``<root>/CanadianInvertebrates/CanInv_metadata.csv``.

    A DNA-only dataset (barcodes and taxonomy, no images), as read by the development branch of
    bioscan-dataset. Like the real file, it holds one row per full-length barcode: barcodes
    may still repeat once cut to 660 letters or stripped of trailing N.

    Parameters
    ----------
    root : str or pathlib.Path
        The dataset root (the ``root`` argument of ``CanadianInvertebrates``).
    n_rows : int, default=300
        Number of rows (at least 44).
    seed : int, default=0
    missing_barcodes : int, default=0
        Number of ``pretrain`` rows to give an empty ``dna_barcode``.
    overwrite : bool, default=False
        Replace an existing non-empty ``<root>/CanadianInvertebrates``.

    Returns
    -------
    dict
        The manifest, also written to ``<root>/CanadianInvertebrates/SAMPLE_MANIFEST.json``:
        ``n_rows``, ``rows_per_split``, ``barcode_cases`` (``duplicate_exact`` is empty:
        those pairs differ by trailing Ns, see ``duplicate_trailing_n``) and ``species``
        (the seen and unseen pools).
    """
    dataset = "canadian_invertebrates"
    seed = _check_seed(seed)
    sizes = _allocate(n_rows, _PLAN_CANINV, dataset)
    ds_dir = Path(root) / "CanadianInvertebrates"
    _prepare_dir(ds_dir, overwrite)

    rng = _rng(seed, 7, 0)
    splits = _interleave(rng, sizes)
    taxonomy = (*_TAXONOMY, *_CANINV_TAXA)
    seen, unseen = _species_pools(rng, taxonomy, (0.7, 0.3))
    species_of_split = {
        "train": _assign_species(rng, sizes["train"], seen, cyclic=True),
        "val": _assign_species(rng, sizes["val"], seen, cyclic=False),
        "test": _assign_species(rng, sizes["test"], seen, cyclic=False),
        "test_unseen": _assign_species(rng, sizes["test_unseen"], unseen, cyclic=True),
    }
    rows = _build_rows(rng, splits, taxonomy, species_of_split, "pretrain")
    _assign_bins(rng, rows)
    processids = _unique(rng, n_rows, _processid(_PROJECTS_CANINV, (10, 20)))
    sampleids = _unique(rng, n_rows, _bioug_sampleid)
    pretrain = [i for i, sp in enumerate(splits) if sp == "pretrain"]
    barcodes, cases = _make_barcodes(
        _rng(seed, 7, 2), [r.bin for r in rows], pretrain[::-1], missing_barcodes
    )
    # one row per full-length barcode: exact repeats become repeats up to trailing Ns
    seen_barcodes: set[str] = set()
    for i, barcode in enumerate(barcodes):
        while barcode and barcode in seen_barcodes:
            barcode += "N"
        seen_barcodes.add(barcode)
        barcodes[i] = barcode
    cases["duplicate_trailing_n"] = sorted(cases["duplicate_trailing_n"] + cases["duplicate_exact"])
    cases["duplicate_exact"] = []
    bin_missing = (rng.random(n_rows) < 0.01) | (np.arange(n_rows) == pretrain[0])
    records = []
    for i, row in enumerate(rows):
        lab = _labels_caninv(row)
        records.append(
            [
                processids[i],
                sampleids[i],
                "" if bin_missing[i] else row.bin,
                *(lab[r] for r in ("phylum", "class", "order", "family", "genus", "species")),
                barcodes[i],
                f"{float(len(barcodes[i]))}" if barcodes[i] else "",
                row.split,
            ]
        )
    _write_table(ds_dir / _METADATA_CANINV, CANINV_COLUMNS, records, ",")
    manifest = {
        "dataset": dataset,
        "generator": "tools/make_sample_data.py",
        "seed": seed,
        "n_rows": n_rows,
        "metadata": f"CanadianInvertebrates/{_METADATA_CANINV}",
        "rows_per_split": sizes,
        "barcode_cases": cases,
        "species": {"seen": list(seen), "unseen": list(unseen)},
    }
    return _write_manifest(ds_dir, manifest)


# ------------------------------------------------------------------------------ CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line tool; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="make_sample_data.py",
        description="Write tiny BIOSCAN-5M / BIOSCAN-1M shaped dataset roots (metadata, images, manifest).",
    )
    parser.add_argument("--out", required=True, type=Path, help="dataset root to write into")
    parser.add_argument(
        "--dataset", choices=("bioscan5m", "bioscan1m", "both", "canadian_invertebrates"), default="bioscan5m"
    )
    parser.add_argument(
        "--rows", type=int, default=None, help="rows per dataset (default: 320 for 5M, 240 for 1M)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--packages",
        default="cropped_256",
        help=f"comma-separated image packages, or 'all' (valid: {', '.join(PACKAGES)}; default: cropped_256)",
    )
    parser.add_argument("--no-faults", action="store_true", help="write no deliberately bad image files")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty --out, replacing only the dataset folders written",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    try:
        packages = _normalise_packages(args.packages)
    except ValueError as exc:
        parser.error(str(exc))
    datasets = ("bioscan5m", "bioscan1m") if args.dataset == "both" else (args.dataset,)
    out: Path = args.out
    if out.exists() and not out.is_dir():
        parser.error(f"--out {str(out)!r} exists and is not a directory.")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        LOGGER.error(
            "Refusing to write into non-empty directory %r; pass --overwrite to replace %s there.",
            str(out),
            " and ".join(datasets),
        )
        return 2
    makers = {"bioscan5m": make_bioscan5m_root, "bioscan1m": make_bioscan1m_root}
    for dataset in datasets:
        kwargs = {} if args.rows is None else {"n_rows": args.rows}
        if dataset in makers:  # the image datasets
            kwargs.update(packages=packages, faults=not args.no_faults)
        try:
            info = makers.get(dataset, make_canadian_invertebrates_root)(
                out, seed=args.seed, overwrite=args.overwrite, **kwargs
            )
        except ValueError as exc:
            parser.error(str(exc))
        splits = ", ".join(f"{s} {k}" for s, k in info["rows_per_split"].items())
        LOGGER.info(
            "Wrote %s: %d rows (%s); packages %s; %d faulty rows -> %s",
            dataset,
            info["n_rows"],
            splits,
            ",".join(info.get("packages", [])) or "none (DNA only)",
            len(info.get("faulty_rows", [])),
            out / Path(info["metadata"]).parts[0],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
