"""Checks a store passes when it is opened: format, version, attributes, completeness, shapes, links.

Each check is cheap (attributes and dataset headers, no array contents); the contents of
code arrays are checked on first use (:mod:`.ranges`). HDF5 lets a dataset declare any shape,
so every dataset's storage is checked against the file's size (:func:`check_storage`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import h5py
import numpy as np

from .. import format as fmt
from ..errors import (
    REBUILD,
    InvalidArgumentError,
    StoreFormatError,
    StoreIncompleteError,
    StoreVersionError,
    rebuild_hint,
)
from ..layouts import SCHEMAS, get_layout
from ..pixels import DEFAULT_KIND, codec_of

__all__ = [
    "StoreHeader",
    "attr_value",
    "check_attributes",
    "check_identity",
    "check_storage",
    "column_order",
    "read_header",
]


@dataclass(frozen=True)
class StoreHeader:
    """What opening a store establishes: its root attributes and the values derived from them."""

    attrs: dict
    dataset: str
    schema: fmt.DatasetSchema
    n_rows: int
    image_size: int


def attr_value(v):
    """An HDF5 attribute value as a plain Python value (bytes decoded, numpy scalars unwrapped)."""
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def read_header(f: h5py.File, path: str, allow_incomplete: bool) -> StoreHeader:
    """Validate an open file as a store and return its header (raising what
    :func:`~bioscan_h5.store.open_store` documents)."""
    a = {k: attr_value(v) for k, v in f.attrs.items()}
    check_identity(a, path)
    check_attributes(a, path)
    _check_complete(a, path, allow_incomplete)
    dataset = a[fmt.ATTR_DATASET]
    _check_split_names(a, dataset, path)
    if not SCHEMAS[dataset].has_images:  # a DNA-only dataset's store: no image package, raw
        for name, valid in ((fmt.ATTR_IMAGE_PACKAGE, ""), (fmt.ATTR_PIXELS, DEFAULT_KIND)):
            if name in a and a[name] != valid:
                raise StoreFormatError(
                    f"{path!r} is damaged: its {name!r} attribute is {a[name]!r}, but {dataset} has no"
                    f" images (expected {valid!r}). {REBUILD}"
                )
    header = StoreHeader(
        attrs=a,
        dataset=dataset,
        schema=SCHEMAS[dataset],
        n_rows=a[fmt.ATTR_N_ROWS],
        image_size=a[fmt.ATTR_IMAGE_SIZE],
    )
    if fmt.COLUMNS in f and len(f[fmt.COLUMNS]) > fmt.MAX_COLUMNS:
        raise StoreFormatError(
            f"{path!r} is damaged: it holds {len(f[fmt.COLUMNS])} metadata columns, more than the"
            f" {fmt.MAX_COLUMNS} a store may have. {REBUILD}"
        )
    found = check_links(f, path)
    seen = {name: (d, d.dtype, d.shape) for name, d in found.items()}
    _check_datasets(seen, f, path, header)
    check_storage(f, path, header, seen)
    return header


def _describe(spec: fmt.AttrSpec) -> str:
    """What a valid value of an attribute looks like, for messages."""
    if spec.choices:
        return "one of " + ", ".join(map(repr, spec.choices))
    if spec.type == "json":
        return f"JSON text holding a {'list' if spec.json_type is list else 'mapping'}"
    if spec.type == "int":
        bounds = [
            f">= {spec.minimum}" if spec.minimum is not None else "",
            f"<= {spec.maximum}" if spec.maximum is not None else "",
        ]
        return " ".join(["an integer", " and ".join(b for b in bounds if b)]).strip()
    return {"str": "a string", "bool": "a boolean (True or False)"}[spec.type]


def _valid(spec: fmt.AttrSpec, value) -> bool:
    if spec.type == "bool":
        return isinstance(value, bool)
    if spec.type == "str" or spec.type == "json":
        if not isinstance(value, str):
            return False
        if spec.type == "json":
            try:
                return spec.json_type is not None and isinstance(json.loads(value), spec.json_type)
            except ValueError:
                return False
        return not spec.choices or value in spec.choices
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    low = spec.minimum if spec.minimum is not None else value
    high = spec.maximum if spec.maximum is not None else value
    return low <= value <= high and (not spec.choices or value in spec.choices)


def check_attributes(attrs: dict, path: str) -> None:
    """Raise :class:`StoreFormatError` for a root attribute missing or off :data:`bioscan_h5.format.ATTR_SCHEMA`."""
    for name, spec in fmt.ATTR_SCHEMA.items():
        if name not in attrs:
            if spec.required:
                raise StoreFormatError(f"{path!r} is damaged: its {name!r} attribute is missing. {REBUILD}")
            continue
        if not _valid(spec, attrs[name]):
            raise StoreFormatError(
                f"{path!r} is damaged: its {name!r} attribute is {attrs[name]!r}, expected {_describe(spec)}."
                f" {REBUILD}"
            )


def _check_split_names(a: dict, dataset: str, path: str) -> None:
    """The splits whose images the store holds must be split names of its dataset."""
    built = json.loads(a.get(fmt.ATTR_SPLITS_BUILT, "[]"))
    try:
        if not isinstance(built, list) or not all(isinstance(s, str) for s in built):
            raise InvalidArgumentError("not a list of names")
        if built:
            get_layout(dataset).explode("+".join(built))
    except InvalidArgumentError:
        raise StoreFormatError(
            f"{path!r} is damaged: its {fmt.ATTR_SPLITS_BUILT!r} attribute is {built!r}, which are not"
            f" split names of {dataset}. {REBUILD}"
        ) from None


def check_identity(a: dict, path: str) -> None:
    """Refuse what is not a bioscan-h5 store of a format version this package reads, or of a known dataset."""
    if a.get(fmt.ATTR_FORMAT) != fmt.FORMAT_NAME:
        raise StoreFormatError(
            f"{path!r} is an HDF5 file but not a bioscan-h5 store (its 'format' attribute is"
            f" {a.get(fmt.ATTR_FORMAT)!r}, expected {fmt.FORMAT_NAME!r}). Build a store with `bioscan-h5 build`."
        )
    version = a.get(fmt.ATTR_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StoreFormatError(f"{path!r} has an invalid format version {version!r}. {REBUILD}")
    if version > fmt.FORMAT_VERSION:
        raise StoreVersionError(
            f"{path!r} was written in store format version {version}, but this bioscan-h5 reads"
            f" versions up to {fmt.FORMAT_VERSION}. Upgrade bioscan-h5 (pip install -U bioscan-h5)."
        )
    if version < fmt.FORMAT_VERSION:
        raise StoreVersionError(
            f"{path!r} was written in store format version {version}, which this bioscan-h5 no longer reads"
            f" (it reads version {fmt.FORMAT_VERSION}). {rebuild_hint('(the same arguments as the first build)')}"
        )
    if a.get(fmt.ATTR_DATASET) not in SCHEMAS:
        raise StoreFormatError(f"{path!r} holds an unknown dataset {a.get(fmt.ATTR_DATASET)!r}. {REBUILD}")


def _check_complete(a: dict, path: str, allow_incomplete: bool) -> None:
    if not a.get(fmt.ATTR_COMPLETE, False) and not allow_incomplete:
        raise StoreIncompleteError(
            f"{path!r} is incomplete: its build has not finished. Rerun the same `bioscan-h5 build`"
            " command to finish it (or pass allow_incomplete=True to inspect it)."
        )


def _check_datasets(seen: dict, f: h5py.File, path: str, header: StoreHeader) -> None:
    expected = fmt.expected_datasets(header.schema, header.n_rows, header.image_size)
    if fmt.IMAGES in expected:  # the pixel kind's own datasets
        del expected[fmt.IMAGES]
        kind = codec_of(header.attrs, path)
        expected.update(
            kind.datasets(header.n_rows, header.image_size, bool(header.attrs.get(fmt.ATTR_COMPLETE)))
        )
    content = json.loads(header.attrs.get(fmt.ATTR_BUILD_ARGS, "{}"))
    if content.get("full_barcodes") and content.get("max_nucleotides") is not None:
        expected.update(fmt.expected_tail_datasets(header.n_rows))
    for name, (kind, shape) in expected.items():
        _check_dataset(seen, path, name, kind, shape)
    _check_columns(seen, f, path, header)
    width = header.attrs[fmt.ATTR_MAX_NUCLEOTIDES]
    if width >= 0 and seen[fmt.DNA_CODES][2][1] != width:
        raise StoreFormatError(
            f"{path!r} is damaged: its barcodes are {seen[fmt.DNA_CODES][2][1]} letters wide but its"
            f" 'max_nucleotides' attribute says {width}. {REBUILD}"
        )


def _check_dataset(seen: dict, path: str, name: str, kind: str, shape: tuple) -> None:
    if name not in seen:
        raise StoreFormatError(f"{path!r} is damaged: the dataset {name!r} is missing. {REBUILD}")
    _, dtype, have = seen[name]
    ok_kind = dtype.kind == kind[0] if kind != "O" else h5py.check_string_dtype(dtype) is not None
    if kind not in ("S", "O") and dtype.itemsize != int(kind[1]):
        ok_kind = False
    ok_shape = len(have) == len(shape) and all(s is None or s == t for s, t in zip(shape, have))
    if not (ok_kind and ok_shape):
        raise StoreFormatError(
            f"{path!r} is damaged: dataset {name!r} has dtype {dtype} and shape {have},"
            f" expected {kind} and {tuple('any' if s is None else s for s in shape)}. {REBUILD}"
        )


def _check_columns(seen: dict, f: h5py.File, path: str, header: StoreHeader) -> None:
    """Each column group: a known kind (the schema's, for the schema's columns) and its parts."""
    known = {c.name: c.kind for c in header.schema.columns}
    valid = [k.value for k in fmt.Kind]
    for name, group in f[fmt.COLUMNS].items() if fmt.COLUMNS in f else ():
        kind = attr_value(group.attrs.get(fmt.ATTR_KIND)) if isinstance(group, h5py.Group) else None
        if kind not in valid or (name in known and kind != known[name].value):
            expected = repr(known[name].value) if name in known else "one of " + ", ".join(map(repr, valid))
            raise StoreFormatError(
                f"{path!r} is damaged: column {name!r} is stored as kind {kind!r}, expected {expected}. {REBUILD}"
            )
        for part, code in fmt.COLUMN_PARTS[fmt.Kind(kind)].items():
            shape = (None,) if code == "O" else (header.n_rows,)
            _check_dataset(seen, path, fmt.column_path(name, part), code, shape)


def check_links(group: h5py.Group, path: str, found: dict | None = None) -> dict[str, h5py.Dataset]:
    """Every dataset under ``group`` by its path (no leading ``/``), opened once; links and data outside the file refused."""
    found = {} if found is None else found
    for key in group:
        link = group.get(key, getlink=True)
        where = f"{group.name.rstrip('/')}/{key}"
        if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
            raise StoreFormatError(
                f"{path!r} contains a link {where!r} ({type(link).__name__}); a store keeps all its data inside the"
                f" file. It was not written by bioscan-h5. {REBUILD}"
            )
        obj = group[key]
        if isinstance(obj, h5py.Group):
            check_links(obj, path, found)
        elif isinstance(obj, h5py.Dataset):
            if obj.is_virtual or obj.external:
                raise StoreFormatError(
                    f"{path!r}: dataset {where!r} reads data from outside the file (virtual or external storage);"
                    f" a store keeps all its data inside the file. {REBUILD}"
                )
            found[where.lstrip("/")] = obj
    return found


def column_order(attrs: dict, stored: list[str], barcode_column: str, path: str) -> list[str]:
    """The stored metadata columns in source-file order (the ``source_columns`` attribute, checked)."""
    if fmt.ATTR_SOURCE_COLUMNS not in attrs:
        return stored
    order = json.loads(attrs[fmt.ATTR_SOURCE_COLUMNS])
    if not isinstance(order, list) or set(order) != {*stored, barcode_column}:
        raise StoreFormatError(
            f"{path!r} is damaged: its {fmt.ATTR_SOURCE_COLUMNS!r} attribute does not name the stored"
            f" columns. {REBUILD}"
        )
    return [c for c in order if c != barcode_column]


def check_storage(f: h5py.File, path: str, header: StoreHeader, seen: dict) -> None:
    """Refuse a store whose datasets declare more than the file holds (a :class:`StoreFormatError`).

    A contiguous dataset must have all its declared bytes allocated inside the file; an
    uncompressed chunked one may declare no more than the file's size, a compressed one only
    chunks under HDF5's 4 GiB. Every per-row array but the pixels is contiguous (so ``n_rows``
    is bounded by the file), and a vocabulary has at most one category per row. ``seen`` is
    :func:`read_header`'s ``{path: (dataset, dtype, shape)}``.
    """
    size = os.fstat(f.id.get_vfd_handle()).st_size
    for name, (dset, dtype, shape) in seen.items():
        _check_one(name, dset, dtype, shape, size, path)
    per_row = set(fmt.expected_datasets(header.schema, header.n_rows, header.image_size)) - {fmt.IMAGES}
    for name in sorted(per_row):
        if seen[name][0].id.get_create_plist().get_layout() != h5py.h5d.CONTIGUOUS:
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} is chunked; a store keeps it in one contiguous"
                f" block. {REBUILD}"
            )
    for name, (_, _, shape) in seen.items():
        if name.startswith(fmt.COLUMNS + "/") and name.endswith("/categories") and shape[0] > header.n_rows:
            raise StoreFormatError(
                f"{path!r} is damaged: {name!r} declares {shape[0]} categories for {header.n_rows} rows"
                f" (a category is only kept when a row holds it). {REBUILD}"
            )


def _check_one(name: str, dset: h5py.Dataset, dtype, shape: tuple, size: int, path: str) -> None:
    count = math.prod(shape)
    declared = count * dtype.itemsize
    plist = dset.id.get_create_plist()
    layout = plist.get_layout()
    if layout == h5py.h5d.CONTIGUOUS:
        if count == 0:
            return
        offset = dset.id.get_offset()
        stored = dset.id.get_storage_size()
        vlen = dtype.kind == "O"
        if offset is None or offset + stored > size or (not vlen and stored != declared):
            where = "is not allocated" if offset is None else f"takes {stored} bytes from byte {offset}"
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} declares shape {shape} ({declared} bytes) but"
                f" {where}, and the file is {size} bytes long. {REBUILD}"
            )
    elif layout == h5py.h5d.CHUNKED:
        if not plist.get_nfilters() and declared > size:
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} declares shape {shape} ({declared} bytes), more"
                f" than the file's {size} bytes. {REBUILD}"
            )
        if dtype.itemsize * math.prod(plist.get_chunk()) >= 1 << 32:
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} declares chunks of {plist.get_chunk()}, over HDF5's"
                f" 4 GiB. {REBUILD}"
            )
    elif declared > size:  # compact: kept in its header, never more than 64 KB
        raise StoreFormatError(f"{path!r} is damaged: dataset {name!r} declares {declared} bytes. {REBUILD}")
