#!/usr/bin/env bash
# A one-node Slurm on this machine, for tests of `winslow node --runtime slurm`.
#
#   scripts/slurm-dev.sh up     install if missing (Debian 12: slurm-wlm, munge, podman), write a
#                               one-node slurm.conf (partition `winslow` of this machine's size),
#                               start munged, slurmctld and slurmd, wait until a job completes,
#                               and give podman the test image winslow/busybox:latest
#   scripts/slurm-dev.sh down   stop the daemons this script started
#   scripts/slurm-dev.sh status what runs, and sinfo
#
# Localhost only; run as root. Without slurmdbd, `sacct` says accounting is disabled and Winslow
# asks squeue/scontrol instead (jobs stay visible there for MinJobAge). Logs: /var/log/slurm/.
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/var/lib/slurm
LOGS=/var/log/slurm
RUN=/run/winslow-slurm-dev
IMAGE=${WINSLOW_TEST_IMAGE:-winslow/busybox:latest}

say() { printf 'slurm-dev: %s\n' "$*" >&2; }

need_root() {
  if [[ $(id -u) != 0 ]]; then
    say "run as root (it installs packages and starts daemons)"
    exit 1
  fi
}

install() {
  local missing=()
  command -v slurmctld >/dev/null || missing+=(slurm-wlm)
  command -v munged >/dev/null || missing+=(munge)
  command -v podman >/dev/null || missing+=(podman)
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

write_conf() {
  local host node
  host=$(hostname -s)
  # the machine as slurmd sees it (a node that claims more than it has is drained)
  node=$(slurmd -C | head -1 | sed -E "s/^NodeName=[^ ]+/NodeName=$host NodeAddr=127.0.0.1/; s/ UpTime=.*//")
  mkdir -p "$CONF_DIR" "$STATE/slurmctld" "$STATE/slurmd" "$LOGS"
  cat >"$CONF_DIR/slurm.conf" <<EOF
# Written by winslow scripts/slurm-dev.sh: a one-node Slurm for tests.
ClusterName=winslow-dev
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MinJobAge=600
KillWait=10
$node State=UNKNOWN
PartitionName=winslow Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  # slurmd 22.05 reads cgroup.conf even with proctrack/linuxproc; keep it away from cgroups
  [[ -f $CONF_DIR/cgroup.conf ]] || printf 'CgroupPlugin=autodetect\nIgnoreSystemd=yes\n' >"$CONF_DIR/cgroup.conf"
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return
  fi
  [[ -f /etc/munge/munge.key ]] || /usr/sbin/mungekey --create >/dev/null 2>&1 ||
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
  runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
  munge -n | unmunge >/dev/null
  touch "$RUN/munged.started" # ours: `down` stops it
}

running() { [[ -f $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid" 2>/dev/null)" 2>/dev/null; }

wait_for() {
  local what=$1 seconds=$2
  shift 2
  for ((i = 0; i < seconds * 2; i++)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  say "$what did not happen within ${seconds}s; see $LOGS/"
  return 1
}

node_idle() { sinfo -h -o '%T' | grep -qE '^(idle|mixed|allocated)'; }

podman_image() {
  if podman image exists "$IMAGE" 2>/dev/null; then
    return
  fi
  if command -v docker >/dev/null && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "copying $IMAGE from Docker to podman"
    docker save "$IMAGE" | podman load >/dev/null
  else
    say "warning: $IMAGE is in neither podman nor Docker (scripts/setup-host.sh builds it)"
  fi
}

up() {
  need_root
  mkdir -p "$RUN"
  install
  write_conf
  start_munge
  running slurmctld || slurmctld
  running slurmd || slurmd
  wait_for "slurmctld answering" 30 scontrol ping
  wait_for "the node registering" 30 sinfo -h -o %T
  if sinfo -h -o '%T' | grep -qE 'drain|down'; then
    scontrol update nodename="$(hostname -s)" state=resume || true
  fi
  wait_for "the node idle" 30 node_idle
  local out
  out=$(mktemp)
  sbatch --quiet --wait --partition=winslow --output="$out" --wrap 'echo hi' >/dev/null
  if [[ $(cat "$out") != hi ]]; then
    say "a test job did not print hi: $(cat "$out")"
    rm -f "$out"
    exit 1
  fi
  rm -f "$out"
  podman_image
  sinfo
  say "up: partition winslow; stop with $0 down"
}

down() {
  need_root
  local daemon
  for daemon in slurmd slurmctld; do
    if running "$daemon"; then
      kill "$(cat "$RUN/$daemon.pid")"
      for ((i = 0; i < 40; i++)); do running "$daemon" || break; sleep 0.25; done
    fi
    rm -f "$RUN/$daemon.pid"
  done
  if [[ -f $RUN/munged.started ]]; then
    pkill -x -F /run/munge/munged.pid munged 2>/dev/null || true
    rm -f "$RUN/munged.started"
  fi
  say "down"
}

status() {
  local daemon
  for daemon in slurmctld slurmd; do
    if running "$daemon"; then echo "$daemon: running ($(cat "$RUN/$daemon.pid"))"; else echo "$daemon: stopped"; fi
  done
  sinfo 2>&1 || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
