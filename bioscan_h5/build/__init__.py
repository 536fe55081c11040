"""Building stores: :class:`BuildConfig` says what to build, :func:`build` builds it.

See :mod:`bioscan_h5.build.pipeline` for the stages of a build.
"""

from ..errors import BuildInterrupted
from .config import CONTENT_ARGS, BuildConfig, BuildResult
from .pipeline import build

__all__ = ["CONTENT_ARGS", "BuildConfig", "BuildInterrupted", "BuildResult", "build"]
