"""The Slurm adapter behind the runtime port: a stage runs as one Slurm job.

Each ContainerSpec becomes one batch job named after the spec (`winslow-…-<stagerun>`), whose
files live on the share under `run/slurm/<name>/`:

- `job.sh`, the wrapper the job runs: it starts the stage's image with podman (or docker) with
  the spec's mounts and env, writes the stage's output, each line prefixed with a fixed-width UTC
  time (`2026-01-02T03:04:05.123456789Z`, as Docker's log), to `output.log` (rotated to
  `output.log.1` and `.2` as Docker rotates its log), and its exit code to `exit` (written last,
  by rename): that file is the truth about how the stage ended;
- `spec.json`, the name, labels and Slurm job id, so that `find(labels)` works after a restart;
- `notes.log`, lines this node adds in the same stamped form (why Slurm keeps the job waiting, how
  Slurm ended it), merged into `logs()`, so that they reach the run's log (and the message of a
  failed run, which quotes the log's last lines) without anything new in the port;
- `slurm.out`, what Slurm itself says about the job (the wrapper's own errors).

A container's id is its job's name. Slurm is asked about all of this node's jobs at once, at most
once every CACHE_SECONDS (`squeue` for the live ones, `sacct` for those squeue no longer shows;
`scontrol show job` where accounting is disabled), never once per job. A job Slurm does not
show (sacct lags behind sbatch) counts as running for GRACE_SECONDS, unless its exit file says it
ended. A job waiting in Slurm's queue is `queued` at the port: its StageRun stays Pending (it
holds nothing on the workstations' side but its reservation) until Slurm runs it, and Slurm's
reason (`Priority`, `Resources`) is written to the run's log whenever it changes.

Threads: the loop thread, start threads, stop threads and log streamers all call in; the status
snapshot and the notes are guarded by one lock.
"""

from __future__ import annotations

import contextlib
import getpass
import heapq
import json
import logging
import math
import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from winslow.controller.runtime import (
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    LogEntry,
    RuntimeFailure,
)

log = logging.getLogger(__name__)

CACHE_SECONDS = 2.0  # one squeue (and at most one sacct) per this, for all jobs of the node
GRACE_SECONDS = 60.0  # a job Slurm does not show (yet, or any more) is taken as running this long
EXIT_FILE_GRACE = 15.0  # a job Slurm says ended normally: its exit file may take this to show (NFS)
KILL_SECONDS = 3.0  # a fencing kill: how long the wrapper has to kill its container before the cancel
ASK_AFTER_EXIT = 10.0  # a job killed by a signal: how long to wait for Slurm to say why (TIMEOUT, ...)
COMMAND_TIMEOUT = 60.0
FREE_SECONDS = 10.0  # one sinfo per this for the partition's free resources
OUT_OF_SERVICE = ("down", "dr", "fail", "maint", "reboot", "unk", "boot", "pow", "futr", "inval", "npc")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
"""Runs one Slurm command (argv) and returns its outcome; never raises for a non-zero exit."""

LIVE_STATES = {
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
}
WAITING_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SUSPENDED"}
# Ends with no exit file to expect (Slurm signalled or lost the job) and the code they stand for.
ABORTED = {
    "CANCELLED": 143,  # SIGTERM
    "TIMEOUT": 143,
    "DEADLINE": 143,
    "PREEMPTED": 143,
    "NODE_FAIL": 137,
    "BOOT_FAIL": 137,
    "OUT_OF_MEMORY": 137,  # the kernel's SIGKILL
    "REVOKED": 137,
}
ENDED_STATES = {"COMPLETED", "FAILED", "SPECIAL_EXIT", *ABORTED}
WHY = {
    "CANCELLED": "the Slurm job was cancelled (CANCELLED)",
    "TIMEOUT": "the Slurm job reached its time limit (TIMEOUT)",
    "DEADLINE": "the Slurm job reached its deadline (DEADLINE)",
    "PREEMPTED": "the Slurm job was preempted (PREEMPTED)",
    "NODE_FAIL": "the Slurm job's node failed (NODE_FAIL)",
    "BOOT_FAIL": "the Slurm job's node failed to boot (BOOT_FAIL)",
    "OUT_OF_MEMORY": "the Slurm job ran out of memory (OUT_OF_MEMORY)",
    "REVOKED": "the Slurm job was revoked (REVOKED)",
}
ACCOUNTING_DISABLED = "accounting storage is disabled"


def stamp_of(ns: int) -> str:
    """Docker's fixed-width UTC form, so that ordering the strings orders the times."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def run_command(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(args), capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(list(args), 127, "", str(exc))


@dataclass(frozen=True)
class JobRow:
    """One job as Slurm shows it (squeue, sacct or scontrol)."""

    job_id: str
    name: str
    state: str
    """The first word of Slurm's state (`CANCELLED by 0` is CANCELLED)."""
    reason: str = ""
    exit_code: str = ""
    """sacct's `code:signal`, empty where unknown."""


def exit_code_of(text: str) -> int | None:
    """sacct's `3:0` is 3; `0:9` (killed by a signal) is 128 + 9; Slurm's own `0:125` (out of
    memory) is no signal, and 0: the state says what it stands for."""
    code, _, signal = text.strip().partition(":")
    try:
        number = int(code)
        sig = int(signal) if signal else 0
    except ValueError:
        return None
    return number if number or not 0 < sig < 65 else 128 + sig


def parse_rows(text: str) -> list[JobRow]:
    """Lines of `id|name|state|reason|exitcode` (squeue and sacct are asked for that shape); a
    step row (`123.batch`) and anything that does not parse are skipped."""
    rows = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) < 3 or not parts[0] or "." in parts[0]:
            continue
        state = (parts[2].split() or ["UNKNOWN"])[0].rstrip("+").upper()
        rows.append(
            JobRow(
                parts[0],
                parts[1],
                state,
                parts[3] if len(parts) > 3 else "",
                parts[4] if len(parts) > 4 else "",
            )
        )
    return rows


def parse_scontrol(text: str) -> JobRow | None:
    """`scontrol show job -o ID`: one line of `Key=Value` words."""
    fields: dict[str, str] = {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key not in fields:
            fields[key] = value
    if "JobId" not in fields:
        return None
    return JobRow(
        fields["JobId"],
        fields.get("JobName", ""),
        fields.get("JobState", "UNKNOWN").upper(),
        fields.get("Reason", ""),
        fields.get("ExitCode", ""),
    )


@dataclass
class _Job:
    """What this node keeps of one job of its own: read from `spec.json` once."""

    name: str
    labels: dict[str, str]
    job_id: str
    submitted: float
    time_limit: float | None = None
    """The `--time` it was given, in seconds."""
    missing_since: float | None = None
    ended_since: float | None = None
    said: str = ""
    """The last note written about it (one note per change)."""
    end_state: str = ""
    """How Slurm says it ended, once it did."""
    final: int | None = None
    """The exit code it was found ended with where no exit file says it (Slurm is not asked again)."""
    exit_seen: float | None = None
    settled: bool = False
    """Its exit file is read and Slurm said how the job ended (or took too long to): Slurm is not
    asked about it again."""
    cancelled: bool = False
    """This node cancelled it (a kill, a timeout, fencing): its end is no news to report."""


def _podman_args(engine: str, spec: ContainerSpec) -> list[str]:
    args = [engine, "run", "--rm", "--name", spec.name, "--security-opt", "no-new-privileges"]
    for mount in spec.mounts:
        args += ["-v", f"{mount.source}:{mount.target}:{'ro' if mount.read_only else 'rw'}"]
    for key, value in spec.env.items():
        args += ["-e", f"{key}={value}"]
    if spec.command:  # as Docker's entrypoint + command: the first word, then the rest and the args
        return [*args, "--entrypoint", spec.command[0], spec.image, *spec.command[1:], *spec.args]
    return [*args, spec.image, *spec.args]


# The stamper: python3 where the job's node has it (fast), bash otherwise (no fork per line). It
# keeps the output as Docker keeps a container's log: at most LOG_FILES files of LOG_FILE_BYTES
# (output.log, then output.log.1, .2, oldest last), and lines of at most LINE_BYTES (a longer one
# is cut into pieces), so that a loud stage cannot fill the share.
LOG_FILE_BYTES = 64 << 20
LOG_FILES = 3
LINE_BYTES = 16 << 10
_STAMP_PY = """import os,sys,time
path,limit,keep,most=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4])
o=open(path,'ab')
n=o.tell()
while True:
    l=sys.stdin.buffer.readline(most)
    if not l:
        break
    t=time.time_ns()
    b=time.strftime('%Y-%m-%dT%H:%M:%S',time.gmtime(t//10**9)).encode()+b'.%09dZ '%(t%10**9)
    b+=l if l.endswith(b'\\n') else l+b'\\n'
    o.write(b)
    o.flush()
    n+=len(b)
    if n>=limit:
        o.close()
        for i in range(keep-1,1,-1):
            try:
                os.replace(path+'.'+str(i-1),path+'.'+str(i))
            except OSError:
                pass
        os.replace(path,path+'.1')
        o=open(path,'ab')
        n=0
"""

WRAPPER = """#!/bin/bash
# Written by Winslow: runs one stage's container in this Slurm job.
set -u
export LC_ALL=C TZ=UTC
DIR={dir}
NAME={name}
ENGINE={engine}
OUT="$DIR/output.log"
rotate() {{
  local i
  for ((i = {files} - 1; i > 1; i--)); do mv -f "$OUT.$((i - 1))" "$OUT.$i" 2>/dev/null; done
  mv -f "$OUT" "$OUT.1"
}}
stamp() {{
  if command -v python3 >/dev/null 2>&1; then
    exec python3 -c {stamp_py} "$OUT" {file_bytes} {files} {line_bytes}
  fi
  local line t size
  size=$(stat -c %s "$OUT" 2>/dev/null || echo 0)
  while IFS= read -r -n {line_bytes} line || [[ -n $line ]]; do
    t=$EPOCHREALTIME
    printf '%(%Y-%m-%dT%H:%M:%S)T.%s000Z %s\\n' "${{t%.*}}" "${{t#*.}}" "$line" >>"$OUT"
    size=$((size + ${{#line}} + 32))
    if ((size >= {file_bytes})); then rotate; size=0; fi
  done
}}
# the GPUs Slurm gave this job, and no others: podman's CDI names, or docker's --gpus
GPUS=()
IDS=${{SLURM_JOB_GPUS:-${{CUDA_VISIBLE_DEVICES:-}}}}
if [[ -n $IDS && ${{ENGINE##*/}} == podman ]]; then
  for g in ${{IDS//,/ }}; do GPUS+=(--device "nvidia.com/gpu=$g"); done
elif [[ -n $IDS ]]; then
  GPUS=(--gpus "\\"device=$IDS\\"")
fi
finish() {{
  printf '%s\\n' "$1" > "$DIR/exit.tmp.$$" && mv -f "$DIR/exit.tmp.$$" "$DIR/exit"
  exit "$1"
}}
# scancel and a time limit: Slurm sends TERM, then KILL after KillWait (30 s by default); the
# container is stopped within that, since its conmon is no process of the job's. USR2 (a
# watchdog's fencing, `scancel --batch --signal=USR2`) kills it at once.
stop() {{ "$ENGINE" stop -t 5 "$NAME" >/dev/null 2>&1 || true; }}
kill_now() {{ "$ENGINE" kill "$NAME" >/dev/null 2>&1 || true; }}
TMP=$(mktemp -d) || finish 125
trap 'rm -rf "$TMP"' EXIT
mkfifo "$TMP/out" || finish 125
"$ENGINE" rm -f "$NAME" >/dev/null 2>&1 || true
( trap '' TERM INT USR2; stamp ) < "$TMP/out" &
SPID=$!
trap stop TERM INT
trap kill_now USR2
{command} > "$TMP/out" 2>&1 &
CPID=$!
while kill -0 "$CPID" 2>/dev/null; do wait "$CPID"; done
wait "$CPID"
RC=$?
wait "$SPID"
finish "$RC"
"""


def wrapper_script(folder: Path, name: str, engine: str, command: str) -> str:
    """The job's script: `command` (the engine's run, quoted) with the stamper and the traps."""
    return WRAPPER.format(
        dir=shlex.quote(str(folder)),
        name=shlex.quote(name),
        engine=shlex.quote(engine),
        stamp_py=shlex.quote(_STAMP_PY),
        file_bytes=LOG_FILE_BYTES,
        files=LOG_FILES,
        line_bytes=LINE_BYTES,
        command=command,
    )


class SlurmRuntime:
    def __init__(
        self,
        root: Path,
        *,
        partition: str | None = None,
        engine: str = "podman",
        runner: Runner = run_command,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        user: str | None = None,
        extra_args: Sequence[str] = (),
        notes: bool = True,
    ) -> None:
        """`root`: the folder on the share for the jobs' files (`run/slurm`), at the same path on
        every node of the cluster; `runner` runs sbatch, squeue, sacct, scancel and scontrol;
        `notes`: whether this one writes the jobs' notes (the node's does; its watchdog's not)."""
        self.root = root
        self.partition = partition
        self.engine = engine
        self.runner = runner
        self.clock = clock
        self.sleep = sleep
        self.user = user or getpass.getuser()
        self.extra_args = list(extra_args)
        self.notes = notes
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._rows: dict[str, JobRow] = {}
        self._asked_at: float | None = None
        self._accounting = True
        self._free: tuple[float, int, int] | None = None
        self._free_at: float | None = None

    # files

    def job_dir(self, name: str) -> Path:
        return self.root / name

    def _load(self, name: str) -> _Job | None:
        job = self._jobs.get(name)
        if job is not None:
            return job
        try:
            data = json.loads((self.job_dir(name) / "spec.json").read_text())
        except (OSError, ValueError):
            return None
        job = _Job(
            str(data.get("name", name)),
            {str(k): str(v) for k, v in dict(data.get("labels") or {}).items()},
            str(data.get("jobId", "")),
            float(data.get("submitted", 0.0)),
            float(data["timeLimit"]) if data.get("timeLimit") else None,
        )
        self._jobs[name] = job  # without a job id (the node died after sbatch): found by its name
        return job

    def _exit_file(self, name: str) -> int | None:
        try:
            return int((self.job_dir(name) / "exit").read_text().strip())
        except (OSError, ValueError):
            return None

    def _note(self, job: _Job, text: str) -> None:
        """One stamped line in the job's notes (merged into its log), once per change."""
        if job.said == text or not self.notes:
            return
        job.said = text
        line = f"{stamp_of(time.time_ns())} [slurm] {text}\n"
        try:
            with (self.job_dir(job.name) / "notes.log").open("a") as fh:
                fh.write(line)
        except OSError as exc:
            log.info("cannot note %r for %s: %s", text, job.name, exc)

    # the port

    def run(self, spec: ContainerSpec) -> str:
        folder = self.job_dir(spec.name)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            wrapper = folder / "job.sh"
            args = _podman_args(self.engine, spec)
            command = " ".join(shlex.quote(a) for a in args[:2])
            if Path(self.engine).name == "podman":
                # podman raises the container's nofile and nproc limits to the maximum by default,
                # which a job (or a sandbox) may not allow: never above the job's own, and the
                # spec's process limit, as Docker's pids limit
                command += (
                    ' --ulimit "nofile=$(ulimit -Sn):$(ulimit -Sn)"'
                    f" --ulimit nproc={spec.pids}:{spec.pids} --pids-limit {spec.pids}"
                )
            if spec.gpus:  # those Slurm gave the job, found by the wrapper (GPUS)
                command += ' "${GPUS[@]}"'
            command += " " + " ".join(shlex.quote(a) for a in args[2:])
            wrapper.write_text(wrapper_script(folder, spec.name, self.engine, command))
            wrapper.chmod(0o755)
            minutes = max(1, math.ceil(spec.time_limit / 60)) if spec.time_limit else None
            record = {
                "name": spec.name,
                "labels": spec.labels,
                "jobId": "",
                "submitted": self.clock(),
                "timeLimit": minutes * 60 if minutes else None,
            }
            self._write_spec(folder, record)
        except OSError as exc:
            raise RuntimeFailure(f"cannot write the Slurm job's files in {folder}: {exc}") from None
        args = [
            "sbatch",
            "--parsable",
            f"--job-name={spec.name}",
            f"--chdir={folder}",
            f"--output={folder / 'slurm.out'}",
            "--ntasks=1",
            f"--cpus-per-task={max(1, math.ceil(spec.cpu))}",
        ]
        if spec.memory > 0:
            args.append(f"--mem={max(1, math.ceil(spec.memory / (1 << 20)))}M")
        if spec.gpus:
            args.append(f"--gpus={len(spec.gpus)}")
        if minutes:
            args.append(f"--time={minutes}")
        if self.partition:
            args.append(f"--partition={self.partition}")
        args += [*self.extra_args, str(wrapper)]
        done = self.runner(args)
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            why = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
            raise RuntimeFailure(f"sbatch refused the job: {why}")
        job_id = done.stdout.strip().split(";")[0].strip()
        record["jobId"] = job_id
        try:
            self._write_spec(folder, record)
        except OSError as exc:  # found again by its name
            log.warning("cannot record Slurm job %s of %s: %s", job_id, spec.name, exc)
        with self._lock:
            self._jobs[spec.name] = _Job(
                spec.name,
                dict(spec.labels),
                job_id,
                float(str(record["submitted"])),
                minutes * 60 if minutes else None,
            )
            self._asked_at = None  # the next look asks Slurm again
        log.info("submitted %s as Slurm job %s", spec.name, job_id)
        return spec.name

    @staticmethod
    def _write_spec(folder: Path, record: dict[str, object]) -> None:
        tmp = folder / "spec.json.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, folder / "spec.json")

    def find(self, labels: dict[str, str]) -> list[ContainerInfo]:
        try:
            names = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        except OSError:
            return []
        found = []
        with self._lock:
            jobs = [j for n in names if (j := self._load(n)) is not None]
            matching = [j for j in jobs if all(j.labels.get(k) == v for k, v in labels.items())]
            for job in matching:
                found.append(self._info(job))
        return found

    def inspect(self, container_id: str) -> ContainerInfo | None:
        with self._lock:
            job = self._load(container_id)
            return None if job is None else self._info(job)

    def start(self, container_id: str) -> None:
        """A job starts when Slurm says so: nothing to do."""

    def stop(self, container_id: str, timeout: float = 10) -> None:
        with self._lock:
            job = self._load(container_id)
            if job is None:
                return
            job.cancelled = True
            target = job.job_id or None
        select = [target] if target else [f"--name={container_id}", f"--user={self.user}"]
        if timeout < 1:  # no time to end gracefully (fencing): the wrapper kills its container at once
            self.runner(["scancel", "--batch", "--signal=USR2", *select])
            # before the cancel's TERM, which would end the `podman kill` of the wrapper's trap
            until = self.clock() + KILL_SECONDS
            while self._exit_file(container_id) is None and self.clock() < until:
                self.sleep(0.1)
        done = self.runner(["scancel", *select])
        with self._lock:
            self._asked_at = None
        if done.returncode != 0:
            info = self.inspect(container_id)
            if info is not None and info.state is not ContainerState.EXITED:
                raise RuntimeFailure(f"scancel failed: {(done.stderr or done.stdout).strip()}")
            return
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            info = self.inspect(container_id)
            if info is None or info.state is ContainerState.EXITED:
                return
            self.sleep(min(1.0, CACHE_SECONDS))

    def remove(self, container_id: str) -> None:
        """The job's own files; never the workspace (it is only mounted)."""
        with self._lock:
            self._jobs.pop(container_id, None)
        shutil.rmtree(self.job_dir(container_id), ignore_errors=True)

    def logs(self, container_id: str, tail: int | None = None) -> Iterator[LogEntry]:
        folder = self.job_dir(container_id)
        sources = [_read_rotated(folder / "output.log", tail), _read_entries(folder / "notes.log", tail)]
        merged = list(heapq.merge(*sources, key=lambda e: e.stamp))
        yield from merged if tail is None else merged[-tail:] if tail > 0 else []

    def wait(self, container_id: str) -> int:
        while True:
            info = self.inspect(container_id)
            if info is None:
                return -1
            if info.state is ContainerState.EXITED:
                return info.exit_code if info.exit_code is not None else -1
            self.sleep(1.0)

    # what Slurm says

    def _info(self, job: _Job) -> ContainerInfo:
        """Under the lock."""
        state, code = self._state(job)
        finished = None
        if state is ContainerState.EXITED:
            try:
                finished = (self.job_dir(job.name) / "exit").stat().st_mtime
            except OSError:
                finished = job.ended_since
        oom = job.end_state == "OUT_OF_MEMORY"
        news = job.end_state in ABORTED and not job.cancelled
        return ContainerInfo(
            job.name,
            job.name,
            dict(job.labels),
            state,
            code,
            oom,
            finished,
            ended_by=self._why(job) if news and state is ContainerState.EXITED else None,
            time_limit=job.time_limit,
        )

    @staticmethod
    def _why(job: _Job) -> str:
        if job.end_state == "TIMEOUT" and job.time_limit:
            return f"the Slurm job reached its time limit of {job.time_limit / 60:g} min (TIMEOUT)"
        return WHY[job.end_state]

    def _state(self, job: _Job) -> tuple[ContainerState, int | None]:
        now = self.clock()
        code = self._exit_file(job.name)
        if code is not None:
            return self._exited(job, code, now)
        if job.final is not None:
            return ContainerState.EXITED, job.final
        row = self._row(job)
        if row is None or (row.state not in LIVE_STATES and row.state not in ENDED_STATES):
            job.missing_since = job.missing_since or now
            if now - job.missing_since < GRACE_SECONDS:  # counted from when this process first missed it
                return ContainerState.RUNNING, None
            job.ended_since = job.ended_since or now
            what = "is not known to Slurm" if row is None else f"is in state {row.state}"
            self._note(
                job, f"job {job.job_id or job.name} {what} for {GRACE_SECONDS:g}s and left no exit code"
            )
            job.final = 137
            return ContainerState.EXITED, job.final
        job.missing_since = None
        if row.state in LIVE_STATES:
            if row.state in WAITING_STATES:
                if row.reason not in ("", "None"):
                    waits = f"job {row.job_id} is {row.state.lower()} in Slurm's queue ({row.reason})"
                    self._note(job, waits)
                return ContainerState.QUEUED, None
            if row.state == "RUNNING" and job.said:
                self._note(job, f"job {row.job_id} runs")
            return ContainerState.RUNNING, None
        job.end_state = row.state
        if row.state in ABORTED:
            job.ended_since = job.ended_since or now
            self._note(job, self._why(job))
            sacct = exit_code_of(row.exit_code) if row.exit_code else None
            job.final = sacct if sacct else ABORTED[row.state]
            return ContainerState.EXITED, job.final
        # COMPLETED or FAILED: the job's own exit file is the truth; it may lag on NFS
        job.ended_since = job.ended_since or now
        if now - job.ended_since < EXIT_FILE_GRACE:
            return ContainerState.RUNNING, None
        sacct = exit_code_of(row.exit_code) if row.exit_code else None
        self._note(job, f"job {row.job_id} ended {row.state} and its exit file is missing ({job.name}/exit)")
        job.final = sacct if sacct is not None else (0 if row.state == "COMPLETED" else 1)
        return ContainerState.EXITED, job.final

    def _exited(self, job: _Job, code: int, now: float) -> tuple[ContainerState, int | None]:
        """The exit file is the truth about the code. A stage that a signal ended (Slurm's TERM on
        TIMEOUT, PREEMPTED, a cancel) counts as running until Slurm has been asked once more, for
        at most ASK_AFTER_EXIT, so that why it ended is known before the run is recorded."""
        if not job.settled:
            job.exit_seen = job.exit_seen or now
            row = self._row(job) if code >= 128 else None
            if row is not None and row.state in ENDED_STATES:
                job.end_state = row.state
            elif code >= 128 and now - job.exit_seen < ASK_AFTER_EXIT:
                return ContainerState.RUNNING, None
            job.settled = True
        if job.end_state in ABORTED and not job.cancelled:
            self._note(job, self._why(job))
        return ContainerState.EXITED, code

    def _row(self, job: _Job) -> JobRow | None:
        self._refresh()
        if job.job_id and job.job_id in self._rows:
            return self._rows[job.job_id]
        by_name = [r for r in self._rows.values() if r.name == job.name]
        return max(by_name, key=lambda r: int(r.job_id) if r.job_id.isdigit() else 0) if by_name else None

    def _refresh(self) -> None:
        """Under the lock: one squeue for all of this node's jobs, and one sacct for those squeue
        no longer shows, at most once every CACHE_SECONDS."""
        now = self.clock()
        if self._asked_at is not None and now - self._asked_at < CACHE_SECONDS:
            return
        self._asked_at = now
        names = sorted(n for n, j in self._jobs.items() if j.final is None and not j.settled)
        if not names:
            return
        rows: dict[str, JobRow] = {}
        done = self.runner(
            [
                "squeue",
                "-h",
                "--states=all",
                f"--user={self.user}",
                f"--name={','.join(names)}",
                "-o",
                "%i|%j|%T|%r",
            ]
        )
        if done.returncode == 0:
            rows.update((r.job_id, r) for r in parse_rows(done.stdout))
        else:
            log.info("squeue failed: %s", (done.stderr or done.stdout).strip())
        shown = {r.name for r in rows.values() if r.state in LIVE_STATES}
        rest = [n for n in names if n not in shown]
        if rest and self._accounting:
            done = self.runner(
                [
                    "sacct",
                    "-n",
                    "-P",
                    "-X",
                    "-S",
                    "now-30days",
                    f"--name={','.join(rest)}",
                    "-o",
                    "JobID,JobName,State,Reason,ExitCode",
                ]
            )
            if done.returncode == 0:
                rows.update((r.job_id, r) for r in parse_rows(done.stdout))
            elif ACCOUNTING_DISABLED in (done.stderr + done.stdout).lower():
                log.info("Slurm accounting is disabled: asking squeue and scontrol instead of sacct")
                self._accounting = False
            else:
                log.info("sacct failed: %s", (done.stderr or done.stdout).strip())
        if not self._accounting:
            for name in rest:
                job = self._jobs[name]
                row = rows.get(job.job_id)
                if job.job_id and row is not None and row.state in ENDED_STATES and not row.exit_code:
                    shown_row = self._scontrol(job.job_id)
                    if shown_row is not None:
                        rows[job.job_id] = shown_row
        self._rows = rows

    def _scontrol(self, job_id: str) -> JobRow | None:
        done = self.runner(["scontrol", "show", "job", "-o", job_id])
        return parse_scontrol(done.stdout) if done.returncode == 0 else None

    # capacity

    def partition_free(self) -> tuple[float, int, int] | None:
        """(cpus, memory bytes, gpus) that the partition's nodes in service have not allocated to
        any job, from one sinfo at most every FREE_SECONDS; None where sinfo does not answer."""
        now = self.clock()
        with self._lock:
            if self._free_at is not None and now - self._free_at < FREE_SECONDS:
                return self._free
        found = self._sinfo()
        free = None if found is None else found[1]
        with self._lock:
            self._free_at, self._free = now, free
        return free

    def partition_capacity(self) -> tuple[float, int, int] | None:
        """(cpus, memory bytes, gpus) of the partition's nodes, from sinfo; None where it does not answer."""
        found = self._sinfo()
        return None if found is None else found[0]

    def _sinfo(self) -> tuple[tuple[float, int, int], tuple[float, int, int]] | None:
        fields = "NodeHost:64|,StateCompact:32|,CPUsState:40|,Memory:20|,AllocMem:20|,Gres:200|,GresUsed:200|"
        args = ["sinfo", "-h", "-N", "-O", fields]
        if self.partition:
            args.insert(1, f"--partition={self.partition}")
        done = self.runner(args)
        return parse_sinfo(done.stdout) if done.returncode == 0 else None


def _gpus(gres: str) -> int:
    """The GPUs in a gres list: `gpu:a100:2(S:0),gpu:t4:1` is 3; `gpu:a100:1(IDX:0)` is 1."""
    count = 0
    for item in gres.split(","):
        if item.startswith("gpu:") or item == "gpu":
            with contextlib.suppress(ValueError):
                count += int(item.split("(")[0].rsplit(":", 1)[-1])
    return count


def parse_sinfo(text: str) -> tuple[tuple[float, int, int], tuple[float, int, int]] | None:
    """sinfo's `host|state|alloc/idle/other/total CPUs|memory MB|allocated MB|gres|gres used`
    lines: (cpus, memory bytes, gpus) of all the nodes, and of what the nodes in service have
    free, each node counted once (it may be in several partitions); None for no node."""
    total, free, seen = [0.0, 0, 0], [0.0, 0, 0], set()
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 7 or not parts[0] or parts[0] in seen:
            continue
        seen.add(parts[0])
        with contextlib.suppress(ValueError, IndexError):
            cpus, memory, gpus = parts[2].split("/"), int(parts[3].rstrip("+")), _gpus(parts[5])
            total = [total[0] + float(cpus[3]), total[1] + (memory << 20), total[2] + gpus]
            if not parts[1].lower().rstrip("*~#!%$@^-+").startswith(OUT_OF_SERVICE):
                left = max(0, memory - int(parts[4])) << 20
                free = [free[0] + float(cpus[1]), free[1] + left, free[2] + max(0, gpus - _gpus(parts[6]))]
    if not seen:
        return None
    return (float(total[0]), int(total[1]), int(total[2])), (float(free[0]), int(free[1]), int(free[2]))


def _read_rotated(path: Path, tail: int | None) -> list[LogEntry]:
    """The entries of a log the stamper rotates (`output.log.2`, `.1`, then `output.log`), newest
    file first until `tail` are found. A rotation while they are read (the file changed under its
    name) reads them again: otherwise its entries would come twice."""
    entries: list[LogEntry] = []
    for _ in range(3):
        before = _inode(path)
        entries = []
        for index in range(LOG_FILES):
            need = None if tail is None else tail - len(entries)
            if need is not None and need <= 0:
                break
            name = path if index == 0 else path.with_name(f"{path.name}.{index}")
            entries = list(_read_entries(name, need)) + entries
        if _inode(path) == before:
            break
    return entries


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _read_entries(path: Path, tail: int | None) -> Iterator[LogEntry]:
    """The complete stamped lines of a file (a last line still being written is left for the next
    read), the last `tail` of them, read from the end."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            if tail is None:
                fh.seek(0)
                data = fh.read()
            else:
                data = b""
                while end > 0 and data.count(b"\n") <= tail:
                    start = max(0, end - (1 << 16))
                    fh.seek(start)
                    data = fh.read(end - start) + data
                    end = start
                if end > 0:  # the first line may be cut: drop it
                    data = data[data.index(b"\n") + 1 :]
    except OSError:
        return
    lines = data.split(b"\n")[:-1]  # after the last newline: incomplete
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    for line in lines:
        stamp, _, rest = line.partition(b" ")
        yield LogEntry(stamp.decode("ascii", "replace"), rest + b"\n")
