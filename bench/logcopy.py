"""A loud stage's log copy: controller.stagelogs.Streamer over real Docker, beside `cat` and
`docker logs` of the same output.

A stage prints SIZE bytes (50 MB; `--quick` 20 MB) of lines of 100 and of 1000 bytes
(`yes LINE | head -c SIZE`), through Docker's bounded json log (controller.docker_runtime).
Measured, for the ended container: `cat` of the same bytes from one file to another (the
ceiling of any copy), `docker logs CID > /dev/null` (Docker's own reader, which every copy of a
stage's output goes through), and the streamer copying it all (cap 1 GiB) and with a 1 MiB cap.
Then live: the streamer started with the container, as a node does, and how long after the
container ended its log was complete (the drain lag: a run is recorded ended only after it).

Usage: python bench/logcopy.py [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import docker_time, median, table

from winslow.controller.docker_runtime import DockerRuntime
from winslow.controller.runtime import ContainerSpec
from winslow.controller.stagelogs import Streamer

IMAGE = "winslow/busybox:latest"
REPS = 3


def spec(name: str, line: int, size: int) -> ContainerSpec:
    return ContainerSpec(
        name=name,
        image=IMAGE,
        command=["sh", "-c"],
        args=[f"yes \"$(printf '%0{line - 1}d' 0)\" | head -c {size}"],
        env={},
        mounts=[],
        labels={"winslow.bench": name},
    )


def streamer(runtime: DockerRuntime, container: str, log: Path, limit: int) -> Streamer:
    def running() -> bool:
        info = runtime.inspect(container)
        return info is not None and info.exit_code is None

    return Streamer(log, lambda tail: runtime.logs(container, tail), running, lambda: None, limit)


def timed(run: object) -> float:
    t = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    size = 20_000_000 if args.quick else 50_000_000
    runtime = DockerRuntime(pull=False)
    work = Path(tempfile.mkdtemp(prefix="winslow-logcopy-", dir="/var/tmp"))
    token = work.name.split("-")[-1].lower()
    made: list[str] = []
    rows, live_rows = [], []
    try:
        for line in (100, 1000):
            name = f"winslow-bench-logs-{token}-{line}"
            container = runtime.run(spec(name, line, size))
            made.append(container)
            runtime.wait(container)
            data = (b"%0*d\n" % (line - 1, 0)) * (size // line + 1)
            (work / "out.bin").write_bytes(data[:size])
            cat, docker_logs, full, capped = [], [], [], []
            for rep in range(REPS):
                cat.append(timed(lambda: subprocess.run(f"cat {work}/out.bin > {work}/cat.bin", shell=True)))
                docker_logs.append(
                    timed(lambda c=container: subprocess.run(f"docker logs {c} > /dev/null", shell=True))
                )
                full.append(timed(streamer(runtime, container, work / f"full-{line}-{rep}.log", 1 << 30).run))
                capped.append(
                    timed(streamer(runtime, container, work / f"cap-{line}-{rep}.log", 1 << 20).run)
                )
            assert (work / f"full-{line}-0.log").read_bytes() == data[:size], "the copy is exact"
            mb = size / 1e6
            for what, times in (
                ("cat", cat),
                ("docker logs", docker_logs),
                ("streamer, cap 1 GiB", full),
                ("streamer, cap 1 MiB", capped),
            ):
                t = median(times)
                rows.append(
                    (
                        line,
                        what,
                        f"{t:.2f}",
                        f"{mb / t:.1f}",
                        f"{t / median(docker_logs):.2f}",
                        f"{t / median(cat):.0f}",
                    )
                )
            # live, as a node runs it: the streamer starts with the container
            live = f"winslow-bench-live-{token}-{line}"
            for rep in range(REPS):
                started = time.time()
                container = runtime.run(spec(f"{live}-{rep}", line, size))
                made.append(container)
                copy = streamer(runtime, container, work / f"live-{line}-{rep}.log", 1 << 20)
                copy.start()
                copy.join(600)
                drained = time.time()
                attrs = runtime.client.api.inspect_container(container)["State"]
                ended = docker_time(attrs["FinishedAt"])
                live_rows.append((line, rep, f"{ended - started:.2f}", f"{drained - ended:.2f}"))
        print(
            table(
                f"log copy of {size / 1e6:.0f} MB of output, ended container, median of {REPS}",
                ["line B", "copy", "s", "MB/s", "x docker logs", "x cat"],
                rows,
            )
        )
        print(
            table(
                "live: streamer started with the container (cap 1 MiB)",
                ["line B", "run", "stage s", "drain lag s (exit -> log complete)"],
                live_rows,
            )
        )
    finally:
        for container in made:
            runtime.remove(container)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
