"""The builder's public names, kept here for ``from bioscan_h5.builder import BuildConfig, build``.

The builder is the :mod:`bioscan_h5.build` package.
"""

from .build import CONTENT_ARGS, BuildConfig, BuildInterrupted, BuildResult, build, config_from_args

__all__ = ["CONTENT_ARGS", "BuildConfig", "BuildInterrupted", "BuildResult", "build", "config_from_args"]
