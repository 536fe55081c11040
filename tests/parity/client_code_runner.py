"""Run one README example of bioscan-dataset as a script, and write down what it made.

Used by ``test_client_code.py`` in a subprocess::

    python client_code_runner.py peer|ours EXAMPLE.py OUT.json

``peer`` runs the example as written, against ``bioscan_dataset`` (with its MD5 checks of the
real files switched off: the root is generated). ``ours`` runs it with ``bioscan_dataset``
replaced by ``bioscan_h5`` in its import lines, and nothing else changed.

The example runs as the ``__main__`` module of a script (so an unguarded script with worker
processes behaves as a user's would). Afterwards every dataset it left in its globals is
described (class, length, repr, the first, second and last samples) and written to OUT.json
with the example's outcome (``ok``, or the exception's type and line).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import traceback
import types


def _quiet_integrity_checks() -> None:
    """The peer checks the MD5 of the real dataset's files; the sample root is generated."""
    import bioscan_dataset

    for cls in (bioscan_dataset.BIOSCAN5M, bioscan_dataset.BIOSCAN1M):
        for name in dir(cls):
            if name.startswith("_check_integrity"):
                setattr(cls, name, lambda self, *a, **k: True)


def _value(x):
    """A sample value as JSON: images by mode and size, tensors by shape, dtype and digest."""
    import numpy as np
    import torch
    from PIL import Image

    if isinstance(x, Image.Image):
        return {"image": x.mode, "size": list(x.size)}
    if isinstance(x, torch.Tensor):
        t = x.detach().contiguous()
        return {
            "tensor": list(t.shape),
            "dtype": str(t.dtype),
            "sha1": hashlib.sha1(t.numpy().tobytes()).hexdigest(),
        }
    if isinstance(x, dict):
        return {str(k): _value(v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return [_value(v) for v in x]
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    if isinstance(x, (float, np.floating)):
        return "nan" if math.isnan(x) else float(x)
    if x is None or isinstance(x, (str, int)):
        return x
    return repr(type(x).__name__)


def _sample(ds, i: int):
    try:
        return _value(ds[i])
    except Exception as exc:  # noqa: BLE001 - what matters is that both fail alike
        return {"error": "OSError" if isinstance(exc, OSError) else type(exc).__name__}


def _describe(ds) -> dict:
    n = len(ds)
    picks = sorted({0, 1, n - 1} & set(range(n)))
    return {
        "class": type(ds).__name__,
        "len": n,
        "repr": re.sub(r" at 0x[0-9a-f]+", " at 0x...", repr(ds)),  # addresses differ between processes
        "samples": {str(i): _sample(ds, i) for i in picks},
    }


def main(impl: str, example: str, out: str) -> int:
    source = open(example, encoding="utf-8").read()
    if impl == "peer":
        _quiet_integrity_checks()
    else:  # the import, and nothing else
        source = re.sub(r"^(\s*(?:from|import)\s+)bioscan_dataset\b", r"\1bioscan_h5", source, flags=re.M)
    module = types.ModuleType("__main__")
    module.__file__ = example
    module.__builtins__ = __builtins__
    real_main, sys.modules["__main__"] = sys.modules["__main__"], module
    outcome = {"status": "ok"}
    try:
        exec(compile(source, example, "exec"), module.__dict__)  # noqa: S102 - the example is the test's input
    except Exception as exc:  # noqa: BLE001
        line = next(
            (f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__)) if f.filename == example),
            None,
        )
        outcome = {
            "status": "error",
            "type": "OSError" if isinstance(exc, OSError) else type(exc).__name__,
            "line": line,
        }
    finally:
        sys.modules["__main__"] = real_main
    import torch

    datasets = {
        name: _describe(value)
        for name, value in sorted(vars(module).items())
        if isinstance(value, torch.utils.data.Dataset)
    }
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"outcome": outcome, "datasets": datasets}, fh, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
