"""Download the BIOSCAN-1M / BIOSCAN-5M archives and extract them into the official layout.

The archives, their public URLs and MD5 checksums are listed in the package data file
``archives.json`` (the same facts ``bioscan-dataset`` 1.3.0 uses). :func:`download` fetches only
the archives that the requested splits and image package need, into the download root::

    <root>/<archive file name>               the archive (deleted after extraction by default)
    <root>/<archive file name>.part          an unfinished transfer, resumed with HTTP Range
    <root>/bioscan5m/...                     the extracted files, laid out as bioscan-dataset
    <root>/<dataset>/.downloads/<file>.complete   written last, after a verified extraction

A mirror (``mirror=`` or the environment variable ``BIOSCAN_H5_MIRROR``) replaces the public base
URLs: an archive is then fetched from ``<mirror>/<file name>``. If the mirror serves
``<mirror>/manifest.json`` (the format of ``archives.json``), that table replaces the built-in one.
A mirror may also be a local folder or a ``file://`` URL.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import logging
import os
import pathlib
import re
import shutil
import stat
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from tqdm.auto import tqdm

from . import __version__
from .errors import ChecksumError, DownloadError, InsufficientSpaceError
from .format import BIOSCAN5M_SPLITS, IMAGE_PACKAGES, SCHEMAS

__all__ = [
    "MIRROR_ENV",
    "Archive",
    "download",
    "load_archive_table",
    "resolve_mirror",
    "safe_extract",
    "select_archives",
]

logger = logging.getLogger(__name__)

#: Environment variable naming a mirror that replaces the public base URLs.
MIRROR_ENV = "BIOSCAN_H5_MIRROR"
#: File a mirror may serve at its base URL to replace the built-in archive table.
MANIFEST_NAME = "manifest.json"
#: Highest version of the archive-table format this module reads.
TABLE_FORMAT = 1
#: Seconds a connection attempt or a single read may block before it counts as failed.
TIMEOUT = 60.0
#: Seconds to wait before each retry of a request that got nothing (errors, 5xx); one entry a retry.
RETRY_DELAYS: tuple[float, ...] = (2.0, 10.0, 30.0)
#: HTTP statuses worth retrying.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
CHUNK_SIZE = 1 << 20
MARKER_DIRNAME = ".downloads"
COMPLETE_SUFFIX = ".complete"
EXTRACTING_SUFFIX = ".extracting"
PART_SUFFIX = ".part"
_TMP_PREFIX = ".bioscan-h5-extract-"
_MANIFEST_MAX_BYTES = 16 << 20
_USER_AGENT = f"bioscan-h5/{__version__} (Python urllib)"


# ---------------------------------------------------------------- the archive table
@dataclass(frozen=True)
class Archive:
    """One downloadable file of a dataset, as listed in the archive table.

    Attributes
    ----------
    dataset : str
        ``"bioscan5m"`` or ``"bioscan1m"``.
    name : str
        Identifier unique within the dataset (``"metadata"``, ``"cropped_256_train"``, ...).
    role : str
        ``"metadata"``, ``"images"`` or ``"partitioning"``.
    kind : str
        ``"zip"`` (extracted) or ``"file"`` (used as downloaded).
    filename : str
        Name on the server; a mirror serves it at ``<mirror>/<filename>``.
    urls : tuple of str
        Public URLs, tried in order (the first is the primary one).
    md5 : str
        MD5 checksum of the downloaded file.
    image_package : str or None
        The image package of an ``images`` archive.
    splits : tuple of str or None
        Splits whose images the archive holds; ``None`` = every split.
    download_to : str
        Where the download is kept, relative to the root.
    extract_to : str
        Folder a zip is extracted into, relative to the root (``""`` = the root).
    drop_prefix : str or None
        Leading folder of the zip members that is dropped when extracting.
    paths : tuple of str
        What the archive puts in place, relative to the root.
    check : tuple of (str, str)
        ``(path, md5)`` of files that show the content is in place (the checks of
        ``bioscan-dataset``); verified after extraction for the files the archive holds.
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


def _builtin_table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("archives.json").read_text(encoding="utf-8")
    return json.loads(text)


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
    """The mirror base URL in effect, without a trailing slash.

    Parameters
    ----------
    mirror : str or path-like, optional
        An ``http(s)://`` or ``file://`` URL, or a local folder. If omitted, the environment
        variable ``BIOSCAN_H5_MIRROR`` is used; an empty value means no mirror.

    Returns
    -------
    str or None
        The base URL, or ``None`` to use the public URLs.
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
        raise ValueError(
            f"Unsupported mirror URL {mirror!r}: use an http://, https:// or file:// URL, or a folder."
        )
    # A local folder (a Windows drive letter parses as a one-letter scheme).
    return pathlib.Path(mirror).expanduser().resolve().as_uri()


def _join_url(base: str, filename: str) -> str:
    return f"{base}/{urllib.parse.quote(filename)}"


def load_archive_table(
    mirror: str | os.PathLike | None = None, *, timeout: float | None = None
) -> dict[str, Any]:
    """The archive table: the mirror's ``manifest.json`` if it serves one, else the built-in one.

    Parameters
    ----------
    mirror : str or path-like, optional
        Base URL of a mirror (``None``: none, the environment variable is *not* read here;
        pass ``resolve_mirror(None)`` for that).
    timeout : float, optional
        Seconds before a network operation fails (default :data:`TIMEOUT`).

    Returns
    -------
    dict
        The parsed table (``{"format": 1, "datasets": {...}}``).

    Raises
    ------
    DownloadError
        The mirror could not be reached, or serves an invalid manifest.
    """
    if mirror is None:
        return _check_table(_builtin_table(), "archives.json (built in)")
    base = resolve_mirror(mirror)
    assert base is not None
    url = _join_url(base, MANIFEST_NAME)
    try:
        with _open_url(url, timeout=timeout) as response:
            data = response.read(_MANIFEST_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (404, 410):
            logger.info("The mirror serves no %s; using the built-in archive table.", MANIFEST_NAME)
            return _check_table(_builtin_table(), "archives.json (built in)")
        raise DownloadError(_http_message(url, exc.code, exc.reason, mirror=base)) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, FileNotFoundError):  # file:// mirror without a manifest
            return _check_table(_builtin_table(), "archives.json (built in)")
        raise DownloadError(_network_message(url, exc.reason, mirror=base)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(_network_message(url, exc, mirror=base)) from None
    if len(data) > _MANIFEST_MAX_BYTES:
        raise _table_error(url, f"larger than {_MANIFEST_MAX_BYTES} bytes")
    try:
        table = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _table_error(url, f"not JSON ({exc})") from None
    return _check_table(table, url)


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
    )


def _is_safe_relpath(rel: str) -> bool:
    if not isinstance(rel, str) or "\\" in rel or "\x00" in rel:
        return False
    if rel == "":
        return True
    return not rel.startswith("/") and ".." not in rel.split("/") and not re.match(r"^[A-Za-z]:", rel)


def _dataset_name(dataset: str) -> str:
    name = str(dataset).lower()
    if name not in SCHEMAS:
        valid = ", ".join(repr(s) for s in SCHEMAS)
        raise ValueError(f"Unknown dataset {dataset!r}. Valid datasets are: {valid}.")
    return name


def _split_names(splits: str | Iterable[str] | None) -> list[str]:
    if splits is None:
        return ["all"]
    if isinstance(splits, str):
        return [s.strip() for s in splits.split("+")]
    return [s.strip() for item in splits for s in str(item).split("+")]


def _wanted_splits(dataset: str, splits: str | Iterable[str] | None) -> set[str] | None:
    """The concrete splits requested, or ``None`` for "every split" (BIOSCAN-1M).

    Names follow the datasets' rules (:mod:`bioscan_h5.splits`); BIOSCAN-1M names may carry a
    ``<partitioning>:`` prefix. BIOSCAN-1M images come in one archive, so they only get checked.
    """
    from .splits import CLIBD_METASPLITS, explode_metasplit_1m, explode_metasplit_5m

    names = _split_names(splits)
    if dataset == "bioscan1m":
        for name in names:
            pv, _, split = name.rpartition(":")
            if pv:
                explode_metasplit_1m(split, pv, verify=True)
            elif split not in CLIBD_METASPLITS:
                try:
                    explode_metasplit_1m(split, "large_diptera_family", verify=True)
                except ValueError:
                    explode_metasplit_1m(split, "clibd", verify=True)
        return None
    return set().union(*(explode_metasplit_5m(name, verify=True) for name in names))


def select_archives(
    dataset: str,
    splits: str | Iterable[str] | None = "all",
    image_package: str = "cropped_256",
    *,
    images: bool = True,
    table: dict[str, Any] | None = None,
) -> list[Archive]:
    """The archives a dataset needs for some splits and an image package, in table order.

    The metadata (and, for BIOSCAN-1M, the CLIBD partition files) are always needed; image
    archives only with ``images=True``, for ``image_package`` and the requested splits.

    Parameters
    ----------
    dataset : {"bioscan5m", "bioscan1m"}
    splits : str or iterable of str, default="all"
        Split or metasplit names joined with ``"+"`` (``"all"``, ``"seen"``, ``"unseen"``,
        ``"pretrain+train"``, alias ``"validation"``). BIOSCAN-1M image archives hold every
        split, so its split names are only checked.
    image_package : str, default="cropped_256"
    images : bool, default=True
    table : dict, optional
        An archive table (default: the built-in one).

    Returns
    -------
    list of Archive

    Raises
    ------
    ValueError
        Unknown dataset or split, or no archive of ``image_package`` for the splits.
    """
    dataset = _dataset_name(dataset)
    source = "archives.json (built in)" if table is None else "in use"
    table = _check_table(_builtin_table() if table is None else table, source)
    entries = table["datasets"].get(dataset)
    if not isinstance(entries, dict) or not isinstance(entries.get("archives"), list):
        raise _table_error(source, f"it lists no archives for {dataset!r}")
    archives = [_parse_archive(dataset, entry, source) for entry in entries["archives"]]
    wanted = _wanted_splits(dataset, splits)
    chosen = [a for a in archives if a.role != "images"]
    if not images:
        return chosen
    packages = sorted({a.image_package for a in archives if a.role == "images" and a.image_package})
    of_package = [a for a in archives if a.role == "images" and a.image_package == image_package]
    if not of_package:
        known = "" if image_package in IMAGE_PACKAGES else f" (known packages: {', '.join(IMAGE_PACKAGES)})"
        raise ValueError(
            f"No archive of image_package={image_package!r} can be downloaded automatically for {dataset}{known};"
            f" archives exist for: {', '.join(repr(p) for p in packages) or 'none'}. Download and extract"
            " other packages by hand, or pass images=False to fetch the metadata only."
        )
    needed = [a for a in of_package if a.splits is None or wanted is None or wanted & set(a.splits)]
    covered: set[str] = set()
    for archive in of_package:
        covered |= set(BIOSCAN5M_SPLITS) if archive.splits is None else set(archive.splits)
    missing = sorted(wanted - covered) if wanted is not None else []
    if missing:
        raise ValueError(
            f"No archive of image_package={image_package!r} holds the {dataset} split(s) {missing};"
            " download those images by hand."
        )
    chosen_names = {a.name for a in chosen} | {a.name for a in needed}
    return [a for a in archives if a.name in chosen_names]


# ---------------------------------------------------------------- messages
def _retry_hint(mirror: str | None, dest: str | None = None, md5: str | None = None) -> str:
    hint = " Run the download again to retry (an interrupted transfer resumes where it stopped)"
    if mirror:
        hint += (
            f"; check that the mirror {mirror} is up and serves the file, or drop the mirror (no mirror=,"
            f" {MIRROR_ENV} unset) to use the public URLs"
        )
    else:
        hint += f", or pass mirror=URL (or set {MIRROR_ENV}) to fetch the archives from another server"
    if dest:
        hint += f"; you may also fetch the file yourself and place it at {dest}"
        if md5:
            hint += f" (it is checked against MD5 {md5})"
    return hint + "."


def _http_message(url: str, code: int, reason: Any, *, mirror: str | None, dest=None, md5=None) -> str:
    reason = f" {reason}" if reason else ""
    msg = f"Download of {url} failed: the server answered HTTP {code}{reason}."
    if code in (404, 410):
        msg += " The file is not at this address" + (" (the mirror lacks it)." if mirror else ".")
    elif code in (401, 403):
        msg += " Access was refused."
    elif code in RETRY_STATUSES:
        msg += " The server is busy or failing; try again later."
    return msg + _retry_hint(mirror, dest, md5)


def _network_message(url: str, error: Any, *, mirror: str | None, dest=None, md5=None) -> str:
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        what = f"no answer within {TIMEOUT:g} s ({error})"
    else:
        what = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return f"Download of {url} failed: network error, {what}." + _retry_hint(mirror, dest, md5)


def _say(message: str, progress: bool) -> None:
    logger.info(message)
    if progress:
        tqdm.write(message, file=sys.stderr)


# ---------------------------------------------------------------- transfers
def _open_url(url: str, *, headers: dict[str, str] | None = None, timeout: float | None = None):
    """Open ``url`` with urllib (the one place this module touches the network)."""
    request = urllib.request.Request(
        url, headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    )
    return urllib.request.urlopen(request, timeout=TIMEOUT if timeout is None else timeout)  # noqa: S310


def _md5_file(path: str, progress: bool = False, desc: str | None = None, hasher=None):
    hasher = hasher if hasher is not None else hashlib.md5(usedforsecurity=False)
    size = os.path.getsize(path)
    with (
        open(path, "rb") as fh,
        tqdm(
            total=size,
            desc=desc or f"checking {os.path.basename(path)}",
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not progress or size < (64 << 20),
            leave=False,
        ) as bar,
    ):
        while chunk := fh.read(CHUNK_SIZE):
            hasher.update(chunk)
            bar.update(len(chunk))
    return hasher


def _check_space(folder: str, needed: int, what: str) -> None:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free:
        raise InsufficientSpaceError(
            f"Not enough free disk space to {what}: {needed / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free"
            f" at {folder}. Free some space or choose another root."
        )


def _content_range_start(value: str | None) -> tuple[int | None, int | None]:
    """``(start, total)`` of a ``Content-Range: bytes a-b/n`` header (``None`` where absent)."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(2)) if match.group(2) != "*" else None
    return start, total


def _transfer(
    url: str, part: str, *, progress: bool, label: str, mirror: str | None, dest: str, md5: str
) -> str:
    """Bring ``part`` to the whole content of ``url``, resuming what it holds; return its MD5.

    A partial file is continued with an HTTP ``Range`` request; a server that ignores it (status
    200) restarts the file. A dropped connection is resumed at once when the attempt got further
    than any before; attempts that got nothing are retried after :data:`RETRY_DELAYS`.
    """
    os.makedirs(os.path.dirname(part), exist_ok=True)
    offset = os.path.getsize(part) if os.path.isfile(part) else 0
    hasher = hashlib.md5(usedforsecurity=False)
    if offset:
        _md5_file(part, progress, f"checking partial {label}", hasher)
    high_water = offset
    failures = 0

    def restart() -> None:
        nonlocal offset, hasher
        offset = 0
        hasher = hashlib.md5(usedforsecurity=False)
        with open(part, "wb"):
            pass

    def fail(what: Any) -> DownloadError:
        return DownloadError(_network_message(url, what, mirror=mirror, dest=dest, md5=md5))

    with tqdm(
        desc=label, unit="B", unit_scale=True, unit_divisor=1024, initial=offset, disable=not progress
    ) as bar:
        while True:
            error: str | None = None
            try:
                response = _open_url(url, headers={"Range": f"bytes={offset}-"} if offset else None)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code == 416 and offset:
                    _, total = _content_range_start(exc.headers.get("Content-Range") if exc.headers else None)
                    if total == offset:  # the partial file was already whole
                        return hasher.hexdigest()
                    _say(f"{url}: the partial file is longer than the server's; starting over.", progress)
                    restart()
                    continue
                if exc.code not in RETRY_STATUSES or failures >= len(RETRY_DELAYS):
                    raise DownloadError(
                        _http_message(url, exc.code, exc.reason, mirror=mirror, dest=dest, md5=md5)
                    ) from None
                error = f"HTTP {exc.code} {exc.reason}"
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, FileNotFoundError):
                    raise fail(exc.reason) from None
                reason = exc.reason
                error = (
                    f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)
                )
            except (OSError, http.client.HTTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                with response:
                    status = response.status or 200  # file:// answers have no status
                    length_header = response.headers.get("Content-Length")
                    length = int(length_header) if length_header and length_header.isdigit() else None
                    total = None
                    if offset and status == 206:
                        start, total = _content_range_start(response.headers.get("Content-Range"))
                        if start != offset:
                            _say(
                                f"{url}: the server resumed at byte {start}, not {offset}; starting over.",
                                progress,
                            )
                            restart()
                            continue
                    elif offset:
                        _say(f"{url}: the server does not resume transfers; starting over.", progress)
                        restart()
                    if total is None and length is not None:
                        total = offset + length
                    bar.reset(total=total)
                    bar.update(offset)
                    if length is not None:
                        _check_space(os.path.dirname(part), length, f"download {label}")
                    received = 0
                    with open(part, "ab") as fh:
                        while True:
                            try:
                                chunk = response.read(CHUNK_SIZE)
                            except (OSError, http.client.HTTPException) as exc:
                                error = f"{type(exc).__name__}: {exc}"
                                break
                            if not chunk:
                                break
                            fh.write(chunk)
                            hasher.update(chunk)
                            received += len(chunk)
                            offset += len(chunk)
                            bar.update(len(chunk))
                    if error is None:
                        if length is None or received >= length:
                            return hasher.hexdigest()
                        error = f"the connection closed after {offset:,} of {total:,} bytes"
            # Retry: at once if this attempt got further than any before, else after a pause.
            if offset > high_water:
                high_water = offset
                failures = 0
                _say(f"{url}: {error}; resuming at byte {offset:,}.", progress)
                continue
            if failures >= len(RETRY_DELAYS):
                kept = f" ({offset:,} bytes are kept in {part})" if offset else ""
                raise fail(f"{error}; gave up after {failures + 1} attempts{kept}")
            delay = RETRY_DELAYS[failures]
            failures += 1
            _say(f"{url}: {error}; retrying in {delay:g} s.", progress)
            time.sleep(delay)


def _fetch(
    archive: Archive, root: str, urls: list[str], *, mirror: str | None, progress: bool, verify: bool
) -> str:
    """Make sure the archive's file is at ``<root>/<download_to>`` with the right MD5."""
    path = os.path.join(root, *archive.download_to.split("/"))
    part = path + PART_SUFFIX
    if os.path.isfile(path):
        if not verify:
            return path
        digest = _md5_file(path, progress, f"checking {archive.filename}").hexdigest()
        if digest == archive.md5:
            return path
        logger.warning(
            "%s is corrupt (MD5 %s, expected %s): deleting it and downloading it again.",
            path,
            digest,
            archive.md5,
        )
        os.remove(path)
    digests: list[str] = []
    for _attempt in range(2):
        errors: list[str] = []
        digest = None
        for url in urls:
            try:
                digest = _transfer(
                    url,
                    part,
                    progress=progress,
                    label=archive.filename,
                    mirror=mirror,
                    dest=path,
                    md5=archive.md5,
                )
                break
            except DownloadError as exc:
                errors.append(str(exc))
        if digest is None:
            raise DownloadError("\n".join(errors) if len(errors) > 1 else errors[0])
        if not verify or digest == archive.md5:
            os.replace(part, path)
            return path
        os.remove(part)
        digests.append(digest)
        if len(digests) == 1:
            logger.warning(
                "%s from %s is corrupt (MD5 %s, expected %s): deleted; downloading it again.",
                archive.filename,
                url,
                digest,
                archive.md5,
            )
    raise ChecksumError(
        f"{archive.filename} downloaded from {url} does not match its published checksum: MD5 {digests[-1]}"
        f" (and {digests[0]} the time before), expected {archive.md5}. Both copies were deleted. The server may"
        " be serving a damaged or changed file, or a proxy may alter it."
        + _retry_hint(mirror, path, archive.md5)
    )


# ---------------------------------------------------------------- safe extraction
def _member_parts(info: zipfile.ZipInfo, drop_prefix: str | None) -> list[str] | None:
    """The path components a zip member extracts to, or ``None`` for nothing; refuse unsafe ones."""
    name = info.filename
    normalized = name.replace("\\", "/")
    mode = info.external_attr >> 16
    if "\x00" in name:
        raise DownloadError(f"Refusing to extract zip member {name!r}: its name holds a NUL character.")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        raise DownloadError(f"Refusing to extract zip member {name!r}: it has an absolute path.")
    parts = [p for p in normalized.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DownloadError(
            f"Refusing to extract zip member {name!r}: its path leaves the target folder ('..')."
        )
    if stat.S_ISLNK(mode):
        raise DownloadError(f"Refusing to extract zip member {name!r}: it is a symbolic link.")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise DownloadError(f"Refusing to extract zip member {name!r}: it is not a regular file or folder.")
    if drop_prefix and parts and parts[0] == drop_prefix:
        parts = parts[1:]
    return parts or None


def _move(src: str, dst: str) -> None:
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(src, dst)  # the destination is on another file system (a link the user made)


def _merge_tree(src: str, dst: str) -> None:
    """Move the content of ``src`` into ``dst``, renaming whole folders where ``dst`` has none."""
    with os.scandir(src) as it:
        entries = list(it)
    for entry in entries:
        target = os.path.join(dst, entry.name)
        if entry.is_dir(follow_symlinks=False):
            if os.path.isdir(target):
                _merge_tree(entry.path, target)
                continue
            if os.path.lexists(target):
                os.remove(target)
        elif os.path.isdir(target) and not os.path.islink(target):
            raise DownloadError(f"Cannot extract {target}: a folder is in the way of a file of the archive.")
        _move(entry.path, target)


def safe_extract(
    zip_path: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    drop_prefix: str | None = None,
    progress: bool = False,
) -> list[str]:
    """Extract a zip into ``dest`` without ever writing outside it.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    symbolic links and special files are refused. The members are extracted into a temporary
    folder inside ``dest`` and then moved into place (merging with folders already there), so
    an interrupted extraction never leaves a partial file under its final name.

    Parameters
    ----------
    zip_path : str or path-like
    dest : str or path-like
        The folder to extract into (created if missing).
    drop_prefix : str, optional
        A leading folder dropped from the member paths (``"bioscan"`` for the BIOSCAN-1M zips).
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    list of str
        The extracted files, relative to ``dest`` with ``/`` separators.

    Raises
    ------
    DownloadError
        An unsafe member (named in the message) or a damaged zip.
    InsufficientSpaceError
        Less free space than the extracted files need.
    """
    zip_path, dest = os.fspath(zip_path), os.path.abspath(os.fspath(dest))
    label = os.path.basename(zip_path)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            plan = []
            for info in zf.infolist():
                parts = _member_parts(info, drop_prefix)
                if parts is not None:
                    plan.append((info, parts))
            os.makedirs(dest, exist_ok=True)
            _check_space(dest, sum(info.file_size for info, _ in plan), f"extract {label}")
            tmp = tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{label}-", dir=dest)
            written: list[str] = []
            try:
                with tqdm(
                    total=sum(info.file_size for info, _ in plan),
                    desc=f"extracting {label}",
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    disable=not progress,
                ) as bar:
                    for info, parts in plan:
                        target = os.path.join(tmp, *parts)
                        if info.is_dir():
                            os.makedirs(target, exist_ok=True)
                            continue
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        with zf.open(info) as source, open(target, "wb") as out:
                            while chunk := source.read(CHUNK_SIZE):
                                out.write(chunk)
                                bar.update(len(chunk))
                        written.append("/".join(parts))
                _merge_tree(tmp, dest)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise DownloadError(
            f"{zip_path} is not a valid zip archive ({exc}); delete it and download it again."
        ) from None
    return written


# ---------------------------------------------------------------- completeness markers
def _marker_base(archive: Archive, root: str) -> str:
    return os.path.join(root, archive.dataset, MARKER_DIRNAME, archive.filename)


def _fingerprint(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _abs(root: str, rel: str) -> str:
    return os.path.join(root, *rel.split("/")) if rel else root


def _write_marker(archive: Archive, root: str) -> None:
    base = _marker_base(archive, root)
    os.makedirs(os.path.dirname(base), exist_ok=True)
    record = {
        "format": 1,
        "dataset": archive.dataset,
        "name": archive.name,
        "filename": archive.filename,
        "md5": archive.md5,
        "paths": list(archive.paths),
        "check": {rel: _fingerprint(_abs(root, rel)) for rel, _ in archive.check},
        "completed": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "package_version": __version__,
    }
    tmp = base + COMPLETE_SUFFIX + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1)
    os.replace(tmp, base + COMPLETE_SUFFIX)


def _read_marker(archive: Archive, root: str) -> dict[str, Any] | None:
    try:
        with open(_marker_base(archive, root) + COMPLETE_SUFFIX, encoding="utf-8") as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _checks_pass(archive: Archive, root: str, rels: Iterable[str] | None = None) -> bool:
    wanted = dict(archive.check)
    for rel in wanted if rels is None else rels:
        path = _abs(root, rel)
        if not os.path.isfile(path) or _md5_file(path).hexdigest() != wanted[rel]:
            return False
    return True


def _is_complete(archive: Archive, root: str, *, verify: bool) -> bool:
    """Whether the archive's content is in place (marker, or the files of ``check``)."""
    base = _marker_base(archive, root)
    if os.path.exists(base + EXTRACTING_SUFFIX):
        return False  # an extraction of ours was interrupted: never trust what is there
    if not all(os.path.exists(_abs(root, rel)) for rel in archive.paths):
        return False
    marker = _read_marker(archive, root)
    if marker is not None and marker.get("md5") == archive.md5:
        recorded = marker.get("check") or {}
        changed = [rel for rel, _ in archive.check if recorded.get(rel) != _fingerprint(_abs(root, rel))]
        if not changed:
            return True
        if not verify:
            return all(os.path.isfile(_abs(root, rel)) for rel in changed)
        if _checks_pass(archive, root, changed):
            _write_marker(archive, root)
            return True
        return False
    # No marker of ours: adopt content put in place otherwise (e.g. by bioscan-dataset) when
    # every file of the archive's check list is there with its published checksum.
    if archive.check and _checks_pass(archive, root):
        _write_marker(archive, root)
        return True
    return False


@contextlib.contextmanager
def _locked(path: str, label: str, progress: bool) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` so two processes never fetch the same archive at once."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no inter-process lock
        yield
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"Waiting for another process that is downloading {label} ...", progress)
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        except OSError:  # a file system without locks (some network mounts): go on unlocked
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _remove_stale_extractions(folder: str, filename: str) -> None:
    prefix = f"{_TMP_PREFIX}{filename}-"
    stale: list[str] = []
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        stale = [e.path for e in it if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)


def _ensure(
    archive: Archive, root: str, mirror: str | None, *, progress: bool, verify: bool, keep_archives: bool
) -> None:
    base = _marker_base(archive, root)
    with _locked(base + ".lock", archive.filename, progress):
        if _is_complete(archive, root, verify=verify):
            _say(f"{archive.filename}: already in place.", progress)
            return
        urls = [_join_url(mirror, archive.filename)] if mirror else list(archive.urls)
        if not urls:
            raise DownloadError(f"The archive table gives no URL for {archive.filename}; pass mirror=URL.")
        with contextlib.suppress(FileNotFoundError):
            os.remove(base + COMPLETE_SUFFIX)
        path = _fetch(archive, root, urls, mirror=mirror, progress=progress, verify=verify)
        if archive.kind == "file":
            _write_marker(archive, root)
            return
        dest = _abs(root, archive.extract_to)
        _remove_stale_extractions(dest, archive.filename)
        with open(base + EXTRACTING_SUFFIX, "w", encoding="utf-8") as fh:
            fh.write(f"extracting {path} into {dest}\n")
        written = safe_extract(path, dest, drop_prefix=archive.drop_prefix, progress=progress)
        if verify:
            prefix = f"{archive.extract_to}/" if archive.extract_to else ""
            extracted = {prefix + rel for rel in written}
            for rel, digest in archive.check:
                if rel in extracted and _md5_file(_abs(root, rel)).hexdigest() != digest:
                    raise ChecksumError(
                        f"{_abs(root, rel)}, extracted from {archive.filename}, does not match its published"
                        f" checksum {digest}; the archive table and the archive disagree."
                    )
        absent = [rel for rel in archive.paths if not os.path.exists(_abs(root, rel))]
        if absent:
            raise DownloadError(
                f"{archive.filename} was extracted into {dest} but did not provide {', '.join(absent)};"
                " the archive does not have the layout the archive table describes."
            )
        _write_marker(archive, root)
        os.remove(base + EXTRACTING_SUFFIX)
        if not keep_archives:
            os.remove(path)


# ---------------------------------------------------------------- the public entry point
def download(
    dataset: str,
    root: str | os.PathLike,
    splits: str | Iterable[str] | None = "all",
    image_package: str = "cropped_256",
    *,
    images: bool = True,
    mirror: str | os.PathLike | None = None,
    progress: bool = True,
    verify: bool = True,
    keep_archives: bool = False,
) -> list[str]:
    """Download and extract what a dataset needs, in the layout of ``bioscan-dataset``.

    Only the archives needed for ``splits`` and ``image_package`` are fetched: the metadata
    always (and the CLIBD partition files for BIOSCAN-1M), the image archives with
    ``images=True``. An archive already extracted (a ``.complete`` marker, or its check files
    in place with their published checksums) is not fetched again; an archive file already
    present is checked and extracted without downloading it. An interrupted transfer resumes
    with HTTP ``Range``; an archive that fails its MD5 check is deleted and fetched once more.

    Parameters
    ----------
    dataset : {"bioscan5m", "bioscan1m"}
    root : str or path-like
        The download root (as ``root`` of the datasets): ``<root>/bioscan5m/...``.
    splits : str or iterable of str, default="all"
        Split or metasplit names joined with ``"+"``: ``"all"``, ``"seen"``, ``"unseen"``,
        ``"pretrain+train"``, ``"val"`` (alias ``"validation"``), ... BIOSCAN-1M image
        archives hold every split.
    image_package : str, default="cropped_256"
        The image package (5M: ``cropped_256``; 1M: ``cropped_256`` or ``original_256``,
        unless a mirror's manifest lists others).
    images : bool, default=True
        Fetch the image archives; ``False`` fetches the metadata only.
    mirror : str or path-like, optional
        Base URL (or local folder) serving the archives under their file names, and optionally
        a ``manifest.json``. Default: the environment variable ``BIOSCAN_H5_MIRROR``, else the
        public URLs.
    progress : bool, default=True
        Show progress bars and messages on stderr.
    verify : bool, default=True
        Check MD5 checksums. ``False`` trusts whatever is present and downloaded.
    keep_archives : bool, default=False
        Keep the archive files after a successful extraction.

    Returns
    -------
    list of str
        The absolute paths made sure of (metadata file, image folders, partition folder), in
        table order, without duplicates.

    Raises
    ------
    ValueError
        Unknown dataset, split or image package.
    DownloadError
        A network failure or HTTP error (the message names the URL, the status or error, and
        how to retry or use a mirror), or an archive refused for an unsafe member.
    ChecksumError
        An archive still fails its checksum after being fetched again.
    InsufficientSpaceError
        Not enough free disk space.
    """
    dataset = _dataset_name(dataset)
    root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    mirror_url = resolve_mirror(mirror)
    table = load_archive_table(mirror_url)
    archives = select_archives(dataset, splits, image_package, images=images, table=table)
    os.makedirs(root, exist_ok=True)
    made: list[str] = []
    for archive in archives:
        _ensure(archive, root, mirror_url, progress=progress, verify=verify, keep_archives=keep_archives)
        for rel in archive.paths:
            path = _abs(root, rel)
            if path not in made:
                made.append(path)
    return made
