"""Writing a store's checksums (format 2): after stage 1, as rows are decoded, at the finish.

- **Stage 1** (:func:`write_checksums`, in the same HDF5 session that wrote the arrays):
  each row's CRC over every per-row array, the block CRCs of every array, the CRCs of the
  vocabularies, and for each row the image checksum of a row not built yet. The arrays are
  read back from the file block by block, so what is checksummed is what was written.
- **Stage 2**: the pixel writer records each decoded row's image checksum with its status
  (:mod:`.pixels`).
- **Finish** (:func:`update_image_blocks`): the block CRCs of ``/image_status`` and
  ``/image_source_size`` (and of a JPEG store's row tables), which stage 2 changed.

What is covered, and how, is decided by :func:`bioscan_h5.crc.covered_datasets` (shared
with the readers); a store without ``/checksums`` (format 1, or one extended from it) is
left without them.
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from .. import format as fmt
from ..crc import covered_datasets, crc_blocks, crc_rows, pending_image_crc, strings_crc

__all__ = ["has_checksums", "update_image_blocks", "write_checksums"]


def has_checksums(f: h5py.File) -> bool:
    """Whether the store keeps checksums (the builder then keeps them up to date)."""
    return fmt.CHECKSUM_ROWS in f


def write_checksums(f: h5py.File, n_rows: int, row_nbytes: int | None) -> None:
    """Write ``/checksums`` of a store whose stage-1 arrays are all written (see the module notes).

    ``row_nbytes`` is the size of one row's pixels (their checksum starts as that of zeros;
    0 for a JPEG store, whose rows have no bytes yet); None for a DNA-only store, which has
    no image checksums.
    """
    record, blocks, small = covered_datasets(f, n_rows)
    step = fmt.CHECKSUM_BLOCK_ROWS
    rows = np.zeros(n_rows, dtype=fmt.CHECKSUM_DTYPE)
    sums: dict[str, list[int]] = {name: [] for name in blocks}
    for name in blocks:
        dset = f[name]
        length = dset.shape[0] if dset.ndim else 1
        for start in range(0, length, step):
            part = dset[start : start + step] if dset.ndim else dset[()]
            sums[name].append(int(crc_blocks(part, step)[0]))
            if name in record:
                crc_rows(part, rows[start : start + step])
    group = f.require_group(fmt.CHECKSUMS)
    group.attrs[fmt.ATTR_CRC_ALGORITHM] = fmt.CHECKSUM_ALGORITHM
    group.attrs[fmt.ATTR_CRC_BLOCK_ROWS] = step
    group.attrs[fmt.ATTR_CRC_SMALL] = json.dumps(
        {name: strings_crc(f[name].asstr()[()]) for name in small}, sort_keys=True
    )
    f.create_dataset(fmt.CHECKSUM_ROWS, data=rows)
    f[fmt.CHECKSUM_ROWS].attrs[fmt.ATTR_CRC_ARRAYS] = json.dumps(record)
    if row_nbytes is not None:
        images = np.full(n_rows, pending_image_crc(row_nbytes), dtype=fmt.CHECKSUM_DTYPE)
        f.create_dataset(fmt.CHECKSUM_IMAGES, data=images)
    for name, values in sums.items():
        f.create_dataset(fmt.checksum_block_path(name), data=np.asarray(values, dtype=fmt.CHECKSUM_DTYPE))


def update_image_blocks(f: h5py.File) -> None:
    """Rewrite the block CRCs of the arrays stage 2 changed (the store is open for writing)."""
    if not has_checksums(f):
        return
    step = int(f[fmt.CHECKSUMS].attrs[fmt.ATTR_CRC_BLOCK_ROWS])
    for name in (*fmt.IMAGE_ROW_ARRAYS, *fmt.JPEG_ROW_ARRAYS):
        if name in f:
            f[fmt.checksum_block_path(name)][...] = crc_blocks(f[name][()], step)
