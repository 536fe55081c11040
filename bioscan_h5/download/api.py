"""The public entry point :func:`download`: fetch and extract what a dataset needs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

from ..errors import DownloadChecksumError, DownloadError
from .extract import remove_stale_extractions, safe_extract
from .markers import (
    COMPLETE_SUFFIX,
    EXTRACTING_SUFFIX,
    abs_path,
    is_complete,
    locked,
    marker_base,
    write_marker,
)
from .network import say
from .table import Archive, dataset_name, join_url, load_archive_table, resolve_mirror, select_archives
from .transfer import fetch_archive, md5_file

__all__ = ["download"]


def _ensure(
    archive: Archive, root: str, mirror: str | None, *, progress: bool, verify: bool, keep_archives: bool
) -> None:
    base = marker_base(archive, root)
    with locked(base + ".lock", archive.filename, progress):
        if is_complete(archive, root, verify=verify):
            say(f"{archive.filename}: already in place.", progress)
            return
        urls = [join_url(mirror, archive.filename)] if mirror else list(archive.urls)
        if not urls:
            raise DownloadError(f"The archive table gives no URL for {archive.filename}; pass mirror=URL.")
        with contextlib.suppress(FileNotFoundError):
            os.remove(base + COMPLETE_SUFFIX)
        path = fetch_archive(archive, root, urls, mirror=mirror, progress=progress, verify=verify)
        if archive.kind == "file":
            write_marker(archive, root)
            return
        dest = abs_path(root, archive.extract_to)
        remove_stale_extractions(dest, archive.filename)
        with open(base + EXTRACTING_SUFFIX, "w", encoding="utf-8") as fh:
            fh.write(f"extracting {path} into {dest}\n")
        prefix = f"{archive.extract_to}/" if archive.extract_to else ""
        own = [rel[len(prefix) :] for rel, _ in archive.check if rel.startswith(prefix)]
        written = safe_extract(path, dest, drop_prefix=archive.drop_prefix, progress=progress, replace=own)
        if verify:
            extracted = {prefix + rel for rel in written}
            for rel, digest in archive.check:
                if rel in extracted and md5_file(abs_path(root, rel)).hexdigest() != digest:
                    raise DownloadChecksumError(
                        f"{abs_path(root, rel)}, extracted from {archive.filename}, does not match its published"
                        f" checksum {digest}; the archive table and the archive disagree."
                    )
        absent = [rel for rel in archive.paths if not os.path.exists(abs_path(root, rel))]
        if absent:
            raise DownloadError(
                f"{archive.filename} was extracted into {dest} but did not provide {', '.join(absent)};"
                " the archive does not have the layout the archive table describes."
            )
        write_marker(archive, root)
        os.remove(base + EXTRACTING_SUFFIX)
        if not keep_archives:
            os.remove(path)


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

    Only the archives ``splits`` and ``image_package`` need are fetched (see
    :func:`~bioscan_h5.download.select_archives`). Content already in place (a ``.complete``
    marker, or its check files with their published checksums) is not fetched again; an
    interrupted transfer resumes; an archive failing its MD5 check is fetched once more.

    Parameters
    ----------
    dataset : {"bioscan5m", "bioscan1m", "canadian_invertebrates"}
    root : str or path-like
        The download root (as ``root`` of the datasets): ``<root>/bioscan5m/...``.
    splits : str or iterable of str, default="all"
        Split or metasplit names joined with ``"+"`` (``"seen"``, ``"pretrain+train"``, ...).
    image_package : str, default="cropped_256"
        5M: ``cropped_256``; 1M: ``cropped_256`` or ``original_256`` (or what a mirror's manifest lists).
    images : bool, default=True
        Fetch the image archives; ``False`` fetches the metadata only.
    mirror : str or path-like, optional
        Base URL (or local folder) serving the archives under their file names, and optionally
        a ``manifest.json``. Default: ``BIOSCAN_H5_MIRROR``, else the public URLs.
    progress : bool, default=True
        Show progress bars and messages on stderr.
    verify : bool, default=True
        Check MD5 checksums; ``False`` trusts whatever is present.
    keep_archives : bool, default=False
        Keep the archive files after a successful extraction.

    Returns
    -------
    list of str
        The absolute paths made sure of (metadata file, image folders, partition folder).

    Raises
    ------
    InvalidArgumentError
        Unknown dataset or image package, or a mirror that is not a URL or folder.
    ValueError
        Unknown split name.
    DownloadError
        A network or HTTP failure (naming the URL and how to retry), or an unsafe archive member.
    DownloadChecksumError
        An archive still fails its checksum after being fetched again.
    InsufficientSpaceError
        Not enough free disk space.
    """
    dataset = dataset_name(dataset)
    root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    mirror_url = resolve_mirror(mirror)
    table = load_archive_table(mirror_url)
    archives = select_archives(dataset, splits, image_package, images=images, table=table)
    os.makedirs(root, exist_ok=True)
    for archive in archives:
        _ensure(archive, root, mirror_url, progress=progress, verify=verify, keep_archives=keep_archives)
    return list(dict.fromkeys(abs_path(root, rel) for archive in archives for rel in archive.paths))
