#!/usr/bin/env bash
# Prepare a Debian 12 host (or CI sandbox) for Winslow: Docker engine running, local test image built.
#
# Idempotent; run as root. Steps, each skipped when already done:
#   1. apt: install docker.io, busybox-static, iptables, apparmor (skip with --skip-apt or WINSLOW_SKIP_APT=1);
#      with --tests also prometheus (the metrics test scrapes a real node with it), chromium (the
#      browser tests: Playwright drives it, downloads none), sshfs and openssh-server (cluster tests
#      also run with each node on its own caching sshfs mount), faketime (a node whose clock is
#      skewed, for the clock-skew test).
#   2. dockerd: started in the background (log: $WINSLOW_DOCKERD_LOG, default /tmp/dockerd.log)
#      unless `docker info` already works. Flag sets are tried in order until a container runs:
#        (defaults)                                   overlay2 + docker0 bridge with iptables NAT
#        --storage-driver=vfs                         when overlay2 cannot mount (nested overlay)
#        --iptables=false --bridge=none               when bridge/iptables setup fails
#        --storage-driver=vfs --iptables=false --bridge=none
#      With --bridge=none there is no default bridge network: containers get only a loopback
#      interface (as with --network none); --network host still works.
#      On the Debian 12 sandbox this was written on (kernel 6.18, cgroup v1, cgroupfs driver) the
#      defaults work: overlay2, bridge networking, published ports, --cpus/--memory all fine.
#      Override the list with WINSLOW_DOCKERD_FLAGS="..." (one set, tried alone).
#   3. image winslow/busybox:latest, made without any registry: busybox-static + applet symlinks,
#      packed with tar and loaded with `docker import` (rebuild with WINSLOW_REBUILD_IMAGE=1).
#   4. smoke test: docker run --rm winslow/busybox:latest sh -c 'echo ok; ls /; sleep 0.1'
set -euo pipefail

IMAGE="${WINSLOW_TEST_IMAGE:-winslow/busybox:latest}"
DOCKERD_LOG="${WINSLOW_DOCKERD_LOG:-/tmp/dockerd.log}"
DOCKERD_WAIT="${WINSLOW_DOCKERD_WAIT:-60}"   # seconds to wait for `docker info`
SKIP_APT="${WINSLOW_SKIP_APT:-0}"
PACKAGES=(docker.io busybox-static iptables apparmor)  # apparmor: dockerd needs apparmor_parser on AppArmor kernels

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    echo "Usage: $0 [--skip-apt] [--tests] [--help]"
}
for arg in "$@"; do
    case "$arg" in
        --skip-apt) SKIP_APT=1 ;;
        --tests) PACKAGES+=(prometheus chromium sshfs openssh-server openssh-client faketime) ;;
        -h|--help) usage; exit 0 ;;
        *) echo "setup-host: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
    esac
done

START=$SECONDS
say() { printf 'setup-host [%3ds] %s\n' "$((SECONDS - START))" "$*"; }
die() { printf 'setup-host: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo $0)"

# --- 1. packages ------------------------------------------------------------------------------
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

wait_for_other_apt() {
    # Another apt/dpkg run (e.g. a provisioning step) holds the lock: wait for it, bounded.
    local waited=0
    command -v pgrep >/dev/null || return 0  # procps is missing on a minimal system: no one to wait for
    while pgrep -x apt-get >/dev/null || pgrep -x apt >/dev/null || pgrep -x dpkg >/dev/null; do
        [ "$waited" -eq 0 ] && say "waiting for another apt/dpkg process to finish"
        [ "$waited" -ge 600 ] && die "apt/dpkg still busy after 600s"
        sleep 2; waited=$((waited + 2))
    done
}

if [ "$SKIP_APT" = 1 ]; then
    say "apt: skipped (--skip-apt / WINSLOW_SKIP_APT=1)"
else
    wait_for_other_apt
    missing=()
    for p in "${PACKAGES[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "apt: ${PACKAGES[*]} already installed"
    else
        say "apt: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt_opts=(-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef
                  -o Dpkg::Options::=--force-confold)
        # Update the package lists once, and only when something has to be installed.
        apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
        apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}" >/dev/null
        say "apt: done"
    fi
fi
command -v dockerd >/dev/null || die "dockerd not found (install docker.io, or run without --skip-apt)"
command -v docker >/dev/null || die "docker CLI not found"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (install busybox-static)"

# --- 2. dockerd -------------------------------------------------------------------------------
docker_up() { docker info >/dev/null 2>&1; }

dockerd_pid() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
    return 0
}

stop_dockerd() {
    local pid
    pid=$(dockerd_pid)
    [ -n "$pid" ] || return 0
    say "dockerd: stopping pid $pid"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
    die "dockerd pid $pid did not stop within 30s"
}

start_dockerd() {  # $1: flags (word-split on purpose)
    local flags="$1" waited=0 pid
    say "dockerd: starting with flags: ${flags:-(defaults)} (log: $DOCKERD_LOG)"
    echo "=== $(date -Is) dockerd ${flags}" >>"$DOCKERD_LOG"
    # setsid: own session, so the daemon outlives this script and the CI job's process group.
    # shellcheck disable=SC2086
    setsid dockerd $flags >>"$DOCKERD_LOG" 2>&1 </dev/null &
    pid=$!
    while ! docker_up; do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "dockerd: exited during start-up; last log lines:"
            tail -n 5 "$DOCKERD_LOG" | sed 's/^/    /'
            return 1
        fi
        if [ "$waited" -ge "$DOCKERD_WAIT" ]; then
            say "dockerd: no answer to 'docker info' after ${DOCKERD_WAIT}s"
            kill "$pid" 2>/dev/null || true
            sleep 2
            return 1
        fi
        sleep 1; waited=$((waited + 1))
    done
    say "dockerd: up (pid $pid) after ${waited}s"
    echo "$flags" >/var/run/winslow-dockerd.flags
}

# --- 3. test image ----------------------------------------------------------------------------
build_image() {
    if [ "${WINSLOW_REBUILD_IMAGE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
        say "image: $IMAGE already present"
        return 0
    fi
    say "image: building $IMAGE from $BUSYBOX (no registry)"
    local tmp rootfs applet
    tmp=$(mktemp -d)
    rootfs="$tmp/rootfs"
    mkdir -p "$rootfs"/{bin,etc,tmp,root,home,var/tmp,proc,sys,dev}
    chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
    cp "$BUSYBOX" "$rootfs/bin/busybox"
    for applet in $("$BUSYBOX" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
    # merged-/usr layout so #!/usr/bin/env and /sbin paths resolve too
    mkdir -p "$rootfs/usr"
    ln -s ../bin "$rootfs/usr/bin"
    ln -s bin "$rootfs/sbin"
    ln -s ../bin "$rootfs/usr/sbin"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    echo winslow-busybox >"$rootfs/etc/hostname"
    tar --numeric-owner -C "$rootfs" -cf "$tmp/rootfs.tar" .
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/sh"]' \
        "$tmp/rootfs.tar" "$IMAGE" >/dev/null
    rm -rf "$tmp"
    say "image: $IMAGE imported"
}

smoke_test() {
    local out
    out=$(docker run --rm "$IMAGE" sh -c 'echo ok; ls /; sleep 0.1' 2>&1) || {
        say "smoke test failed:"; printf '%s\n' "$out" | sed 's/^/    /'; return 1; }
    printf '%s\n' "$out" | head -n1 | grep -qx ok || {
        say "smoke test: unexpected output:"; printf '%s\n' "$out" | sed 's/^/    /'; return 1; }
}

try_config() {  # start dockerd with $1, build the image, run a container
    stop_dockerd
    start_dockerd "$1" || return 1
    build_image || return 1
    smoke_test
}

if docker_up; then
    say "dockerd: already running"
    build_image
    if ! smoke_test; then
        started_by_us=$( [ -f /var/run/winslow-dockerd.flags ] && [ -n "$(dockerd_pid)" ] && echo 1 || true)
        [ "$started_by_us" = 1 ] || die "the running Docker engine cannot run $IMAGE; not touching a daemon this script did not start"
        say "dockerd: running daemon (started by this script) fails the smoke test; retrying configurations"
        docker_up_ok=0
    else
        docker_up_ok=1
    fi
else
    docker_up_ok=0
fi

if [ "$docker_up_ok" = 0 ]; then
    if [ -n "${WINSLOW_DOCKERD_FLAGS+x}" ]; then
        candidates=("$WINSLOW_DOCKERD_FLAGS")
    else
        candidates=(""
                    "--storage-driver=vfs"
                    "--iptables=false --bridge=none"
                    "--storage-driver=vfs --iptables=false --bridge=none")
    fi
    ok=0
    for flags in "${candidates[@]}"; do
        if try_config "$flags"; then ok=1; break; fi
        say "dockerd: flags '${flags:-(defaults)}' did not work"
    done
    [ "$ok" = 1 ] || { stop_dockerd; die "no dockerd configuration could run a container; see $DOCKERD_LOG"; }
fi

say "docker: $(docker info --format '{{.ServerVersion}}, storage {{.Driver}}, cgroup v{{.CgroupVersion}} ({{.CgroupDriver}})' 2>/dev/null)"
say "smoke test passed: docker run --rm $IMAGE works; setup done in $((SECONDS - START))s"
