"""``repr()`` of the datasets, in torchvision's layout and with the peer's lines."""

from __future__ import annotations

from collections.abc import Callable

from .. import format as fmt
from .options import DNA_MODALITIES

__all__ = ["StandardTransformRepr", "dataset_repr", "option_lines"]

#: The options that are off by default, with what each does when on.
_SWITCHES = {
    "drop_bad_images": "rows whose image could not be decoded are left out",
    "verify_reads": "each sample is checked against the store's checksums",
    "dense_labels": "labels renumbered 0..n-1 over this split's",
}


class StandardTransformRepr:
    """torchvision's ``StandardTransform`` repr, without depending on torchvision."""

    def __init__(self, transform: Callable | None, target_transform: Callable | None) -> None:
        self.transform, self.target_transform = transform, target_transform

    @staticmethod
    def _lines(transform, head: str) -> list[str]:
        lines = repr(transform).splitlines()
        return [f"{head}{lines[0]}"] + ["{}{}".format(" " * len(head), line) for line in lines[1:]]

    def __repr__(self) -> str:
        body = ["StandardTransform"]
        if self.transform is not None:
            body += self._lines(self.transform, "Transform: ")
        if self.target_transform is not None:
            body += self._lines(self.target_transform, "Target transform: ")
        return "\n".join(body)


def dataset_repr(ds, indent: int = 4) -> str:
    """``Dataset <Class>`` followed by the size, root, :meth:`extra_repr` lines and transforms."""
    body = [f"Number of datapoints: {len(ds)}"]
    if ds.root is not None:
        body.append(f"Root location: {ds.root}")
    body += ds.extra_repr().splitlines()
    if ds.transforms is not None:
        body += [repr(ds.transforms)]
    return "\n".join([f"Dataset {type(ds).__name__}"] + [" " * indent + line for line in body])


def option_lines(ds, split_lines: list[str]) -> str:
    """The peer's ``extra_repr``: the split lines, then each option that differs from its default."""
    xr = list(split_lines)
    xr.append(f"modality: {ds.modality!r}")
    has_image = "image" in ds.modality
    if has_image:
        xr.append(f"image_package: {ds.image_package!r}")
    if ds.reduce_repeated_barcodes:
        xr.append(f"reduce_repeated_barcodes: {ds.reduce_repeated_barcodes!r}")
    has_dna = any(m in DNA_MODALITIES for m in ds.modality)
    if has_dna and ds.max_nucleotides != fmt.DEFAULT_MAX_NUCLEOTIDES:
        xr.append(f"max_nucleotides: {ds.max_nucleotides!r}")
    xr.append(f"target_type: {ds.target_type!r}")
    if ds.target_type:
        xr.append(f"target_format: {ds.target_format!r}")
    xr.append(f"output_format: {ds.output_format!r}")
    if has_dna and ds.dna_transform is not None:
        xr.append(f"dna_transform: {ds.dna_transform!r}")
    opts = ds.options
    if has_image and opts.image_format != "pil":
        xr.append(f"image_format: {opts.image_format!r}")
    xr += [f"{name}: True ({what})" for name, what in _SWITCHES.items() if getattr(opts, name)]
    return "\n".join(xr)
