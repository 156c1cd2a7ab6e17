"""A stage on Slurm against `sbatch --wrap` of the same container, in the same run (issue 23).

Needs the one-node Slurm of `scripts/slurm-dev.sh up`. Three ways to run `true` in the test image,
N times each, one after another:

- `sbatch --wrap 'podman run --rm LIMITS IMAGE true', polled`: the baseline, Slurm and podman alone;
- a one-stage project on a `winslow node --runtime slurm`, from `winsctl apply` to the project's
  Succeeded status, as a user waits for it;
- the same stage's own time: its StageRun's creation to its finishTime.

Usage: python bench/slurm.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import table

from tests.harness import (
    IMAGE,
    NodeProcess,
    pipeline,
    project,
    project_status,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)

LIMITS = '--ulimit "nofile=$(ulimit -Sn):$(ulimit -Sn)" --ulimit nproc=4096:4096 --pids-limit 4096'


def sbatch_wrap() -> float:
    """Submitted, then polled every 0.1 s until Slurm no longer lists it (`sbatch --wait` polls far
    more slowly, and would not be a fair baseline)."""
    start = time.monotonic()
    job = (
        subprocess.run(
            # the limits Winslow's own wrapper passes: podman raises them to the maximum by default,
            # which a job's cgroup (and this sandbox) may refuse
            [
                "sbatch",
                "--parsable",
                "-p",
                "winslow",
                "-o",
                "/dev/null",
                "--wrap",
                f"podman run --rm {LIMITS} {IMAGE} true",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .split(";")[0]
    )
    while subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout.strip():
        time.sleep(0.1)
    return time.monotonic() - start


def through_winslow(server: str, share: Path, folder: Path, name: str) -> tuple[float, float]:
    manifest = write_yaml(folder / f"{name}.yaml", project(name, "once"))
    start = time.monotonic()
    winsctl(server, "apply", "-f", str(manifest))
    wait_for(lambda: project_status(share, name).get("phase") == "Succeeded", 300, f"{name}", interval=0.1)
    wall = time.monotonic() - start
    (run,) = stageruns(share, name)
    created = datetime.fromisoformat(run["metadata"]["creationTimestamp"]).timestamp()
    finished = datetime.fromisoformat(run["status"]["finishTime"]).timestamp()
    return wall, finished - created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("sbatch") is None:
        raise SystemExit("no sbatch here: run scripts/slurm-dev.sh up first")
    folder = Path(tempfile.mkdtemp(prefix="winslow-bench-slurm-"))
    share = folder / "share"
    os.environ["WINSLOW_CONFIG"] = str(folder / "config.yaml")
    node = NodeProcess(
        share,
        "slurm-bench",
        "--runtime",
        "slurm",
        "--slurm-partition",
        "winslow",
        "--cpus",
        "2",
        "--memory",
        "2Gi",
    )
    baseline, walls, own = [], [], []
    try:
        node.start()
        winsctl(
            node.url,
            "apply",
            "-f",
            str(write_yaml(folder / "once.yaml", pipeline("once", stage("one", "true")))),
        )
        for i in range(args.runs):  # interleaved, so that load falls on both alike
            baseline.append(sbatch_wrap())
            wall, inner = through_winslow(node.url, share, folder, f"once-{i}")
            walls.append(wall)
            own.append(inner)
    finally:
        node.kill()
        shutil.rmtree(folder, ignore_errors=True)
    base = statistics.median(baseline)
    rows = [
        ["sbatch --wrap 'podman run --rm LIMITS IMAGE true', polled", f"{base:.2f}", "1.00"],
        [
            "winslow stage on Slurm, apply -> Succeeded",
            f"{statistics.median(walls):.2f}",
            f"{statistics.median(walls) / base:.2f}",
        ],
        [
            "winslow stage on Slurm, created -> finished",
            f"{statistics.median(own):.2f}",
            f"{statistics.median(own) / base:.2f}",
        ],
    ]
    print(
        table(
            f"a stage of `true` on a one-node Slurm ({args.runs} runs each; medians)",
            ["how", "s", "x sbatch"],
            rows,
        )
    )
    print(f"overhead of a stage over sbatch --wrap: {statistics.median(walls) - base:+.2f} s from apply")


if __name__ == "__main__":
    main()
