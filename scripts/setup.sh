#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
# torch is installed first as the CPU build, so that nothing pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
. "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
    python -m pip install --quiet "torch==$TORCH_VERSION"
fi
python -m pip install --quiet -e ".[test]"
echo "environment ready: $VENV ($(python -c 'import nvflare, torch; print("nvflare", nvflare.__version__, "torch", torch.__version__)'))"
