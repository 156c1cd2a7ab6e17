#!/usr/bin/env bash
# Install Winslow on Debian 12 as root, with nothing but the system Python:
#   1. apt: python3, python3-venv, python3-pip (Debian's python3 refuses root pip installs:
#      externally-managed-environment, so Winslow gets a virtual environment of its own).
#   2. the host as scripts/setup-host.sh prepares it: docker.io, busybox-static, the Docker engine
#      running (not started when `docker info` already answers, e.g. the host's socket mounted
#      into a container) and the local test image winslow/busybox:latest (no registry).
#   3. a virtual environment at $PREFIX/venv with Winslow installed from this checkout, and
#      `winslow` and `winsctl` linked into $BIN (on the PATH).
#   4. with --service: the systemd unit winslow-node.service and /etc/default/winslow, enabled
#      and started when systemd runs (see README, "Run a node at boot").
#
# Usage: scripts/install.sh [--prefix DIR] [--bin DIR] [--dev] [--service] [--skip-apt]
#                           [--skip-host] [--wheels DIR]
#   --prefix DIR   where the virtual environment goes (default /opt/winslow; WINSLOW_PREFIX)
#   --bin DIR      where winslow and winsctl are linked (default /usr/local/bin; WINSLOW_BIN)
#   --dev          editable install with the test tools, and Prometheus for the metrics test
#   --service      install (and enable, where systemd runs) the node's systemd unit
#   --skip-apt     install no system packages (they are there already)
#   --skip-host    leave Docker alone (no engine start, no test image)
#   --wheels DIR   install Python packages only from DIR, never from an index (WINSLOW_WHEELS):
#                  for machines without PyPI; make DIR with scripts/wheelhouse.sh elsewhere
# Idempotent: run it again after `git pull` to update the installed Winslow.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PREFIX="${WINSLOW_PREFIX:-/opt/winslow}"
BIN="${WINSLOW_BIN:-/usr/local/bin}"
WHEELS="${WINSLOW_WHEELS:-}"
SKIP_APT="${WINSLOW_SKIP_APT:-0}"
DEV=0 SERVICE=0 SKIP_HOST=0
ARGS=("$@")

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="$2"; shift ;;
        --bin) BIN="$2"; shift ;;
        --wheels) WHEELS="$2"; shift ;;
        --dev) DEV=1 ;;
        --service) SERVICE=1 ;;
        --skip-apt) SKIP_APT=1 ;;
        --skip-host) SKIP_HOST=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

START=$SECONDS
say() { printf 'install [%3ds] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "run as root (sudo is not installed)"
    say "not root: running again with sudo"
    exec sudo --preserve-env=WINSLOW_PREFIX,WINSLOW_BIN,WINSLOW_WHEELS,WINSLOW_SKIP_APT,WINSLOW_DOCKERD_FLAGS \
        "$0" "${ARGS[@]}"
fi
if [ -n "$WHEELS" ]; then
    WHEELS="$(cd "$WHEELS" && pwd)" || die "--wheels $WHEELS: no such directory"
fi

# --- 1. system packages ---------------------------------------------------------------------
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
PACKAGES=(python3 python3-venv python3-pip)
if [ "$SKIP_APT" = 1 ]; then
    say "apt: skipped"
else
    missing=()
    for p in "${PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "apt: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
        apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" >/dev/null
    else
        say "apt: ${PACKAGES[*]} already installed"
    fi
fi
command -v python3 >/dev/null || die "python3 not found (install python3, or run without --skip-apt)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Winslow needs Python 3.11 or newer; $(python3 --version) found"

# --- 2. the host: Docker engine and test image ----------------------------------------------
if [ "$SKIP_HOST" = 1 ]; then
    say "host: skipped (--skip-host)"
else
    host_args=()
    [ "$SKIP_APT" = 1 ] && host_args+=(--skip-apt)
    [ "$DEV" = 1 ] && host_args+=(--tests)
    "$ROOT/scripts/setup-host.sh" "${host_args[@]+"${host_args[@]}"}"
fi

# --- 3. Winslow in its own virtual environment ----------------------------------------------
VENV="$PREFIX/venv"
if ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    say "venv: creating $VENV"
    rm -rf "$VENV"
    mkdir -p "$PREFIX"
    python3 -m venv "$VENV"
fi
pip_opts=(-q --disable-pip-version-check)
if [ -n "$WHEELS" ]; then
    pip_opts+=(--no-index --find-links "$WHEELS")
    say "pip: from $WHEELS only (no index)"
fi
if [ "$DEV" = 1 ]; then
    say "pip: editable install of $ROOT with the test tools"
    "$VENV/bin/python" -m pip install "${pip_opts[@]}" -e "$ROOT[dev]"
else
    # Built from a copy, so the checkout gets no root-owned build/ and the install does not
    # depend on it afterwards.
    src="$(mktemp -d)"
    trap 'rm -rf "$src"' EXIT
    tar -C "$ROOT" --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./.wheels \
        --exclude='*.egg-info' -cf - . | tar -C "$src" -xf -
    say "pip: installing Winslow from $ROOT into $VENV"
    "$VENV/bin/python" -m pip install "${pip_opts[@]}" --upgrade "$src"
fi
mkdir -p "$BIN"
for tool in winslow winsctl; do
    ln -sfn "$VENV/bin/$tool" "$BIN/$tool"
done
"$BIN/winslow" --help >/dev/null || die "$BIN/winslow does not run"
case ":$PATH:" in *":$BIN:"*) ;; *) say "note: $BIN is not on this shell's PATH" ;; esac

# --- 4. systemd unit ------------------------------------------------------------------------
if [ "$SERVICE" = 1 ]; then
    unit=/etc/systemd/system/winslow-node.service
    install -m 0644 "$ROOT/scripts/winslow-node.service" "$unit"
    sed -i "s#/usr/local/bin/winslow#$BIN/winslow#" "$unit"
    if [ -e /etc/default/winslow ]; then
        say "service: keeping /etc/default/winslow"
    else
        install -m 0644 "$ROOT/scripts/winslow.default" /etc/default/winslow
        say "service: wrote /etc/default/winslow (the share, port and flags of the node)"
    fi
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable --now winslow-node.service
        say "service: winslow-node.service enabled and started (journalctl -u winslow-node -f)"
    else
        say "service: systemd is not running here; start the unit where it is: systemctl enable --now winslow-node"
    fi
fi

say "done: $BIN/winslow and $BIN/winsctl (Python environment $VENV)"
