#!/usr/bin/env bash
# A one-node Slurm on this machine, for tests of `winslow node --runtime slurm`.
#
#   scripts/slurm-dev.sh up     install if missing (Debian 12: slurm-wlm, slurmdbd, munge,
#                               mariadb-server, podman), write a one-node slurm.conf (partition
#                               `winslow` of this machine's size) and slurmdbd.conf, start munged,
#                               MariaDB, slurmdbd, slurmctld and slurmd, wait until a job completes
#                               and sacct shows it, and give podman the test image
#                               winslow/busybox:latest
#   scripts/slurm-dev.sh down   stop the daemons this script started
#   scripts/slurm-dev.sh status what runs, and sinfo
#
# Localhost only (MariaDB listens on its socket alone); run as root. Logs: /var/log/slurm/.
# WINSLOW_SLURM_ACCOUNTING=0 leaves out slurmdbd and MariaDB: `sacct` then says accounting is
# disabled and Winslow asks squeue/scontrol instead (jobs stay visible there for MinJobAge).
set -euo pipefail

CONF_DIR=/etc/slurm
STATE=/var/lib/slurm
LOGS=/var/log/slurm
RUN=/run/winslow-slurm-dev
IMAGE=${WINSLOW_TEST_IMAGE:-winslow/busybox:latest}
ACCOUNTING=${WINSLOW_SLURM_ACCOUNTING:-1}
DB_SOCKET=/run/mysqld/mysqld.sock

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
  if [[ $ACCOUNTING == 1 ]]; then
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
  fi
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# Writes slurm.conf (and slurmdbd.conf); says on stdout whether slurm.conf changed.
write_conf() {
  local host node accounting=accounting_storage/none new
  host=$(hostname -s)
  [[ $ACCOUNTING == 1 ]] && accounting=accounting_storage/slurmdbd
  # the machine as slurmd sees it (a node that claims more than it has is drained)
  node=$(slurmd -C | head -1 | sed -E "s/^NodeName=[^ ]+/NodeName=$host NodeAddr=127.0.0.1/; s/ UpTime=.*//")
  mkdir -p "$CONF_DIR" "$STATE/slurmctld" "$STATE/slurmd" "$LOGS"
  new=$(mktemp)
  cat >"$new" <<EOF
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
AccountingStorageType=$accounting
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
ReturnToService=2
MinJobAge=600
KillWait=10
$node State=UNKNOWN
PartitionName=winslow Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if cmp -s "$new" "$CONF_DIR/slurm.conf"; then
    rm -f "$new"
  else
    mv "$new" "$CONF_DIR/slurm.conf"
    chmod 644 "$CONF_DIR/slurm.conf"
    echo changed
  fi
  if [[ $ACCOUNTING == 1 ]]; then
    (
      umask 077
      cat >"$CONF_DIR/slurmdbd.conf" <<EOF
# Written by winslow scripts/slurm-dev.sh: accounting for the one-node test Slurm.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=winslow-dev
StorageLoc=slurm_acct_db
LogFile=$LOGS/slurmdbd.log
PidFile=$RUN/slurmdbd.pid
EOF
    )
  fi
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

stop_daemon() {
  if running "$1"; then
    kill "$(cat "$RUN/$1.pid")"
    for ((i = 0; i < 40; i++)); do running "$1" || break; sleep 0.25; done
  fi
  rm -f "$RUN/$1.pid"
}

database_up() { mariadb --socket="$DB_SOCKET" -e 'select 1' >/dev/null 2>&1; }

start_database() {
  if ! database_up; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    # no TCP at all: slurmdbd comes through the socket
    (mariadbd-safe --skip-networking --socket="$DB_SOCKET" >/dev/null 2>&1 &)
    touch "$RUN/mariadb.started" # ours: `down` stops it
    wait_for "MariaDB answering" 60 database_up
  fi
  mariadb --socket="$DB_SOCKET" <<'SQL'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'winslow-dev';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
}

start_accounting() {
  start_database
  running slurmdbd || slurmdbd
  wait_for "slurmdbd answering" 60 sacctmgr -n list cluster
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx winslow-dev; then
    sacctmgr -i add cluster winslow-dev >/dev/null
  fi
}

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

sacct_shows_a_job() { sacct -n -X -P -o State -S now-1hour | grep -q COMPLETED; }

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
  local changed
  changed=$(write_conf)
  if [[ -n $changed ]]; then # a slurmctld of another configuration: start it again
    stop_daemon slurmd
    stop_daemon slurmctld
  fi
  start_munge
  if [[ $ACCOUNTING == 1 ]]; then
    start_accounting
  fi
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
  if [[ $ACCOUNTING == 1 ]]; then
    wait_for "sacct showing the test job" 30 sacct_shows_a_job
  fi
  podman_image
  sinfo
  say "up: partition winslow; stop with $0 down"
}

down() {
  need_root
  local daemon
  for daemon in slurmd slurmctld slurmdbd; do
    stop_daemon "$daemon"
  done
  if [[ -f $RUN/mariadb.started ]]; then
    mariadb-admin --socket="$DB_SOCKET" shutdown 2>/dev/null || true
    rm -f "$RUN/mariadb.started"
  fi
  if [[ -f $RUN/munged.started ]]; then
    pkill -x -F /run/munge/munged.pid munged 2>/dev/null || true
    rm -f "$RUN/munged.started"
  fi
  say "down"
}

status() {
  local daemon
  for daemon in slurmdbd slurmctld slurmd; do
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
