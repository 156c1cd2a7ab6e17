#!/usr/bin/env bash
# Quick start: prepare the host (Docker engine + local test image) and install Winslow with its
# development extras into the current Python environment. Works from any directory.
#   scripts/install.sh [--skip-apt]     (host setup needs root; sudo is used when available)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

if [ "$(id -u)" -eq 0 ]; then
    scripts/setup-host.sh "$@"
elif command -v sudo >/dev/null; then
    sudo --preserve-env=WINSLOW_SKIP_APT,WINSLOW_DOCKERD_FLAGS scripts/setup-host.sh "$@"
else
    echo "install: scripts/setup-host.sh needs root and sudo is missing; run it as root first" >&2
    exit 1
fi

echo "install: $PYTHON -m pip install -e '.[dev]' (in $ROOT)"
"$PYTHON" -m pip install -q -e '.[dev]'
echo "install: done; try: winslow --help, winsctl --help"
