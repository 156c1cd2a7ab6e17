"""A sweep's wall time against the same runs in a line, with real `winslow node` processes and
real Docker (issue 20).

The same N runs of `sleep S` three ways on one share: as one stage with a matrix of N values
(they run at once, each after an election of its own), and as N stages in a line (one after the
other). Baselines measured in the same run: N plain `docker run --rm IMAGE sleep S` issued one
after the other, and all at once from Python threads. Wall time is from `winsctl apply` to the
project's Succeeded status (as a user waits for it).

Usage: python bench/sweep.py [--runs N] [--seconds S] [--nodes K]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import table

from tests.harness import (
    IMAGE,
    NodeProcess,
    pipeline,
    project,
    project_status,
    remove_containers,
    stage,
    wait_for,
    winsctl,
    write_yaml,
)


def docker_sleep(seconds: float) -> None:
    subprocess.run(["docker", "run", "--rm", IMAGE, "sleep", f"{seconds:g}"], check=True, capture_output=True)


def plain(runs: int, seconds: float, parallel: bool) -> float:
    start = time.monotonic()
    if parallel:
        with ThreadPoolExecutor(runs) as pool:
            list(pool.map(docker_sleep, [seconds] * runs))
    else:
        for _ in range(runs):
            docker_sleep(seconds)
    return time.monotonic() - start


def through_winslow(
    server: str, share: Path, folder: Path, name: str, stages: list[dict[str, object]]
) -> float:
    manifest = write_yaml(folder / f"{name}.yaml", pipeline(name, *stages), project(name, name))
    start = time.monotonic()
    winsctl(server, "apply", "-f", str(manifest))
    wait_for(
        lambda: project_status(share, name).get("phase") == "Succeeded",
        600,
        f"{name} to succeed",
        interval=0.1,
    )
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--nodes", type=int, default=2)
    args = parser.parse_args()
    n, s = args.runs, args.seconds
    folder = Path(tempfile.mkdtemp(prefix="winslow-bench-sweep-"))
    share = folder / "share"
    nodes = [NodeProcess(share, f"node-{i}") for i in range(args.nodes)]
    try:
        for node in nodes:
            node.start()
        server = nodes[0].url
        script = f"sleep {s:g}"
        sweep = through_winslow(
            server, share, folder, "sweep", [stage("train", script, matrix={"N": [str(i) for i in range(n)]})]
        )
        line = through_winslow(server, share, folder, "line", [stage(f"train-{i}", script) for i in range(n)])
        sequential = plain(n, s, parallel=False)
        parallel = plain(n, s, parallel=True)
    finally:
        for node in nodes:
            node.kill()
        remove_containers(share)
        shutil.rmtree(folder, ignore_errors=True)
    print(
        table(
            f"{n} runs of `sleep {s:g}` on {args.nodes} node(s): wall seconds",
            ["how", "wall s", "x the sweep"],
            [
                ["Winslow: one stage, a matrix of N", f"{sweep:.2f}", "1.00"],
                ["Winslow: N stages in a line", f"{line:.2f}", f"{line / sweep:.2f}"],
                ["docker run, one after the other", f"{sequential:.2f}", f"{sequential / sweep:.2f}"],
                ["docker run, all at once", f"{parallel:.2f}", f"{parallel / sweep:.2f}"],
            ],
        )
    )
    print(
        f"sweep overhead over plain parallel docker run: {sweep - parallel:+.2f} s ({sweep / parallel:.2f}x)"
    )
    print(f"line overhead over sequential docker run: {line - sequential:+.2f} s ({line / sequential:.2f}x)")


if __name__ == "__main__":
    main()
