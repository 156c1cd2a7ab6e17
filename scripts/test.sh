#!/usr/bin/env bash
# The test command (README): static checks, then the whole pytest suite.
# Needs a running Docker engine and the winslow/busybox image (scripts/setup-host.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"

echo "::: ruff";          "$PYTHON" -m ruff check .
echo "::: mypy";          "$PYTHON" -m mypy
echo "::: import-linter"; lint-imports
echo "::: pytest"
rc=0
"$PYTHON" -m pytest -q -p no:cacheprovider "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "test: pytest collected no tests; that is a failure here" >&2
    exit 1
fi
exit "$rc"
