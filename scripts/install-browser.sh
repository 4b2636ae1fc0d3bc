#!/usr/bin/env bash
# Install the headless browser the web UI's browser tests drive (tests/web/test_browser.py):
# Debian's chromium and chromium-driver, and fonts-noto-cjk so Korean labels render in the
# screenshots. No browser is downloaded at test time. Does nothing when both are present.
# Needs root (or sudo) to install. Usage: scripts/install-browser.sh
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-browser.sh: run as root (or install sudo) to install chromium" >&2; exit 1; }
    SUDO=sudo
fi
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-noto-cjk >&2
chromium --version >&2
chromedriver --version >&2
