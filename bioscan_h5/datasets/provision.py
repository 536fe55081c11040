"""Finding, downloading and building the store a dataset reads.

With the raw data and no store, it is built now (``build="auto"``); otherwise the error gives
the ``bioscan-h5 build`` command. A split's missing images are added by a build that extends it.
"""

from __future__ import annotations

import glob
import os
import shlex
import sys
import time
from dataclasses import dataclass

import numpy as np

from .. import format as fmt
from ..errors import InvalidArgumentError, SplitNotBuiltError, StoreNotFoundError
from ..format import ImageStatus
from ..layouts import get_layout
from ..pixels import CODECS
from ..store import Store
from .options import DatasetOptions

__all__ = ["StoreRequest", "download_root", "ensure_images", "provide_store"]


@dataclass(frozen=True)
class StoreRequest:
    """What a dataset needs from its store, and what it may do to get it.

    ``owner`` is the dataset class name (for messages), ``dataset`` the layout's name and
    ``splits`` the ``--splits`` of a build that covers the dataset's split.
    """

    owner: str
    dataset: str
    root: str | None
    image_package: str
    image_size: int | None
    build: str | bool
    splits: str

    @property
    def given_root(self) -> str:
        """``root``, where a store is found or built under it (:class:`InvalidArgumentError` if not given)."""
        if self.root is None:
            raise InvalidArgumentError("Give root= (the dataset root) or store= (a store file).")
        return self.root

    @property
    def metadata_path(self) -> str:
        return get_layout(self.dataset).metadata_path(self.given_root)


def download_root(dataset: str, root, options: DatasetOptions, mirror: str | None, splits: str) -> None:
    """``download=True``: fetch the metadata (and the images of ``splits``) into ``root``."""
    from ..download import download

    if root is None:
        raise InvalidArgumentError("download=True needs root=, the folder to download the dataset into.")
    download(
        dataset,
        os.path.expanduser(os.fspath(root)),
        splits,
        options.image_package,
        images=options.wants_image and get_layout(dataset).schema.has_images,
        mirror=mirror,
    )


def provide_store(req: StoreRequest, store, wants_image: bool) -> Store:
    """The open store: ``store`` itself, the file it names, or the one found or built under the root."""
    if isinstance(store, Store):
        return store
    if store is not None:
        path = os.path.abspath(os.fspath(store))
        if not os.path.exists(path):
            raise StoreNotFoundError(f"No store file at {path!r} (the store= argument).")
        return Store(path)
    path = _find(req)
    if path is not None:
        return Store(path)
    size = req.image_size or fmt.DEFAULT_IMAGE_SIZE
    path = get_layout(req.dataset).store_path(req.given_root, req.image_package, size)
    if req.root is None or not os.path.isfile(req.metadata_path):
        raise StoreNotFoundError(
            f"{req.owner}: no store at {path!r} and no raw data to build one from (looked for the metadata"
            f" file {req.metadata_path!r}). Download the dataset (download=True, or `bioscan-h5 download"
            f" --dataset {req.dataset} --root {shlex.quote(str(req.root))}`) or pass store= to point at an"
            " existing store."
        )
    cfg = _config(req, path, size, no_images=not wants_image)
    if req.build is False:
        raise StoreNotFoundError(
            f"{req.owner}: no store at {path!r}. Build it with:\n  {cfg.command()}\n"
            "(or pass build='auto' to build it now)."
        )
    run_build(cfg)
    return Store(path)


def _find(req: StoreRequest) -> str | None:
    layout, root = get_layout(req.dataset), req.given_root
    folder = layout.store_dir(root)
    if not layout.schema.has_images:  # one store per root
        path = layout.store_path(root)
        return path if os.path.exists(path) else None
    if req.image_size is not None:
        path = layout.store_path(root, req.image_package, req.image_size)
        if os.path.exists(path):
            return path
        # else a store of another pixel kind: its file names begin with the kind's plain suffix
        for codec in CODECS.values():
            if suffix := codec.file_suffix(None, False):
                pattern = layout.store_path(root, req.image_package, req.image_size, suffix=suffix + "*")
                found = sorted(glob.glob(pattern))
                if len(found) > 1:
                    raise InvalidArgumentError(
                        f"Several {codec.name.upper()} stores for image_package={req.image_package!r} and"
                        f" image_size={req.image_size!r} in {folder!r}:"
                        f" {', '.join(os.path.basename(c) for c in found)}. Choose one with store=."
                    )
                if found:
                    return found[0]
        return None
    candidates = sorted(glob.glob(layout.store_path(root, req.image_package, "*", suffix="*")))
    default = layout.store_path(root, req.image_package, fmt.DEFAULT_IMAGE_SIZE)
    if default in candidates:
        return default
    if len(candidates) > 1:
        raise InvalidArgumentError(
            f"Several stores for image_package={req.image_package!r} in {folder!r}: "
            f"{', '.join(os.path.basename(c) for c in candidates)}. Choose one with image_size= or store=."
        )
    return candidates[0] if candidates else None


def _config(req: StoreRequest, path: str, size: int, no_images: bool, st: Store | None = None):
    from ..build import BuildConfig
    from ..build.config import recorded_content

    content = recorded_content(st.attrs.get(fmt.ATTR_BUILD_ARGS)) if st is not None else {}
    content.setdefault("image_package", req.image_package)
    content["image_size"] = size
    return BuildConfig.from_content(
        req.given_root, {**content, "dataset": req.dataset}, splits=req.splits, out=path, no_images=no_images
    )


def ensure_images(req: StoreRequest, st: Store, rows: np.ndarray, split: str) -> Store:
    """The store with the images of ``rows`` in it: built now if allowed, else :class:`SplitNotBuiltError`."""
    pending = st.image_status[rows] == ImageStatus.PENDING
    if not pending.any():
        return st
    cfg = _config(req, st.path, st.image_size, no_images=False, st=st)
    if req.build is False or req.root is None or not os.path.isfile(req.metadata_path):
        raise SplitNotBuiltError(
            f"{pending.sum()} of the {len(rows)} rows of split {split!r} have no image in"
            f" {st.path!r} (their split was not built). Build them with:\n  {cfg.command()}"
        )
    run_build(cfg)
    return Store(st.path)


def run_build(cfg) -> None:
    """Run a build in this process, saying what it builds and how long it took."""
    from ..build import build

    what = "metadata only" if cfg.no_images else "images of " + cfg.splits
    print(f"bioscan-h5: building {cfg.out} ({what})", file=sys.stderr)
    t0 = time.monotonic()
    res = build(cfg)
    print(
        f"bioscan-h5: built {cfg.out} in {time.monotonic() - t0:.1f} s ({res.decoded_now} images decoded,"
        f" {res.missing_now} missing, {res.bad_now} bad)",
        file=sys.stderr,
    )
