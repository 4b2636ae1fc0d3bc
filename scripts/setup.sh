#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
# torch is installed first as the CPU build, so that nothing pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
# Requirements pinned before the project is installed (e.g. "nvflare==2.7.2"), so pip keeps them.
PINS=${PINS:-}

# User code runs sandboxed with bubblewrap (DESIGN §8): install Debian's package when it is missing and we can.
if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >&2
    else
        echo "setup.sh: bubblewrap (bwrap) is missing; install it (e.g. sudo apt-get install bubblewrap): user code runs in it" >&2
    fi
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
. "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
    python -m pip install --quiet "torch==$TORCH_VERSION"
fi
if [ -n "$PINS" ]; then
    # shellcheck disable=SC2086
    python -m pip install --quiet $PINS
fi
python -m pip install --quiet -e ".[test]" ${PINS:+$PINS}
# plugins that ship beside the package, with their own packaging and tests
for plugin in plugins/*/; do
    python -m pip install --quiet --no-deps -e "$plugin"
done
# fdd-mlflow needs the MLflow client, and its tests a real tracking server (`mlflow server`): its [test] extra
if ! python -c 'import importlib.metadata as m; m.distribution("mlflow"); m.distribution("mlflow-skinny")' 2>/dev/null; then
    python -m pip install --quiet -e "plugins/fdd-mlflow[test]" ${PINS:+$PINS}
fi
echo "environment ready: $VENV ($(python -c 'import importlib.metadata as m, nvflare, torch; print("nvflare", nvflare.__version__, "torch", torch.__version__, "mlflow", m.version("mlflow"))'))"
