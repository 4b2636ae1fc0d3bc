#!/usr/bin/env bash
# Set up the environment, then run the federated demo: the example bundle across three
# institutions' KDA databases built from real measured molecules. Extra arguments go to `fdd demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
fdd demo "$@"
