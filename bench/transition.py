"""Stage-to-stage transition time with real `winslow node` processes and real Docker.

For each consecutive pair of StageRuns in a project: the gap from stage k's container exit
(docker's State.FinishedAt) to stage k+1's container start (State.StartedAt). Baselines measured
in the same run: wall time of `docker run --rm IMAGE true`, docker's own create-to-start, and the
exit-to-next-start gap of plain `docker run`s issued back to back from Python.

Usage: python bench/transition.py [--quick] [--stages N] [--keep]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import docker_time, iso_time, median, percentile, table

from tests.harness import (
    IMAGE,
    NodeProcess,
    containers,
    pipeline,
    project,
    project_status,
    remove_containers,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)
from tests.rig import Rig


def inspect(ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
    return {c["Id"]: c for c in json.loads(out)}


# -- baseline ------------------------------------------------------------------------------------


def baseline(runs: int) -> dict[str, list[float]]:
    walls: list[float] = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(["docker", "run", "--rm", IMAGE, "true"], check=True, capture_output=True)
        walls.append(time.perf_counter() - t)
    # Back-to-back containers that are kept, so that docker's own timestamps can be read.
    label = f"winslow.bench={secrets.token_hex(6)}"
    ids: list[str] = []
    try:
        for _ in range(runs):
            ids.append(
                subprocess.run(
                    ["docker", "run", "-d", "--label", label, IMAGE, "true"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout.strip()
            )
            subprocess.run(["docker", "wait", ids[-1]], check=True, capture_output=True)
        info = inspect(ids)
        created_to_start = [
            docker_time(info[i]["State"]["StartedAt"]) - docker_time(info[i]["Created"]) for i in ids
        ]
        seq_gap = [
            docker_time(info[b]["State"]["StartedAt"]) - docker_time(info[a]["State"]["FinishedAt"])
            for a, b in itertools.pairwise(ids)
        ]
    finally:
        found = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True
        ).stdout.split()
        if found:
            subprocess.run(["docker", "rm", "-f", *found], capture_output=True)
    return {"wall": walls, "created_to_start": created_to_start, "seq_gap": seq_gap}


# -- a cluster -----------------------------------------------------------------------------------


def put(path: Path, document: dict[str, Any]) -> None:
    """Atomically, as the store does: a node never reads half a manifest."""
    tmp = write_yaml(path.with_name(f".{path.name}.tmp"), document)
    os.replace(tmp, path)


def finished(share: Path, name: str) -> str | None:
    phase = project_status(share, name).get("phase")
    active = any(r["status"]["phase"] in ("Pending", "Running") for r in stageruns(share, name))
    return phase if phase in ("Succeeded", "Paused", "Failed") and not active else None


def scenario(
    node_names: list[str],
    projects: list[str],
    stages: int,
    keep: bool,
    log_level: str,
    rig: Callable[[Path], Rig] | None = None,
    via_api: bool = False,
) -> dict[str, Any]:
    """`rig(share)`, where given, puts every node on its own view of the share (bench/network_share.py
    gives each a caching network mount); the benchmark itself reads the share directly."""
    tmp = Path(tempfile.mkdtemp(prefix="winslow-bench-transition-"))
    os.environ["WINSLOW_CONFIG"] = str(tmp / "winslow-config.yaml")  # never touch the user's own
    share = tmp / "share"
    share.mkdir()
    views = rig(share) if rig else Rig("local", share)
    nodes = [NodeProcess(share, n, "--log-level", log_level, mount=views.share_for(n)) for n in node_names]
    result: dict[str, Any] = {"gaps": [], "detect": [], "schedule": [], "launch": [], "hops": 0}
    try:
        nodes[0].start()
        for n in nodes[1:]:
            n.start(wait=False)
        for n in nodes[1:]:
            wait_for(n.healthy, 30, f"node {n.name} to answer /healthz")
        # Manifests go straight onto the share (as a user with an editor would), so the benchmark
        # does not depend on the API's authentication; nodes notice them within --scan-seconds.
        t0 = time.perf_counter()
        manifests = [
            pipeline("bench", *[stage(f"s{i}", "true") for i in range(1, stages + 1)]),
            *(project(p, "bench") for p in projects),
        ]
        if via_api:  # the event log tells every node at once; a hand edit waits for a scan
            winsctl(nodes[0].url, "apply", "-f", str(write_yaml(tmp / "bench.yaml", *manifests)))
        else:
            put(share / "pipelines" / "bench.yaml", manifests[0])
            for p, doc in zip(projects, manifests[1:], strict=True):
                put(share / "projects" / f"{p}.yaml", doc)
        phases = {
            p: wait_for(lambda p=p: finished(share, p), 60 + 10 * stages, f"{p} to finish") for p in projects
        }
        result["total"] = time.perf_counter() - t0
        result["phases"] = phases
        for p in projects:
            runs = stageruns(share, p)
            ids = {}
            for r in runs:
                found = containers(share, stagerun=r["metadata"]["name"])
                if found:
                    ids[r["metadata"]["name"]] = found[0]["ID"]
            info = inspect(list(ids.values()))
            for a, b in itertools.pairwise(runs):
                ca, cb = (
                    info.get(ids.get(a["metadata"]["name"], "")),
                    info.get(ids.get(b["metadata"]["name"], "")),
                )
                if ca is None or cb is None:
                    continue
                exited = docker_time(ca["State"]["FinishedAt"])
                started = docker_time(cb["State"]["StartedAt"])
                result["gaps"].append(started - exited)
                recorded = iso_time(a["status"]["finishTime"])
                created = iso_time(b["metadata"]["creationTimestamp"])
                result["detect"].append(recorded - exited)
                result["schedule"].append(created - recorded)
                result["launch"].append(started - created)
                if a["status"].get("node") != b["status"].get("node"):
                    result["hops"] += 1
            result.setdefault("runs", 0)
            result["runs"] += len(runs)
    finally:
        for n in nodes:
            n.stop()
        remove_containers(share)
        views.unmount_all()
        if keep:
            print(f"[kept {tmp}; node logs are {tmp}/node-*.log]", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer stages and baseline runs (< 30 s)")
    ap.add_argument("--stages", type=int, help="stages per pipeline (default 8, quick 4)")
    ap.add_argument("--keep", action="store_true", help="keep the temp share and node logs")
    ap.add_argument("--log-level", default="INFO", help="the nodes' --log-level (DEBUG with --keep)")
    args = ap.parse_args()
    stages = args.stages or (4 if args.quick else 8)
    reps = 4 if args.quick else 8
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        print(f"no Docker engine with {IMAGE}; run scripts/setup-host.sh", file=sys.stderr)
        return 2

    base = baseline(reps)
    one = scenario(["node-a"], ["bench-1"], stages, args.keep, args.log_level)
    three = scenario(
        ["node-a", "node-b", "node-c"], ["bench-2", "bench-3"], stages, args.keep, args.log_level
    )

    wall = median(base["wall"])
    rows: list[list[object]] = [
        ["docker run --rm true (wall)", len(base["wall"]), wall, percentile(base["wall"], 90), ""],
        [
            "docker create->start",
            len(base["created_to_start"]),
            median(base["created_to_start"]),
            percentile(base["created_to_start"], 90),
            "",
        ],
        [
            "docker run back-to-back gap",
            len(base["seq_gap"]),
            median(base["seq_gap"]),
            percentile(base["seq_gap"], 90),
            "",
        ],
    ]
    for label, res in (("1 node, 1 project", one), ("3 nodes, 2 projects", three)):
        g = res["gaps"]
        rows.append([f"winslow gap, {label}", len(g), median(g), percentile(g, 90), median(g) / wall])
    print(
        table(
            f"transition: exit of stage k -> start of stage k+1 ({stages} stages of `sh -c true`), seconds",
            ["measure", "n", "median", "p90", "x docker run"],
            rows,
        )
    )
    print()
    brk = []
    for label, res in (("1 node", one), ("3 nodes", three)):
        brk.append(
            [
                label,
                median(res["detect"]),
                median(res["schedule"]),
                median(res["launch"]),
                f"{res['hops']}/{len(res['gaps'])}",
                res["total"],
                ",".join(sorted(set(res["phases"].values()))),
            ]
        )
    print(
        table(
            "where the gap goes (medians, s): detect = exit -> finishTime recorded; schedule = -> next"
            " StageRun created; launch = -> container started",
            ["cluster", "detect", "schedule", "launch", "node hops", "total s", "phase"],
            brk,
        )
    )
    print()
    for label, res in (("1 node", one), ("3 nodes", three)):
        over = median(res["gaps"]) - wall
        verdict = "within" if over <= 1.0 else "OVER"
        print(
            f"transition overhead over plain docker run, {label}: {over:+.3f} s at the median "
            f"({verdict} the 1 s target)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
