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
# Three lanes at once (tests/conftest.py marks them): the tests that start node processes,
# containers, mounts or a browser one at a time, as their timings assume (serial); beside them
# those of such tests that mostly wait, idle, with generous timings (waiting); and the pure and
# in-process ones at the lowest CPU priority, so that they take only what the others leave.
# WINSLOW_TEST_LANES=1 runs everything in one pytest.
pytest=("$PYTHON" -m pytest -q -rs -p no:cacheprovider)
if [ "${WINSLOW_TEST_LANES:-3}" = 1 ]; then
    echo "::: pytest"
    rc=0
    "${pytest[@]}" "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then
        echo "test: pytest collected no tests; that is a failure here" >&2
        exit 1
    fi
    exit "$rc"
fi
logs=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT  # an interrupted run leaves no lane behind
echo "::: pytest in three lanes: serial here; waiting and light follow once it is done"
"${pytest[@]}" -m waiting "$@" >"$logs/waiting" 2>&1 &
waiting=$!
nice -n 19 "${pytest[@]}" -m "not serial and not waiting" "$@" >"$logs/light" 2>&1 &
light=$!
rcs=()
rc=0
"${pytest[@]}" -m serial "$@" 2>&1 | tee "$logs/serial" || rc=$?
rcs+=("$rc")
for lane in waiting light; do
    rc=0
    wait "${!lane}" || rc=$?
    rcs+=("$rc")
    echo "::: pytest, $lane lane"
    cat "$logs/$lane"
done
# what each lane's pytest said last ("5 passed in 1.20s"), on one line
summary=()
for lane in serial waiting light; do
    summary+=("$lane: $(tail -n 1 "$logs/$lane")")
done
echo "::: lanes: ${summary[0]} | ${summary[1]} | ${summary[2]}"
# a lane that the arguments left empty (5) is no failure while another ran tests
worst=0
ran=0
for rc in "${rcs[@]}"; do
    [ "$rc" -ne 5 ] && ran=1
    [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && worst=$rc
done
if [ "$ran" -eq 0 ]; then
    echo "test: pytest collected no tests; that is a failure here" >&2
    exit 1
fi
exit "$worst"
