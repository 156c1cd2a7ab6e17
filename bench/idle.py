"""Idle cost: CPU a node spends on a share full of finished projects, beside a plain loop.

The design asks that a share with thousands of projects idles at a small fraction of a core.
The share is written directly (specs, statuses, three finished StageRuns each), so no container
runs; one real `winslow node` then idles on it while its CPU time is sampled with psutil.
Baseline in the same run: a plain loop that reads every project's files once per resync period.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import NodeProcess
from winslow.controller.eventlog import EventLog
from winslow.controller.events import Command
from winslow.controller.records import RunRecord
from winslow.resources.stagerun import StageRunPhase

STAGES = ("fetch", "detect", "report")


def build(share: Path, n: int) -> None:
    for folder in ("pipelines", "projects", "run/status/projects"):
        (share / folder).mkdir(parents=True, exist_ok=True)
    stages = [{"name": s, "image": "winslow/busybox:latest", "command": ["true"]} for s in STAGES]
    pipeline = {
        "apiVersion": "winslow/v1",
        "kind": "Pipeline",
        "metadata": {"name": "idle"},
        "spec": {"stages": stages},
    }
    (share / "pipelines" / "idle.yaml").write_text(yaml.safe_dump(pipeline))
    log = EventLog(share / "run" / "events", "gone", time.time, compact_every=10**9)
    for i in range(n):
        name = f"p{i:05d}"
        spec = {
            "apiVersion": "winslow/v1",
            "kind": "Project",
            "metadata": {"name": name},
            "spec": {"pipeline": "idle"},
        }
        (share / "projects" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
        runs = share / "run" / "stageruns" / name
        runs.mkdir(parents=True)
        refs = []
        log.publish(Command.LOCK, f"project/{name}", duration=60)
        for k, stage in enumerate(STAGES):
            run = f"{name}.{k + 1}.{stage}"
            record(log, RunRecord(run, name, k + 1, stage, k, "gone", datetime(2026, 11, 28, tzinfo=UTC)))
            refs.append({"name": run, "stage": stage, "phase": "Succeeded"})
            doc = {
                "apiVersion": "winslow/v1",
                "kind": "StageRun",
                "metadata": {"name": run, "creationTimestamp": "2026-11-28T00:00:00Z"},
                "spec": {"project": name, "stage": stage, "index": k, "image": "winslow/busybox:latest"},
                "status": {
                    "phase": "Succeeded",
                    "node": "gone",
                    "exitCode": 0,
                    "finishTime": "2026-11-28T00:00:01Z",
                },
            }
            (runs / f"{run}.yaml").write_text(yaml.safe_dump(doc))
        status = {
            "project": name,
            "phase": "Succeeded",
            "reason": "all stages succeeded",
            "pipeline": {"name": "idle", "stages": stages},
            "stageRuns": refs,
            "version": 1,
        }
        (share / "run" / "status" / "projects" / f"{name}.yaml").write_text(yaml.safe_dump(status))
        log.publish(Command.VERSION, f"project/{name}", payload={"file": "status", "version": 1})
        log.publish(Command.RELEASE, f"project/{name}")


def record(log: EventLog, created: RunRecord) -> None:
    """What the node that ran it put on the log: the run, then its success."""
    log.publish(Command.RECORD, f"stagerun/{created.name}", payload=created.creation())
    done = replace(created, phase=StageRunPhase.SUCCEEDED, exit_code=0)
    log.publish(Command.RECORD, f"stagerun/{created.name}", payload=done.update())


def cpu_of(pid: int, seconds: float) -> float:
    proc = psutil.Process(pid)
    before = proc.cpu_times()
    time.sleep(seconds)
    after = proc.cpu_times()
    return (after.user + after.system - before.user - before.system) / seconds


def plain_loop(share: Path, seconds: float, period: float) -> float:
    """Read every project's spec, status and StageRuns once per period: the level-triggered floor."""
    start = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for spec in (share / "projects").iterdir():
            name = spec.stem
            yaml.safe_load(spec.read_text())
            yaml.safe_load((share / "run" / "status" / "projects" / f"{name}.yaml").read_text())
            for run in (share / "run" / "stageruns" / name).iterdir():
                yaml.safe_load(run.read_text())
        time.sleep(max(0.0, period - (time.process_time() - start) % period))
    return (time.process_time() - start) / seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--projects", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, seconds = (300, 10.0) if args.quick else (args.projects, args.seconds)
    root = Path(tempfile.mkdtemp(prefix="winslow-idle-"))
    os.environ["WINSLOW_CONFIG"] = str(root / "winslow-config.yaml")  # never touch the user's own
    try:
        share = root / "share"
        build(share, n)
        node = NodeProcess(share, "idle", "--no-execute").start()
        try:
            time.sleep(12)  # first full pass over every project, then steady state
            node_cpu = cpu_of(node.proc.pid, seconds)  # type: ignore[union-attr]
        finally:
            node.stop()
        baseline = plain_loop(share, min(seconds, 20.0), 10.0)
        print(f"idle cost, {n} finished projects x {len(STAGES)} StageRuns, {seconds:.0f} s sampled")
        print(f"{'measure':<44} {'cores':>7}")
        print(f"{'winslow node (observer), steady state':<44} {node_cpu:7.3f}")
        print(f"{'plain loop reading every file every 10 s':<44} {baseline:7.3f}")
        print(f"ratio node / plain loop: {node_cpu / baseline if baseline else float('inf'):.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
