"""The archive table: which files a dataset has, where they are served, what they unpack to.

The built-in ``archives.json`` holds the facts ``bioscan-dataset`` 1.3.0 uses; a mirror may serve
its own as ``<mirror>/manifest.json``. :func:`select_archives` picks what some splits need.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import re
import urllib.error
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..errors import BioscanH5Error, DownloadError, InvalidArgumentError
from ..format import IMAGE_PACKAGES
from ..layouts import LAYOUTS, SCHEMAS
from .network import MIRROR_ENV, http_message, logger, network_message, open_url

__all__ = [
    "MANIFEST_NAME",
    "Archive",
    "dataset_name",
    "join_url",
    "load_archive_table",
    "resolve_mirror",
    "select_archives",
]

#: File a mirror may serve at its base URL to replace the built-in archive table.
MANIFEST_NAME = "manifest.json"
#: Highest version of the archive-table format this module reads.
TABLE_FORMAT = 1
_MANIFEST_MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class Archive:
    """One downloadable file of a dataset, as listed in the archive table (paths relative to the root).

    Attributes
    ----------
    dataset, name : str
        The dataset, and the archive's name in it (``"metadata"``, ``"cropped_256_train"``, ...).
    role : str
        ``"metadata"``, ``"images"`` or ``"partitioning"``.
    kind : str
        ``"zip"`` (extracted) or ``"file"`` (used as downloaded).
    filename : str
        Name on the server; a mirror serves it at ``<mirror>/<filename>``.
    urls : tuple of str
        Public URLs, tried in order.
    md5 : str
        MD5 of the downloaded file.
    image_package : str or None
        The image package of an ``images`` archive.
    splits : tuple of str or None
        Splits whose images the archive holds; ``None`` = every split.
    download_to, extract_to : str
        Where the download is kept, and the folder a zip is extracted into (``""``: the root).
    drop_prefix : str or None
        Leading folder of the zip members dropped when extracting.
    paths : tuple of str
        What the archive puts in place.
    check : tuple of (str, str)
        ``(path, md5)`` of files that show the content is in place, verified after extraction.
    size : int or None
        The file's size in bytes, if the table gives it: a transfer never writes more.
    """

    dataset: str
    name: str
    role: str
    kind: str
    filename: str
    urls: tuple[str, ...]
    md5: str
    image_package: str | None
    splits: tuple[str, ...] | None
    download_to: str
    extract_to: str
    drop_prefix: str | None
    paths: tuple[str, ...]
    check: tuple[tuple[str, str], ...]
    size: int | None = None


_BUILTIN = "archives.json (built in)"


def _builtin_table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("archives.json").read_text(encoding="utf-8")
    return _check_table(json.loads(text), _BUILTIN)


def _table_error(source: str, message: str) -> DownloadError:
    return DownloadError(f"The archive table {source} is invalid: {message}.")


def _check_table(table: Any, source: str) -> dict[str, Any]:
    if not isinstance(table, dict) or not isinstance(table.get("datasets"), dict):
        raise _table_error(source, "expected an object with 'format' and 'datasets' keys")
    version = table.get("format")
    if not isinstance(version, int) or version < 1:
        raise _table_error(source, f"'format' must be a positive integer, got {version!r}")
    if version > TABLE_FORMAT:
        raise DownloadError(
            f"The archive table {source} has format {version}, newer than this bioscan-h5 reads"
            f" ({TABLE_FORMAT}); upgrade bioscan-h5."
        )
    return table


def resolve_mirror(mirror: str | os.PathLike | None = None) -> str | None:
    """The mirror base URL in effect, without a trailing slash (``None``: use the public URLs).

    Parameters
    ----------
    mirror : str or path-like, optional
        An ``http(s)://`` or ``file://`` URL, or a local folder. If omitted, the environment
        variable ``BIOSCAN_H5_MIRROR`` is used; an empty value means no mirror.
    """
    if mirror is None:
        mirror = os.environ.get(MIRROR_ENV, "")
    mirror = os.fspath(mirror).strip()
    if not mirror:
        return None
    scheme = urllib.parse.urlsplit(mirror).scheme.lower()
    if scheme in ("http", "https", "file"):
        return mirror.rstrip("/")
    if len(scheme) > 1 and "://" in mirror:
        raise InvalidArgumentError(
            f"Unsupported mirror URL {mirror!r}: use an http://, https:// or file:// URL, or a folder."
        )
    # A local folder (a Windows drive letter parses as a one-letter scheme).
    return pathlib.Path(mirror).expanduser().resolve().as_uri()


def join_url(base: str, filename: str) -> str:
    return f"{base}/{urllib.parse.quote(filename)}"


def load_archive_table(
    mirror: str | os.PathLike | None = None, *, timeout: float | None = None
) -> dict[str, Any]:
    """The archive table: the mirror's ``manifest.json`` if it serves one, else the built-in one.

    Parameters
    ----------
    mirror : str or path-like, optional
        Base URL of a mirror (``None``: none; the environment variable is read by :func:`resolve_mirror`).
    timeout : float, optional
        Seconds before a network operation fails (default :data:`~bioscan_h5.download.network.TIMEOUT`).

    Raises
    ------
    DownloadError
        The mirror could not be reached, or serves an invalid manifest.
    """
    if mirror is None:
        return _builtin_table()
    base = resolve_mirror(mirror)
    assert base is not None
    url = join_url(base, MANIFEST_NAME)
    try:
        with open_url(url, timeout=timeout) as response:
            data = response.read(_MANIFEST_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (404, 410):
            logger.info("The mirror serves no %s; using the built-in archive table.", MANIFEST_NAME)
            return _builtin_table()
        raise DownloadError(http_message(url, exc.code, exc.reason, mirror=base)) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, FileNotFoundError):  # file:// mirror without a manifest
            return _builtin_table()
        raise DownloadError(network_message(url, exc.reason, mirror=base)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(network_message(url, exc, mirror=base)) from None
    if len(data) > _MANIFEST_MAX_BYTES:
        raise _table_error(url, f"larger than {_MANIFEST_MAX_BYTES} bytes")
    try:
        table = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _table_error(url, f"not JSON ({exc})") from None
    except RecursionError:
        raise _table_error(url, "nested too deeply to be an archive table") from None
    return _check_table(table, url)


def _parse_checked(dataset: str, entry: Any, source: str) -> Archive:
    """:func:`_parse_archive`, a field of the wrong type (``"splits": 5``) a :class:`DownloadError`."""
    try:
        return _parse_archive(dataset, entry, source)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        if isinstance(exc, BioscanH5Error):
            raise
        where = f"archive {entry.get('name')!r} of {dataset!r}" if isinstance(entry, dict) else "an archive"
        raise _table_error(
            source, f"{where} has a field of the wrong type ({type(exc).__name__}: {exc})"
        ) from None


def _parse_archive(dataset: str, entry: Any, source: str) -> Archive:
    if not isinstance(entry, dict):
        raise _table_error(source, f"an archive of {dataset!r} is not an object: {entry!r}")
    where = f"archive {entry.get('name')!r} of {dataset!r}"
    for key in ("name", "filename", "md5"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise _table_error(source, f"{where} lacks the string field {key!r}")
    filename = entry["filename"]
    if "/" in filename or "\\" in filename or filename in (".", ".."):
        raise _table_error(source, f"{where}: 'filename' must be a bare file name, got {filename!r}")
    kind = entry.get("kind") or ("zip" if filename.lower().endswith(".zip") else "file")
    if kind not in ("zip", "file"):
        raise _table_error(source, f"{where}: 'kind' must be 'zip' or 'file', got {kind!r}")
    md5 = entry["md5"].lower()
    if not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise _table_error(source, f"{where}: 'md5' is not an MD5 hex digest: {entry['md5']!r}")
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise _table_error(
            source, f"{where}: 'size' must be a byte count (a whole number >= 0), got {size!r}"
        )
    urls = [entry["url"]] if entry.get("url") else []
    urls += list(entry.get("alt_urls") or [])
    splits = entry.get("splits")
    check = entry.get("check") or {}
    if not isinstance(check, dict):
        raise _table_error(source, f"{where}: 'check' must map paths to MD5 digests")
    download_to = entry.get("download_to") or filename
    if kind == "file":  # a plain file is its own check
        check = {download_to: md5, **check}
    paths = entry.get("paths") or ([download_to] if kind == "file" else [])
    for rel in [download_to, entry.get("extract_to") or "", *paths, *check]:
        if not _is_safe_relpath(rel):
            raise _table_error(source, f"{where}: path {rel!r} is not a relative path inside the root")
    return Archive(
        dataset=dataset,
        name=entry["name"],
        role=entry.get("role") or ("images" if entry.get("image_package") else "metadata"),
        kind=kind,
        filename=filename,
        urls=tuple(urls),
        md5=md5,
        image_package=entry.get("image_package"),
        splits=None if splits is None else tuple(splits),
        download_to=download_to,
        extract_to=entry.get("extract_to") or "",
        drop_prefix=entry.get("drop_prefix") or None,
        paths=tuple(paths),
        check=tuple((path, str(digest).lower()) for path, digest in check.items()),
        size=size,
    )


def _is_safe_relpath(rel: str) -> bool:
    if not isinstance(rel, str) or "\\" in rel or "\x00" in rel:
        return False
    return not rel.startswith("/") and ".." not in rel.split("/") and not re.match(r"^[A-Za-z]:", rel)


def dataset_name(dataset: str) -> str:
    name = str(dataset).lower()
    if name not in SCHEMAS:
        valid = ", ".join(repr(s) for s in SCHEMAS)
        raise InvalidArgumentError(f"Unknown dataset {dataset!r}. Valid datasets are: {valid}.")
    return name


def _wanted_splits(dataset: str, splits: str | Iterable[str] | None) -> set[str]:
    """The split tokens requested, checked with the builder's rules (:meth:`SourceLayout.explode`).

    A BIOSCAN-1M name without a ``<partitioning>:`` prefix may also be a CLIBD one.
    """
    layout = LAYOUTS[dataset]
    items = ["all"] if splits is None else [splits] if isinstance(splits, str) else list(splits)
    wanted: set[str] = set()
    for name in (s.strip() for item in items for s in str(item).split("+")):
        try:
            wanted.update(layout.explode(name))
        except ValueError:
            if dataset != "bioscan1m" or ":" in name:
                raise
            wanted.update(layout.explode(f"clibd:{name}"))
    return wanted


def select_archives(
    dataset: str,
    splits: str | Iterable[str] | None = "all",
    image_package: str = "cropped_256",
    *,
    images: bool = True,
    table: dict[str, Any] | None = None,
) -> list[Archive]:
    """The archives a dataset needs for some splits and an image package, in table order.

    The metadata (and, for BIOSCAN-1M, the CLIBD partition files) always; image archives only
    with ``images=True``, for ``image_package`` and the requested splits.

    Parameters
    ----------
    dataset : {"bioscan5m", "bioscan1m", "canadian_invertebrates"}
    splits : str or iterable of str, default="all"
        Split or metasplit names joined with ``"+"``, as ``bioscan-h5 build --splits`` takes them.
        BIOSCAN-1M image archives hold every split.
    image_package : str, default="cropped_256"
    images : bool, default=True
    table : dict, optional
        An archive table (default: the built-in one).

    Raises
    ------
    InvalidArgumentError
        Unknown dataset, or no archive of ``image_package`` for the splits (it is a ``ValueError``).
    ValueError
        Unknown split name.
    """
    dataset = dataset_name(dataset)
    source = _BUILTIN if table is None else "in use"
    table = _builtin_table() if table is None else _check_table(table, source)
    entries = table["datasets"].get(dataset)
    if not isinstance(entries, dict) or not isinstance(entries.get("archives"), list):
        raise _table_error(source, f"it lists no archives for {dataset!r}")
    archives = [_parse_checked(dataset, entry, source) for entry in entries["archives"]]
    wanted = _wanted_splits(dataset, splits)
    if not images or not SCHEMAS[dataset].has_images:
        return [a for a in archives if a.role != "images"]
    packages = sorted({a.image_package for a in archives if a.role == "images" and a.image_package})
    of_package = [a for a in archives if a.role == "images" and a.image_package == image_package]
    if not of_package:
        known = "" if image_package in IMAGE_PACKAGES else f" (known packages: {', '.join(IMAGE_PACKAGES)})"
        raise InvalidArgumentError(
            f"No archive of image_package={image_package!r} can be downloaded automatically for {dataset}{known};"
            f" archives exist for: {', '.join(repr(p) for p in packages) or 'none'}. Download and extract"
            " other packages by hand, or pass images=False to fetch the metadata only."
        )
    needed = [a for a in of_package if a.splits is None or wanted & set(a.splits)]
    missing = sorted(wanted.difference(*(wanted if a.splits is None else a.splits for a in of_package)))
    if missing:
        raise InvalidArgumentError(
            f"No archive of image_package={image_package!r} holds the {dataset} split(s) {missing};"
            " download those images by hand."
        )
    return [a for a in archives if a.role != "images" or a in needed]
