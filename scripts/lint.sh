#!/usr/bin/env bash
# Lint the repository with ruff, then type-check the package with mypy (both configured in pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .venv/bin/activate ]; then
    . .venv/bin/activate
fi
ruff check .
mypy nvflare_fdd
