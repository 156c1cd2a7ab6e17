"""`winslow doctor --share DIR`: checks what Winslow depends on and says what to change."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from winslow.controller import doctor
from winslow.controller.capacity import detect_gpus, machine_cpus, machine_memory
from winslow.controller.eventlog import EventLog
from winslow.controller.layout import ShareLayout
from winslow.controller.monitor import NodeDirectory
from winslow.controller.slurm_runtime import run_command
from winslow.resources.quantity import parse_memory

NODE_AGE = 300.0  # node files older than this are of nodes that stopped


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check the share, this machine and the cluster for what Winslow needs",
        description="Checks atomic link and rename on the share, its mount options, how late every "
        "live node sees files created and replaced elsewhere (timed through the event log), clock "
        "skew, the Docker engine, and --cpus/--memory/--gpus against this machine. Exit status 1 "
        "when something should be fixed.",
        epilog="example: winslow doctor --share /srv/winslow --gpus 4",
    )
    p.add_argument("--share", required=True, type=Path, help="the shared directory the nodes use")
    p.add_argument("--cpus", type=float, help="the --cpus a node here is (to be) started with")
    p.add_argument("--memory", help="the --memory a node here is (to be) started with, e.g. 64Gi")
    p.add_argument("--gpus", type=int, help="the --gpus a node here is (to be) started with")
    p.add_argument("--image", default="winslow/busybox:latest", help="a local image to run a test container")
    p.add_argument("--no-docker", action="store_true", help="skip the Docker check (an observer machine)")
    p.add_argument(
        "--slurm-partition",
        metavar="P",
        help="check a Slurm node (winslow node --runtime slurm): the partition, and a probe job that "
        "sees the share and runs --image",
    )
    p.add_argument("--slurm-container", choices=("podman", "docker"), default="podman")
    p.add_argument(
        "--wait", type=float, default=20.0, help="seconds to wait for nodes to see the probe files"
    )


def _docker(image: str) -> str:
    import docker

    client = docker.from_env(timeout=30)
    out = client.containers.run(image, ["echo", "winslow doctor"], remove=True, network_mode="none")
    return out.decode(errors="replace") if isinstance(out, bytes) else str(out)


def run(args: argparse.Namespace) -> int:
    share: Path = args.share
    if not share.is_dir():
        print(f"[problem] share: {share} is not a directory; mount the share or create it")
        return 1
    layout = ShareLayout(share)
    scratch = layout.run / "doctor" / f"local-{time.time_ns()}"
    scratch.mkdir(parents=True)
    findings: list[doctor.Finding] = []
    try:
        findings += [doctor.check_link(scratch), doctor.check_rename(scratch)]
        findings += doctor.check_mount(share, Path("/proc/mounts").read_text())
        memory = parse_memory(args.memory) if args.memory else None
        gpus = [g.model for g in detect_gpus()]
        findings += doctor.check_capacity(
            args.cpus, memory, args.gpus, machine_cpus(), machine_memory(), gpus
        )
        if args.slurm_partition:
            findings += doctor.check_slurm(
                run_command, args.slurm_partition, share, scratch, args.slurm_container, args.image
            )
        elif not args.no_docker:
            findings.append(doctor.check_docker(lambda: _docker(args.image)))
        now = time.time()
        live = {
            n.metadata.name
            for n in NodeDirectory(layout.nodes).all()
            if now - n.status.heartbeat.timestamp() < NODE_AGE
        }
        events = EventLog(layout.events, "doctor", time.time)
        events.catch_up()
        results = doctor.probe(events, layout.root, live, args.wait) if live else []
        findings += doctor.judge_visibility(results, live, args.wait)
        findings += doctor.judge_clocks(events.skew.estimates())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for old in (layout.run / "doctor").glob("*"):
            if old.is_dir() and time.time() - old.stat().st_mtime > 60:
                shutil.rmtree(old, ignore_errors=True)
    for finding in findings:
        print(finding.line())
    problems = [f for f in findings if f.level is doctor.Level.PROBLEM]
    print(f"{len(problems)} thing(s) to fix" if problems else "nothing to fix")
    return 1 if problems else 0
