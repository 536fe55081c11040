#!/usr/bin/env bash
# Build FFCV 1.0.2 in its own virtual environment, .venv-ffcv/ at the repository root, as the
# anchor that bench/read.py compares against. FFCV is never a dependency of bioscan-h5.
# Steps and the reasons for each pin: bench/README.md. Needs root for apt-get (or run that
# line yourself first). Usage: bash bench/setup_ffcv.sh [PYTHON]   (default python3, 3.11 tested)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
VENV=.venv-ffcv

if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libturbojpeg0-dev libopencv-dev pkg-config build-essential
fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# torch 2.13.0 (CPU build): FFCV imports torch; this one is small and needs no GPU.
"$VENV/bin/pip" install -q torch==2.13.0
# FFCV's build needs these in the environment (no build isolation); pillow and tqdm are
# imported by ffcv but not declared by the --no-deps install below.
"$VENV/bin/pip" install -q cython==3.3.1 opencv-python-headless==5.0.0.93 numba==0.68.1 numpy==2.4.6 \
    pillow==13.0.0 tqdm==4.70.1
"$VENV/bin/pip" install -q --no-deps --no-build-isolation ffcv==1.0.2 terminaltables pytorch_pfn_extras \
    fastprogress psutil imgcat assertpy
"$VENV/bin/python" -c "from importlib.metadata import version; import ffcv, numpy; print('ffcv', version('ffcv'), 'numpy', numpy.__version__)"
