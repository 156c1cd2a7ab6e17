#!/usr/bin/env bash
# Collect every wheel Winslow needs (with its test tools, and setuptools to build it) into DIR,
# for machines that cannot reach PyPI: copy DIR there and run
#   scripts/install.sh --wheels DIR        (or WINSLOW_WHEELS=DIR scripts/test.sh, docker build
#                                           with DIR as .wheels/ in the build context)
# Run it with the Python minor version of the target machines (Debian 12: 3.11) on the same
# architecture, since compiled wheels (pydantic-core, httptools, PyYAML, psutil) are per version.
#   scripts/wheelhouse.sh DIR              (PYTHON picks the interpreter, default python3)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
[ $# -eq 1 ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
DIR="$1"
mkdir -p "$DIR"
"$PYTHON" -m pip wheel -q --disable-pip-version-check -w "$DIR" "$ROOT[dev]" 'setuptools>=68' wheel
echo "wheelhouse: $(find "$DIR" -name '*.whl' | wc -l) wheels in $DIR for $("$PYTHON" --version)"
