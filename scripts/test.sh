#!/usr/bin/env bash
# The test command (README): static checks, then the whole pytest suite; arguments go to pytest.
# Needs a running Docker engine and the winslow/busybox image (scripts/install.sh or
# scripts/setup-host.sh); Prometheus for the metrics test (setup-host.sh --tests).
#
# The tools run in PYTHON when it is set (CI keeps its own environment); otherwise in .venv/ of
# this checkout, made on the first run with the test tools (from PyPI, or only from
# WINSLOW_WHEELS, see scripts/wheelhouse.sh) and brought up to date when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${PYTHON:-}" ]; then
    PYTHON=.venv/bin/python
    stamp=.venv/.winslow-pyproject
    if ! cmp -s pyproject.toml "$stamp" 2>/dev/null || ! "$PYTHON" -c 'import sys' 2>/dev/null; then
        echo "::: venv: installing Winslow and its test tools into .venv"
        "$PYTHON" -c 'import sys' 2>/dev/null || python3 -m venv .venv
        pip_opts=(-q --disable-pip-version-check)
        [ -n "${WINSLOW_WHEELS:-}" ] && pip_opts+=(--no-index --find-links "$WINSLOW_WHEELS")
        "$PYTHON" -m pip install "${pip_opts[@]}" -e '.[dev]'
        cp pyproject.toml "$stamp"
    fi
fi
BIN="$(dirname "$PYTHON")"
lint_imports="$BIN/lint-imports"
[ -x "$lint_imports" ] || lint_imports=lint-imports

echo "::: ruff";          "$PYTHON" -m ruff check .
echo "::: mypy";          "$PYTHON" -m mypy
echo "::: import-linter"; "$lint_imports"
# Two lanes at once (tests/conftest.py marks them): the heavy tests (node processes, containers,
# mounts, a browser) one at a time, as their timings assume, and beside them the pure and
# in-process ones at the lowest CPU priority, so that they take only what the heavy lane leaves.
# WINSLOW_TEST_LANES=1 runs everything in one pytest.
pytest=("$PYTHON" -m pytest -q -rs -p no:cacheprovider)
if [ "${WINSLOW_TEST_LANES:-2}" = 1 ]; then
    echo "::: pytest"
    rc=0
    "${pytest[@]}" "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then
        echo "test: pytest collected no tests; that is a failure here" >&2
        exit 1
    fi
    exit "$rc"
fi
light_log=$(mktemp)
trap 'rm -f "$light_log"' EXIT
echo "::: pytest, light lane (its output follows the heavy lane's)"
nice -n 19 "${pytest[@]}" -m "not heavy" "$@" >"$light_log" 2>&1 &
light=$!
echo "::: pytest, heavy lane"
heavy_rc=0
"${pytest[@]}" -m heavy "$@" || heavy_rc=$?
light_rc=0
wait "$light" || light_rc=$?
echo "::: pytest, light lane"
cat "$light_log"
echo "::: lanes: heavy rc=$heavy_rc, light rc=$light_rc"
if [ "$heavy_rc" -eq 5 ] && [ "$light_rc" -eq 5 ]; then
    echo "test: pytest collected no tests; that is a failure here" >&2
    exit 1
fi
# a lane that the arguments left empty (5) is no failure when the other ran tests
[ "$heavy_rc" -eq 5 ] && heavy_rc=0
[ "$light_rc" -eq 5 ] && light_rc=0
[ "$heavy_rc" -ne 0 ] && exit "$heavy_rc"
exit "$light_rc"
