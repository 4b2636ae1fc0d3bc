#!/usr/bin/env bash
# Run one end-to-end simulator job on NVFlare 2.7.2 (the line K-MELLODDY sites run),
# in its own environment (.venv-nvflare27), next to the main suite's NVFlare 2.9.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-nvflare27 PINS="nvflare==2.7.2" scripts/setup.sh
. .venv-nvflare27/bin/activate
python -c 'import nvflare; assert nvflare.__version__ == "2.7.2", nvflare.__version__; print("nvflare", nvflare.__version__)'
python -m pytest -q tests/e2e/test_simulator_run.py -k "two_sites or failing_train"
