"""Liveness at scale: N `winslow node` processes on one share, under load, for M minutes.

Why: a node is NotReady once its heartbeat is 3 intervals + 2 s old (controller/monitor.py
`readiness`), and a StageRun Lost once its node stops renewing the run's lease. Neither may be a
false alarm: with many nodes on one share, elections, locks, records and API reads keep every
process busy, and a heartbeat or a renewal that waits behind that work looks like a dead node.
This runs a cluster (a few executors, the rest `--no-execute` observers) with the default
timings, feeds it a stream of 2-stage projects through the API and API reads from client
threads, samples every node file every 0.5 s (heartbeat lag = now - status.heartbeat) and
GET /api/v1/nodes every 5 s, and counts Lost StageRuns and Failed projects at the end.
Baseline in the same run: one process rewriting N small files atomically (temp + rename) at the
same interval while the same sampler reads them, i.e. the lag the interval alone gives.
Timings are printed, never asserted; a false NotReady or a Lost run exits 1 (correctness).

Usage: python bench/liveness.py [--quick] [--nodes N] [--executors K] [--minutes M] [--keep]
       [any node flag, e.g. --lease-seconds 12, passed to every node]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import iso_time, percentile, table

from tests.harness import IMAGE, free_port, pipeline, project, remove_containers, stage, wait_for


def heartbeat(path: Path) -> tuple[float, float] | None:
    """(heartbeat, interval) as any reader gets them: the whole file, parsed."""
    try:
        status = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)["status"]
        return iso_time(status["heartbeat"]), float(status["heartbeatSeconds"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        return None


def sample(files: list[Path], lags: list[float], stop: threading.Event, every: float = 0.5) -> None:
    while not stop.wait(every):
        for f in files:
            if (hb := heartbeat(f)) is not None:
                lags.append(time.time() - hb[0])


def baseline(n: int, interval: float, seconds: float, folder: Path) -> list[float]:
    """N files rewritten (temp + rename) every `interval`, staggered as nodes are, in one process."""
    folder.mkdir()
    files = [folder / f"b{i:02d}.yaml" for i in range(n)]

    def write(f: Path) -> None:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        tmp = f.with_name(f".{f.name}.tmp")
        tmp.write_text(yaml.safe_dump({"status": {"heartbeat": now, "heartbeatSeconds": interval}}))
        os.replace(tmp, f)

    for f in files:
        write(f)
    stop, lags = threading.Event(), list[float]()
    reader = threading.Thread(target=sample, args=(files, lags, stop))
    reader.start()
    t0, k = time.monotonic(), 0
    while (due := t0 + k * interval / n) < t0 + seconds:
        time.sleep(max(0.0, due - time.monotonic()))
        write(files[k % n])
        k += 1
    stop.set()
    reader.join()
    return lags


class Cluster:
    def __init__(self, tmp: Path, n: int, executors: int, extra: list[str]) -> None:
        self.share, self.tmp = tmp / "share", tmp
        self.names = [f"node-{i:02d}" for i in range(n)]
        self.ports = [free_port() for _ in self.names]
        self.procs: list[subprocess.Popen[bytes]] = []
        self.flags = [[] if i < executors else ["--no-execute"] for i in range(n)]
        self.extra = extra

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i % len(self.ports)]}"

    def healthy(self, i: int) -> bool:
        if self.procs[i].poll() is not None:
            raise RuntimeError(f"{self.names[i]} exited; see {self.tmp}/node-{self.names[i]}.log")
        try:
            return httpx.get(f"{self.url(i)}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self) -> None:
        for i, name in enumerate(self.names):
            cmd = [sys.executable, "-m", "winslow.api.node.cli", "node", "--share", str(self.share)]
            cmd += ["--name", name, "--port", str(self.ports[i]), *self.flags[i], *self.extra]
            with (self.tmp / f"node-{name}.log").open("ab") as out:
                self.procs.append(
                    subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
                )
            if i == 0:  # the first node makes the share, the admin user and the config file
                wait_for(lambda: self.healthy(0), 60, f"{name} to answer /healthz", 0.2)
        for i in range(len(self.names)):
            wait_for(lambda i=i: self.healthy(i), 180, f"{self.names[i]} to answer /healthz", 0.5)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate() if p.poll() is None else None
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def every(stop: threading.Event, period: float, work: Callable[[], None], errors: list[str]) -> None:
    while not stop.wait(period):
        try:
            work()
        except (httpx.HTTPError, RuntimeError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")


def items(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    r = client.get(url)
    r.raise_for_status()
    return list(r.json()["items"])


def run(args: argparse.Namespace, extra: list[str], tmp: Path) -> int:
    os.environ["WINSLOW_CONFIG"] = str(tmp / "winslow-config.yaml")  # never the user's own
    cluster = Cluster(tmp, args.nodes, args.executors, extra)
    stop, no_more = threading.Event(), threading.Event()
    lags: list[float] = []
    errors: list[str] = []
    not_ready: list[str] = []
    created: list[str] = []
    reads = itertools.count(1)
    try:
        cluster.start()
        token = yaml.safe_load(Path(os.environ["WINSLOW_CONFIG"]).read_text())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        api = httpx.Client(headers=auth, timeout=30)
        bench = pipeline("bench", stage("one", "sleep 1"), stage("two", "sleep 1"))
        api.put(f"{cluster.url(0)}/api/v1/pipelines/bench", json=bench).raise_for_status()
        files = [cluster.share / "run" / "nodes" / f"{n}.yaml" for n in cluster.names]
        interval = max(hb[1] for f in files if (hb := heartbeat(f)))

        def watch_nodes() -> None:
            for n in items(api, f"{cluster.url(0)}/api/v1/nodes"):
                if not n["status"].get("ready", False):
                    not_ready.append(
                        f"{time.strftime('%T')} {n['metadata']['name']}: {n['status'].get('condition')}"
                    )

        def create() -> None:
            created.append(name := f"p{len(created):04d}")
            r = api.post(f"{cluster.url(len(created))}/api/v1/projects", json=project(name, "bench"))
            if r.status_code != 201:
                raise RuntimeError(f"POST {name}: {r.status_code} {r.text[:200]}")

        def reader(k: int) -> Callable[[], None]:
            client = httpx.Client(headers=auth, timeout=30)

            def read() -> None:
                i = next(reads)
                items(client, f"{cluster.url(i + k)}/api/v1/{('nodes', 'projects')[i % 2]}")

            return read

        jobs: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
            (sample, (files, lags, stop)),
            (every, (stop, 5.0, watch_nodes, errors)),
            (every, (no_more, args.project_every, create, errors)),
            *((every, (stop, 0.5, reader(k), errors)) for k in range(args.readers)),
        ]
        threads = [threading.Thread(target=f, args=a, daemon=True) for f, a in jobs]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        while (left := t0 + args.minutes * 60 - time.monotonic()) > 0:
            time.sleep(min(60.0, left))
            print(
                f"{(time.monotonic() - t0) / 60:.1f} min: {len(created)} projects, {len(lags)} samples, "
                f"p99 lag {percentile(lags, 99):.3f} s, NotReady {len(not_ready)}",
                file=sys.stderr,
            )
        no_more.set()  # no new projects from here on; let the last ones finish
        drain = time.monotonic() + 90
        busy = ("Waiting", "Running")
        projects: list[dict[str, Any]] = []
        while time.monotonic() < drain:
            projects = items(api, f"{cluster.url(0)}/api/v1/projects")
            if not any(p.get("status", {}).get("phase") in busy for p in projects):
                break
            time.sleep(2)
        stop.set()
        for t in threads:
            t.join(30)
        runs = items(api, f"{cluster.url(0)}/api/v1/stageruns")
        phases = [p.get("status", {}).get("phase", "?") for p in projects]
        lost = [r["metadata"]["name"] for r in runs if r["status"]["phase"] == "Lost"]
        nreads = next(reads) - 1
    finally:
        stop.set()
        no_more.set()
        cluster.stop()
        remove_containers(cluster.share)
    base = baseline(args.nodes, interval, args.baseline_seconds, tmp / "baseline")

    def row(what: str, xs: list[float]) -> list[object]:
        p99 = percentile(xs, 99)
        return [what, len(xs), *(percentile(xs, p) for p in (50, 90, 99)), max(xs), p99 / interval]

    print(
        f"{args.nodes} nodes ({args.executors} executing) on one local share, {args.minutes:g} min, "
        f"heartbeat every {interval:g} s; {len(created)} projects created "
        f"({phases.count('Succeeded')} Succeeded, {phases.count('Failed')} Failed, "
        f"{sum(p in busy for p in phases)} unfinished), {len(runs)} StageRuns, {nreads} API reads"
    )
    print(
        table(
            "heartbeat lag = now - status.heartbeat when read (s), every node file every 0.5 s",
            ["measure", "n", "p50", "p90", "p99", "max", "p99 / interval"],
            [row("baseline: 1 process, temp + rename", base), row("winslow nodes", lags)],
        )
    )
    print(f"nodes' p99 / baseline's p99: {percentile(lags, 99) / percentile(base, 99):.3f}")
    print(
        f"NotReady observations: {len(not_ready)} (must be 0); Lost runs: {len(lost)} (must be 0); ", end=""
    )
    print(f"Failed projects: {phases.count('Failed')}; client errors: {len(errors)}")
    print("".join(f"  {line}\n" for line in [*not_ready[:20], *lost[:20], *errors[:10]]), end="")
    return 1 if not_ready or lost else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 minute, 8 nodes")
    ap.add_argument("--nodes", type=int, help="node processes (default 20; quick 8)")
    ap.add_argument("--executors", type=int, default=2, help="of which run stages (default 2)")
    ap.add_argument("--minutes", type=float, help="how long under load (default 10; quick 1)")
    ap.add_argument("--project-every", type=float, default=4.0, help="seconds between new projects")
    ap.add_argument("--readers", type=int, default=3, help="API client threads")
    ap.add_argument("--baseline-seconds", type=float, help="baseline length (default 60; quick 20)")
    ap.add_argument("--keep", action="store_true", help="keep the temp share and node logs")
    args, extra = ap.parse_known_args()
    args.nodes = args.nodes or (8 if args.quick else 20)
    args.minutes = args.minutes or (1.0 if args.quick else 10.0)
    args.baseline_seconds = args.baseline_seconds or (20.0 if args.quick else 60.0)
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        print(f"no Docker engine with {IMAGE}; run scripts/setup-host.sh", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # cleans up as Ctrl-C does
    tmp = Path(tempfile.mkdtemp(prefix="winslow-bench-liveness-"))
    keep = args.keep
    try:
        code = run(args, extra, tmp)
        keep = keep or code != 0  # a correctness failure keeps the node logs for a post-mortem
        return code
    except KeyboardInterrupt:
        print("interrupted; nodes and containers removed", file=sys.stderr)
        return 130
    except Exception:  # not Ctrl-C: a node that would not start, an API that broke; keep the logs
        keep = True
        raise
    finally:
        if keep:
            print(f"[kept {tmp}; node logs are {tmp}/node-*.log]", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
