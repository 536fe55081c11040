"""Checks a store passes when it is opened: format, version, completeness, shapes, links."""

from __future__ import annotations

import json
from dataclasses import dataclass

import h5py
import numpy as np

from .. import format as fmt
from ..errors import InvalidArgumentError, StoreFormatError, StoreIncompleteError, StoreVersionError
from ..layouts import get_layout

__all__ = ["StoreHeader", "attr_value", "column_order", "read_header"]

_REBUILD = "Rebuild it with `bioscan-h5 build --overwrite`."
#: Root attributes holding JSON; HDF5 does not checksum attribute values kept in dense
#: storage, so they are parsed at open, and a damaged one fails there.
_JSON_ATTRS = (
    fmt.ATTR_SOURCE,
    fmt.ATTR_BUILD_ARGS,
    fmt.ATTR_SPLITS_BUILT,
    fmt.ATTR_COUNTS,
    fmt.ATTR_SOURCE_COLUMNS,
)


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
    """Validate an open file as a store and return its header.

    Raises
    ------
    StoreFormatError
        Not a bioscan-h5 store, or damaged.
    StoreVersionError
        Written by a newer format version.
    StoreIncompleteError
        The build has not finished (unless ``allow_incomplete``).
    """
    a = {k: attr_value(v) for k, v in f.attrs.items()}
    _check_identity(a, path, allow_incomplete)
    dataset = str(a.get(fmt.ATTR_DATASET))
    if dataset not in fmt.SCHEMAS:
        raise StoreFormatError(f"{path!r} holds an unknown dataset {dataset!r}.")
    for name in _JSON_ATTRS:
        if name in a:
            json.loads(a[name])
    _check_split_names(a, dataset, path)
    images = fmt.SCHEMAS[dataset].has_images
    checked = (
        (fmt.ATTR_IMAGE_PACKAGE, fmt.IMAGE_PACKAGES if images else ("",)),  # DNA-only: none
        (fmt.ATTR_FIT, fmt.FITS),
        (fmt.ATTR_PIXELS, fmt.PIXEL_KINDS if images else ("raw",)),
    )
    for name, valid in checked:
        if name in a and a[name] not in valid:
            raise StoreFormatError(
                f"{path!r} is damaged: its {name!r} attribute is {a[name]!r}, not one of"
                f" {', '.join(map(repr, valid))}. {_REBUILD}"
            )
    header = StoreHeader(
        attrs=a,
        dataset=dataset,
        schema=fmt.SCHEMAS[dataset],
        n_rows=int(a[fmt.ATTR_N_ROWS]),
        image_size=int(a[fmt.ATTR_IMAGE_SIZE]),
    )
    check_links(f, path)
    _check_datasets(f, path, header)
    return header


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
            f" split names of {dataset}. {_REBUILD}"
        ) from None


def _check_identity(a: dict, path: str, allow_incomplete: bool) -> None:
    if a.get(fmt.ATTR_FORMAT) != fmt.FORMAT_NAME:
        raise StoreFormatError(
            f"{path!r} is an HDF5 file but not a bioscan-h5 store (its 'format' attribute is"
            f" {a.get(fmt.ATTR_FORMAT)!r}, expected {fmt.FORMAT_NAME!r}). Build a store with `bioscan-h5 build`."
        )
    version = a.get(fmt.ATTR_VERSION)
    if not isinstance(version, (int, np.integer)) or version < 1:
        raise StoreFormatError(f"{path!r} has an invalid format version {version!r}.")
    if version > fmt.FORMAT_VERSION:
        raise StoreVersionError(
            f"{path!r} was written in store format version {version}, but this bioscan-h5 reads"
            f" versions up to {fmt.FORMAT_VERSION}. Upgrade bioscan-h5 (pip install -U bioscan-h5)."
        )
    if not a.get(fmt.ATTR_COMPLETE, False) and not allow_incomplete:
        raise StoreIncompleteError(
            f"{path!r} is incomplete: its build has not finished. Rerun the same `bioscan-h5 build`"
            " command to finish it (or pass allow_incomplete=True to inspect it)."
        )


def _check_datasets(f: h5py.File, path: str, header: StoreHeader) -> None:
    expected = fmt.expected_datasets(header.schema, header.n_rows, header.image_size)
    if fmt.pixel_kind(header.attrs) == "jpeg":  # encoded bytes instead of the pixel block
        del expected[fmt.IMAGES]
        expected.update(fmt.jpeg_datasets(header.n_rows, bool(header.attrs.get(fmt.ATTR_COMPLETE))))
    content = json.loads(header.attrs.get(fmt.ATTR_BUILD_ARGS, "{}"))
    if content.get("full_barcodes") and content.get("max_nucleotides") is not None:
        expected.update(fmt.expected_tail_datasets(header.n_rows))
    for name, (kind, shape) in expected.items():
        obj = f.get(name)
        if not isinstance(obj, h5py.Dataset):
            raise StoreFormatError(f"{path!r} is damaged: the dataset {name!r} is missing. {_REBUILD}")
        ok_kind = obj.dtype.kind == kind[0] if kind != "O" else h5py.check_string_dtype(obj.dtype) is not None
        if kind not in ("S", "O") and obj.dtype.itemsize != int(kind[1]):
            ok_kind = False
        ok_shape = len(obj.shape) == len(shape) and all(s is None or s == t for s, t in zip(shape, obj.shape))
        if not (ok_kind and ok_shape):
            raise StoreFormatError(
                f"{path!r} is damaged: dataset {name!r} has dtype {obj.dtype} and shape {obj.shape},"
                f" expected {kind} and {tuple('any' if s is None else s for s in shape)}. {_REBUILD}"
            )


def check_links(group: h5py.Group, path: str) -> None:
    """Refuse external/soft links, virtual and external-storage datasets (data outside the file)."""
    for key in group:
        link = group.get(key, getlink=True)
        where = f"{group.name.rstrip('/')}/{key}"
        if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
            raise StoreFormatError(
                f"{path!r} contains a link {where!r} ({type(link).__name__}); a store keeps all its data inside the"
                " file. It was not written by bioscan-h5: rebuild it with `bioscan-h5 build`."
            )
        obj = group[key]
        if isinstance(obj, h5py.Group):
            check_links(obj, path)
        elif isinstance(obj, h5py.Dataset) and (obj.is_virtual or obj.external):
            raise StoreFormatError(
                f"{path!r}: dataset {where!r} reads data from outside the file (virtual or external storage);"
                " a store keeps all its data inside the file. Rebuild it with `bioscan-h5 build`."
            )


def column_order(attrs: dict, stored: list[str], barcode_column: str, path: str) -> list[str]:
    """The stored metadata columns in source-file order (the ``source_columns`` attribute).

    Raises
    ------
    StoreFormatError
        The attribute does not name exactly the stored columns (and the barcode column).
    """
    if fmt.ATTR_SOURCE_COLUMNS not in attrs:
        return stored
    order = json.loads(attrs[fmt.ATTR_SOURCE_COLUMNS])
    if not isinstance(order, list) or set(order) != {*stored, barcode_column}:
        raise StoreFormatError(
            f"{path!r} is damaged: its {fmt.ATTR_SOURCE_COLUMNS!r} attribute does not name the stored"
            f" columns. {_REBUILD}"
        )
    return [c for c in order if c != barcode_column]
