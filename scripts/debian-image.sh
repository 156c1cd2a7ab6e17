#!/usr/bin/env bash
# Local Debian 12 images made without any registry, for the install and node-image tests:
#   winslow/debian:12          debootstrap --variant=minbase bookworm from Debian's mirror,
#                              packed with tar and loaded with `docker import`
#   winslow/debian-python:12   the same with python3 and python3-venv: the base of the node image
#                              in CI (docker build --build-arg BASE=winslow/debian-python:12 .)
# Each is made once and kept (WINSLOW_REBUILD_IMAGE=1 makes them again); run as root. Installs
# debootstrap when it is missing. WINSLOW_DEBIAN_MIRROR names another mirror.
set -euo pipefail
BASE=winslow/debian:12
PYTHON_BASE=winslow/debian-python:12
MIRROR="${WINSLOW_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
START=$SECONDS
say() { printf 'debian-image [%3ds] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf 'debian-image: ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap makes device nodes and chowns)"
have() { [ "${WINSLOW_REBUILD_IMAGE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

# One maker at a time on a machine: a second run waits and then finds the images made.
exec 9>/tmp/winslow-debian-image.lock
flock 9

if have "$BASE"; then
    say "$BASE already present"
else
    if ! command -v debootstrap >/dev/null; then
        say "apt: installing debootstrap"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
        apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends debootstrap >/dev/null
    fi
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    say "debootstrap --variant=minbase bookworm from $MIRROR"
    debootstrap --variant=minbase bookworm "$tmp/rootfs" "$MIRROR" >"$tmp/debootstrap.log" 2>&1 \
        || { tail -n 20 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$tmp"/rootfs/var/cache/apt/archives/*.deb "$tmp"/rootfs/var/lib/apt/lists/*
    tar --numeric-owner -C "$tmp/rootfs" -cf - . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
    say "$BASE imported"
fi

if have "$PYTHON_BASE"; then
    say "$PYTHON_BASE already present"
else
    say "building $PYTHON_BASE (apt: python3 python3-venv)"
    docker build -q -t "$PYTHON_BASE" - >/dev/null <<DOCKERFILE
FROM $BASE
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        python3 python3-venv && rm -rf /var/lib/apt/lists/*
DOCKERFILE
    say "$PYTHON_BASE built"
fi
say "done in $((SECONDS - START))s"
