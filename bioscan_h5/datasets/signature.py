"""The datasets' constructor parameters, declared once.

``bioscan-dataset``'s classes take the same long list of parameters after their own leading
ones (``split``, and BIOSCAN-1M's ``partitioning_version``), and this package adds the same
keyword-only ones to each. They are declared here once; :func:`dataset_init` gives each
class an ``__init__`` with its exact signature (``inspect.signature``, ``help()`` and the
docs show it), binding positional and keyword arguments as Python would.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from inspect import Parameter
from typing import Any

__all__ = ["EXTRA_PARAMETERS", "OPTION_DEFAULTS", "PEER_PARAMETERS", "dataset_init", "positional"]

_P, _K = Parameter.POSITIONAL_OR_KEYWORD, Parameter.KEYWORD_ONLY


def positional(name: str, default: Any, annotation: str) -> Parameter:
    """A positional-or-keyword parameter."""
    return Parameter(name, _P, default=default, annotation=annotation)


#: The peer's parameters after the leading, dataset-specific ones, in the peer's order.
PEER_PARAMETERS: tuple[Parameter, ...] = (
    positional("modality", ("image", "dna"), "str | Iterable[str]"),
    positional("image_package", "cropped_256", "str"),
    positional("reduce_repeated_barcodes", False, "bool"),
    positional("max_nucleotides", 660, "int | None"),
    positional("target_type", "species", "str | Iterable[str]"),
    positional("target_format", "index", "str"),
    positional("output_format", "tuple", "str"),
    positional("transform", None, "Callable | None"),
    positional("dna_transform", None, "Callable | None"),
    positional("target_transform", None, "Callable | None"),
    positional("download", False, "bool"),
)

#: bioscan-h5's keyword-only additions.
EXTRA_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("store", _K, default=None, annotation="str | os.PathLike | Store | None"),
    Parameter("image_size", _K, default=None, annotation="int | None"),
    Parameter("image_format", _K, default="pil", annotation="str"),
    Parameter("build", _K, default="auto", annotation="str | bool"),
    Parameter("drop_bad_images", _K, default=False, annotation="bool"),
    Parameter("mirror", _K, default=None, annotation="str | None"),
    Parameter("verify_reads", _K, default=False, annotation="bool"),
    Parameter("dense_labels", _K, default=False, annotation="bool"),
)


#: The default of every shared parameter (a dataset without one of them gets its default).
OPTION_DEFAULTS: dict[str, Any] = {p.name: p.default for p in (*PEER_PARAMETERS, *EXTRA_PARAMETERS)}


def dataset_init(
    leading: Sequence[Parameter],
    *,
    exclude: Sequence[str] = (),
    defaults: dict[str, Any] | None = None,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorate ``__init__(self, arguments: dict)`` into a constructor with the full signature.

    Parameters
    ----------
    leading : sequence of inspect.Parameter
        The dataset's own parameters after ``root`` (``split``, ...).
    exclude : sequence of str
        Parameters of :data:`PEER_PARAMETERS` / :data:`EXTRA_PARAMETERS` the dataset lacks.
    defaults : dict, optional
        Defaults that differ from the shared ones (``target_type`` per dataset).

    The decorated function receives every argument, defaults applied, as one dict.
    """
    defaults = defaults or {}
    params = [Parameter("self", _P), positional("root", None, "str | os.PathLike | None"), *leading]
    for p in (*PEER_PARAMETERS, *EXTRA_PARAMETERS):
        if p.name not in exclude:
            params.append(p.replace(default=defaults[p.name]) if p.name in defaults else p)
    signature = inspect.Signature(params)

    def decorate(init: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(init)
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{type(self).__name__}() {exc}") from None
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            del arguments["self"]
            init(self, arguments)

        __init__.__signature__ = signature  # type: ignore[attr-defined]
        return __init__

    return decorate
