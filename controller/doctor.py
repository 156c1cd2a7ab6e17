"""`winslow doctor`: what Winslow depends on, checked on the share and on this machine.

Each check returns findings; a finding that is a problem says what to change. The checks that
judge (mount options, capacity, timings, clocks) are pure functions of what was measured, so
they are tested without a share, a network or Docker.

Longer than most modules here: one check per thing the system depends on, each with its fix.
"""

from __future__ import annotations

import os
import secrets
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from winslow.controller.eventlog import EventLog
from winslow.controller.events import Command, Event
from winslow.controller.skew import WARN_SECONDS
from winslow.controller.slurm_runtime import ACCOUNTING_DISABLED, Runner

LAG_LIMIT = 1.0  # seconds a node may take to see another's new or replaced file


class Level(StrEnum):
    OK = "ok"
    NOTE = "note"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f"\n        fix: {self.fix}" if self.fix else ""
        return f"[{self.level.value:>7}] {self.check}: {self.detail}{fix}"


def ok(check: str, detail: str) -> Finding:
    return Finding(Level.OK, check, detail)


# -- the share's primitives ------------------------------------------------------------------------


def check_link(folder: Path) -> Finding:
    """The event log's consensus: `link` makes a name exactly once, atomically."""
    source, target = folder / "link-source", folder / "link-target"
    source.write_bytes(b"event")
    try:
        os.link(source, target)
    except OSError as exc:
        return Finding(
            Level.PROBLEM,
            "link",
            f"hard links fail on this share ({exc.strerror})",
            "export and mount a file system with hard links (NFS, a local disk); SMB/CIFS and some "
            "FUSE file systems lack them",
        )
    try:
        os.link(source, target)
    except FileExistsError:
        return ok("link", "a second link to a taken name fails with 'exists', as the event log needs")
    except PermissionError:
        return ok("link", "a second link to a taken name fails (EPERM, as sshfs says it); Winslow copes")
    except OSError as exc:
        return Finding(Level.PROBLEM, "link", f"a second link failed oddly ({exc.strerror})", "use NFS")
    return Finding(
        Level.PROBLEM,
        "link",
        "a second link to a name that exists succeeded: two nodes could both win one event number",
        "use a file system whose link fails on an existing name (NFS, any local one)",
    )


def check_rename(folder: Path) -> Finding:
    path = folder / "renamed"
    for content in (b"old", b"new"):
        tmp = folder / f".renamed.{content.decode()}"
        tmp.write_bytes(content)
        os.replace(tmp, path)
    if path.read_bytes() != b"new":
        return Finding(Level.PROBLEM, "rename", "a file replaced by rename still reads as the old one here")
    return ok("rename", "a file replaced by rename reads as the new one")


def check_mount(share: Path, mounts: str) -> list[Finding]:
    """NFS options that bound how stale a node's view of the share may be."""
    best: tuple[str, str, str] | None = None
    resolved = str(share.resolve())
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        point = parts[1].replace("\\040", " ")
        if (resolved == point or resolved.startswith(point.rstrip("/") + "/")) and (
            best is None or len(point) > len(best[0])
        ):
            best = (point, parts[2], parts[3])
    if best is None:
        return [Finding(Level.NOTE, "mount", f"no mount found for {share}")]
    point, kind, options = best
    if not kind.startswith("nfs"):
        return [ok("mount", f"{share} is on {kind} ({point})")]
    opts = dict(o.partition("=")[::2] for o in options.split(","))
    findings = [ok("mount", f"{share} is on {kind} ({point})")]
    if "soft" in opts:
        findings.append(
            Finding(
                Level.PROBLEM, "mount", "mounted 'soft': a slow server makes writes fail", "mount with 'hard'"
            )
        )
    if opts.get("lookupcache") not in ("positive", "none"):
        findings.append(
            Finding(
                Level.PROBLEM,
                "mount",
                "'no such file' answers are cached (lookupcache=all): nodes see new files late",
                "mount with lookupcache=positive",
            )
        )
    actimeo = max(int(opts.get(k, "60")) for k in ("acregmax", "acdirmax"))
    if "actimeo" in opts:
        actimeo = int(opts["actimeo"])
    if actimeo > 3:
        findings.append(
            Finding(
                Level.PROBLEM,
                "mount",
                f"attributes are cached up to {actimeo}s: edits to manifests are noticed that late",
                "mount with actimeo=1",
            )
        )
    return findings


# -- this machine -----------------------------------------------------------------------------------


def check_capacity(
    cpus: float | None,
    memory: int | None,
    gpus: int | None,
    machine_cpus: float,
    machine_memory: int,
    detected_gpus: list[str],
) -> list[Finding]:
    findings = []
    if cpus is not None and cpus > machine_cpus:
        findings.append(
            Finding(
                Level.PROBLEM,
                "cpus",
                f"--cpus {cpus:g} is more than the {machine_cpus:g} this machine has",
                "Docker refuses a stage asking for more; lower --cpus",
            )
        )
    if memory is not None and memory > machine_memory:
        findings.append(
            Finding(
                Level.PROBLEM,
                "memory",
                f"--memory {memory} bytes is more than the {machine_memory} this machine has",
                "lower --memory",
            )
        )
    models = ", ".join(detected_gpus) or "none"
    if gpus is not None and gpus > len(detected_gpus):
        findings.append(
            Finding(
                Level.PROBLEM,
                "gpus",
                f"--gpus {gpus} but NVML finds {len(detected_gpus)} ({models})",
                "install the NVIDIA driver, or give --gpus the number found",
            )
        )
    else:
        findings.append(ok("gpus", f"NVML finds {len(detected_gpus)} GPU(s): {models}"))
    return findings


def check_docker(run: Callable[[], str]) -> Finding:
    """`run` starts a throwaway container and returns what it printed."""
    try:
        printed = run()
    except Exception as exc:
        return Finding(
            Level.PROBLEM,
            "docker",
            f"cannot run a container: {exc}",
            "start the Docker engine (systemctl start docker) and let this user use it",
        )
    return ok("docker", f"ran a container ({printed.strip() or 'no output'})")


def check_slurm(
    runner: Runner, partition: str | None, share: Path, scratch: Path, engine: str, image: str
) -> list[Finding]:
    """A Slurm node's needs (`winslow node --runtime slurm`): the commands answer, the partition
    exists, and a probe job sees the share at the same path and runs the image with the engine.
    `scratch` is a folder on the share for the probe's output."""
    where = [f"--partition={partition}"] if partition else []
    shown = subprocess_text(runner(["sinfo", "-h", *where, "-o", "%P %a %D %T"]))
    if shown is None or not shown.strip():
        return [
            Finding(
                Level.PROBLEM,
                "slurm",
                f"sinfo does not answer for partition {partition or '(default)'}: {shown or 'no output'}",
                "install the Slurm client (sinfo, sbatch, squeue, sacct, scancel) and check the partition "
                "name (sinfo -s); for a test Slurm on this machine: scripts/slurm-dev.sh up",
            )
        ]
    findings = [ok("slurm", f"partition {shown.split()[0]} answers ({' '.join(shown.split()[1:4])})")]
    findings += _slurm_commands(runner)
    out = scratch / "slurm-probe.out"
    limits = (
        ' --ulimit "nofile=$(ulimit -Sn):$(ulimit -Sn)" --ulimit nproc=4096:4096'
        if engine == "podman"
        else ""
    )
    script = (
        f"test -d {shlex.quote(str(share / 'run'))} && echo share-ok; "
        f"{shlex.quote(engine)} run --rm{limits} {shlex.quote(image)} echo engine-ok"
    )
    done = runner(["sbatch", "--wait", "--quiet", *where, f"--output={out}", "--time=5", f"--wrap={script}"])
    try:
        printed = out.read_text()
    except OSError:
        printed = ""
    if "share-ok" not in printed:
        findings.append(
            Finding(
                Level.PROBLEM,
                "slurm share",
                f"a probe job did not see the share at {share} or could not write there "
                f"(sbatch: {(done.stderr or done.stdout).strip() or done.returncode})",
                "mount the share at the same path on every node of the partition, writable by this user",
            )
        )
        return findings
    findings.append(ok("slurm share", f"a probe job sees the share at {share}"))
    if "engine-ok" not in printed:
        findings.append(
            Finding(
                Level.PROBLEM,
                "slurm container",
                f"a probe job could not run {image} with {engine}: {printed.strip()[-300:]}",
                f"install {engine} on the partition's nodes and load the images there (podman load)",
            )
        )
    else:
        findings.append(ok("slurm container", f"a probe job ran {image} with {engine}"))
    return findings


def _slurm_commands(runner: Runner) -> list[Finding]:
    """The commands a Slurm node runs besides sinfo, and whether sacct has accounting behind it."""
    silent = [c for c in ("sbatch", "squeue", "sacct", "scancel") if runner([c, "--version"]).returncode != 0]
    if silent:
        return [
            Finding(
                Level.PROBLEM,
                "slurm commands",
                f"{', '.join(silent)} do not answer",
                "install the Slurm client on this machine (Debian: slurm-client), on the PATH of the node",
            )
        ]
    found = [ok("slurm commands", "sbatch, squeue, sacct and scancel answer")]
    asked = runner(["sacct", "-n", "-X", "-S", "now", "-o", "JobID"])
    if ACCOUNTING_DISABLED in (asked.stderr + asked.stdout).lower():
        found.append(
            Finding(
                Level.NOTE,
                "slurm accounting",
                "accounting is disabled: how a job ended is asked of squeue and scontrol, which forget "
                "a job MinJobAge after it ended (a node away longer learns only its exit file)",
                "run slurmdbd for the cluster (scripts/slurm-dev.sh up shows one)",
            )
        )
    return found


def subprocess_text(done: subprocess.CompletedProcess[str]) -> str | None:
    return done.stdout if done.returncode == 0 else None


# -- the cluster, through the log ---------------------------------------------------------------------


@dataclass(frozen=True)
class Visibility:
    """Seconds until a node saw a file another machine created or replaced; None: never."""

    node: str
    new: float | None
    replaced: float | None
    seen_here: float | None = None


def judge_visibility(results: Iterable[Visibility], live: set[str], limit: float) -> list[Finding]:
    found = {v.node: v for v in results}
    findings = []
    for node in sorted(live - set(found)):
        findings.append(
            Finding(
                Level.PROBLEM,
                "visibility",
                f"node {node} did not answer the probe on the log within {limit:g}s",
                "check that it runs and follows the log (winsctl get nodes)",
            )
        )
    for node, v in sorted(found.items()):
        timings = {
            "a new file": v.new,
            "a replaced file": v.replaced,
            f"node {node}'s new file here": v.seen_here,
        }
        slow = [
            f"{what} after {'never' if t is None else f'{t:.1f}s'}"
            for what, t in timings.items()
            if t is None or t > LAG_LIMIT
        ]
        if slow:
            findings.append(
                Finding(
                    Level.PROBLEM,
                    "visibility",
                    f"node {node} sees {', '.join(slow)} (the share caches what it shows)",
                    "on NFS mount with lookupcache=positive,actimeo=1; Winslow stays correct, but "
                    "edits, logs and files show up late",
                )
            )
        else:
            seen = ", ".join(f"{what} in {t:.2f}s" for what, t in timings.items() if t is not None)
            findings.append(ok("visibility", f"node {node}: {seen}"))
    if not live and not found:
        findings.append(Finding(Level.NOTE, "visibility", "no live node to time the share with"))
    return findings


def judge_clocks(offsets: dict[str, float]) -> list[Finding]:
    return [
        Finding(
            Level.PROBLEM,
            "clock",
            f"node {node}'s clock is {abs(v):.1f}s {'ahead of' if v > 0 else 'behind'} this machine's",
            "run NTP (chrony or systemd-timesyncd) on every node",
        )
        if abs(v) > WARN_SECONDS
        else ok("clock", f"node {node}'s clock is within {abs(v):.2f}s of this machine's")
        for node, v in sorted(offsets.items())
    ]


def probe(events: EventLog, root: Path, live: set[str], wait: float) -> list[Visibility]:
    """Time, on every live node, how late it sees files this machine creates and replaces."""
    ident = secrets.token_hex(6)
    folder = root / "run" / "doctor" / ident
    folder.mkdir(parents=True)
    (folder / "replaced").write_bytes(b"1")
    subject = f"doctor/{ident}"
    for node in live:
        (folder / f"from-{node}").exists()  # asked before it exists, as a caching client remembers
    events.publish(Command.PROBE, subject, payload={"phase": "prepare", "id": ident})
    answers = _collect(events, subject, "ready", live, min(wait, 5.0))
    (folder / "new").write_bytes(b"1")
    tmp = folder / ".replaced"
    tmp.write_bytes(b"2")
    os.replace(tmp, folder / "replaced")
    events.publish(Command.PROBE, subject, payload={"phase": "go", "id": ident, "limit": wait})
    results = _collect(events, subject, "result", set(answers) | live, wait + 2)
    found = []
    for node, payload in results.items():
        seen_here = _seen_after(folder / f"from-{node}", wait)
        found.append(Visibility(node, payload.get("new"), payload.get("replaced"), seen_here))
    return found


def _collect(events: EventLog, subject: str, phase: str, nodes: set[str], wait: float) -> dict[str, dict]:
    got: dict[str, dict] = {}

    def listen(event: Event) -> None:
        payload = event.payload or {}
        if event.command is Command.PROBE and event.subject == subject and payload.get("phase") == phase:
            got[event.node] = payload

    events.listeners.append(listen)
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not nodes <= set(got):
            events.poll()
            time.sleep(0.05)
    finally:
        events.listeners.remove(listen)
    return got


def _seen_after(path: Path, limit: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if path.exists():
            return round(time.monotonic() - start, 3)
        time.sleep(0.05)
    return None
