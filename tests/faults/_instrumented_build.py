"""Run ``bioscan-h5 build`` with stage markers on stdout and optional time dilation.

Used by the kill -9 test: ``python _instrumented_build.py BUILD-ARGS...``. The markers
(``@build``, ``@images``, ``@finish``) let the test aim a SIGKILL at a chosen stage; the
dilation (``BIOSCAN_H5_DILATE="column=0.02,row=0.002,fsync=0.3,json=0.1"``) stretches each stage with
sleeps *between* the builder's own steps, so that a random moment lands inside short stages
(the finish stage takes milliseconds otherwise); ``lock=S`` makes the first ``flock`` wait
``S`` seconds after the lock file was opened (marker ``@flock``). Nothing the builder writes,
or the order in which it writes it, is changed.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time


def _dilation() -> dict[str, float]:
    spec = os.environ.get("BIOSCAN_H5_DILATE", "")
    out = {"column": 0.0, "row": 0.0, "fsync": 0.0, "json": 0.0, "lock": 0.0}
    for part in filter(None, spec.split(",")):
        key, _, value = part.partition("=")
        out[key.strip()] = float(value)
    return out


def _mark(name: str) -> None:
    print(f"@{name} {time.monotonic():.6f}", flush=True)


def _rebind(real, wrapper) -> None:
    """Put ``wrapper`` in place of ``real`` under every name the builder's modules hold it by."""
    for name, module in list(sys.modules.items()):
        if name == "bioscan_h5._files" or name.startswith(("bioscan_h5.build", "bioscan_h5.pixels")):
            for attr, value in list(vars(module).items()):
                if value is real:
                    setattr(module, attr, wrapper)


def _install() -> None:
    import bioscan_h5.build  # noqa: F401 - loads every module of the builder
    from bioscan_h5 import _files
    from bioscan_h5.build import finish, lock, pipeline, stage_images, stage_metadata
    from bioscan_h5.pixels import raw as pixels

    d = _dilation()

    def wrap(module, name: str, marker: str | None = None, sleep: float = 0.0) -> None:
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            if marker:
                _mark(marker)
            if sleep:
                time.sleep(sleep)
            return real(*args, **kwargs)

        _rebind(real, wrapper)

    wrap(pipeline, "build", "build")
    if d["column"]:  # each metadata column written in stage 1
        from bioscan_h5.columns import _Codec

        real_column_write = _Codec.write

        def column_write(self, *args, **kwargs):
            time.sleep(d["column"])
            return real_column_write(self, *args, **kwargs)

        _Codec.write = column_write
    wrap(stage_images, "fill_images", "images")
    wrap(finish, "finish", "finish")
    wrap(_files, "fsync_path", sleep=d["fsync"])
    wrap(_files, "fsync_dir", sleep=d["fsync"])
    wrap(stage_metadata, "json_attr", sleep=d["json"])  # called while HDF5 has the file open for writing
    if d["row"]:
        real_write = pixels.PixelWriter.write

        def write(self, *args, **kwargs):
            time.sleep(d["row"])
            return real_write(self, *args, **kwargs)

        pixels.PixelWriter.write = write
        pixels.PixelWriter.SYNC_EVERY_S = 0.25
    if d["lock"]:
        lock.fcntl = _SlowFirstFlock(d["lock"])


class _SlowFirstFlock:
    """``fcntl`` whose first ``flock`` waits: the lock file is already open then (``@flock``)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __getattr__(self, name: str):
        return getattr(fcntl, name)

    def flock(self, fd: int, operation: int) -> None:
        if self.delay:
            _mark("flock")
            time.sleep(self.delay)
            self.delay = 0.0
        fcntl.flock(fd, operation)


def main(argv: list[str]) -> int:
    _install()
    from bioscan_h5 import cli

    return cli.main(["build", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
