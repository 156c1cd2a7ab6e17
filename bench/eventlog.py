"""Event-log throughput and lock latency, on tmpfs and on disk, beside plain link(2) loops.

Uses controller.eventlog.EventLog directly. Every publisher is its own process (multiprocessing,
spawn) with its own EventLog on one shared folder, exactly as nodes share `run/events/`.

- events/s: publishers append LOCK/RELEASE pairs on their own subjects for a fixed time.
- lock latency: 8 processes compete for ONE subject; latency is first attempt -> successful LOCK
  (retrying on Rejected after a 1 ms sleep); the holder releases at once.
- baseline: a loop writing a small temp file and os.link-ing it to the next name, then unlinking
  the temp file (what EventLog._link does, without the log), in files/s, same folder, same run.

Usage: python bench/eventlog.py [--quick] [--keep]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import median, percentile, table

from winslow.controller.eventlog import EventLog, Rejected
from winslow.controller.events import Command

PAYLOAD = (
    b'{"issuer":"node-x","command":"LOCK","subject":"bench-0-000000",'
    b'"timestamp":1732770000.123456,"duration":30.0}'
)


# -- workers (top level, so that spawn can pickle them) ----------------------------------------


def _wait_start(start_at: float) -> None:
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    elif delay < -0.1:
        print(f"[a worker started {-delay:.2f} s late; raise `lead`]", file=sys.stderr)


def plain_link_worker(folder: str, tag: str, start_at: float, seconds: float, out: mp.Queue) -> None:
    d = Path(folder)
    _wait_start(start_at)
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        tmp = d / f".{tag}.{n}.tmp"
        tmp.write_bytes(PAYLOAD)
        os.link(tmp, d / f"{tag}-{n:012d}")
        tmp.unlink()
        n += 1
    out.put((n, time.perf_counter() - t0))


def publish_worker(folder: str, node: str, start_at: float, seconds: float, out: mp.Queue) -> None:
    log = EventLog(Path(folder), node, time.time)
    log.poll()  # catch up before the clock starts
    _wait_start(start_at)
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        subject = f"{node}-{n}"
        for command in (Command.LOCK, Command.RELEASE):
            try:
                log.publish(command, subject, duration=30.0 if command is Command.LOCK else 0.0)
            except Rejected:
                _explain(log, command, subject)
                raise
        n += 2
    out.put((n, time.perf_counter() - t0))


def _explain(log: EventLog, command: Command, subject: str) -> None:
    """A publisher refused on its own subject means the log and this node disagree: say everything
    that tells why, since it does not happen twice on demand."""
    try:
        snapshot: Any = json.loads(log.snapshot_path.read_bytes())
        snapshot = {
            "seq": snapshot["seq"],
            "leases": len(snapshot["leases"]),
            "published": snapshot.get("published"),
        }
    except (OSError, ValueError) as exc:
        snapshot = repr(exc)
    numbers = sorted(int(n) for n in os.listdir(log.folder) if n.isdigit())
    print(
        f"[{log.node}: {command} {subject} refused at {log.view().seq + 1}; its lease there: "
        f"{log.view().locks.lease(subject)}; published: {log.view().published}; snapshot: {snapshot}; "
        f"events on the share: {numbers[:1]}..{numbers[-1:]} ({len(numbers)})]",
        file=sys.stderr,
    )


def contend_worker(folder: str, node: str, start_at: float, rounds: int, out: mp.Queue) -> None:
    log = EventLog(Path(folder), node, time.time)
    log.poll()
    rng = random.Random(node)
    _wait_start(start_at)
    latencies: list[float] = []
    retries = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        while True:
            try:
                log.publish(Command.LOCK, "contended", duration=30.0)
                break
            except Rejected:
                retries += 1
                time.sleep(0.001)
        latencies.append(time.perf_counter() - t0)
        log.publish(Command.RELEASE, "contended")
        time.sleep(rng.uniform(0.0, 0.002))  # think time, so the releaser does not always win again
    out.put((latencies, retries))


# -- drivers -----------------------------------------------------------------------------------


def run_procs(target, argsets: list[tuple]) -> list:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, out)) for a in argsets]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(30)
    return results


def fresh(base: Path, name: str) -> Path:
    d = base / name
    d.mkdir(parents=True)
    return d


def rate(results: list[tuple[int, float]]) -> float:
    return sum(n for n, _ in results) / max(t for _, t in results)


def measure(base: Path, seconds: float, rounds: int, procs: int) -> dict[str, Any]:
    lead = 0.8  # spawned interpreters import and catch up within this (about 0.15 s each on 2 cores)
    res: dict[str, Any] = {}
    start = time.time() + lead
    res["link1"] = rate(run_procs(plain_link_worker, [(str(fresh(base, "link1")), "w0", start, seconds)]))
    start = time.time() + lead
    d = fresh(base, "link8")
    res["link8"] = rate(
        run_procs(plain_link_worker, [(str(d), f"w{k}", start, seconds) for k in range(procs)])
    )
    start = time.time() + lead
    res["pub1"] = rate(
        run_procs(publish_worker, [(str(fresh(base, "pub1") / "events"), "node-0", start, seconds)])
    )
    start = time.time() + lead
    d = fresh(base, "pub8") / "events"
    res["pub8"] = rate(
        run_procs(publish_worker, [(str(d), f"node-{k}", start, seconds) for k in range(procs)])
    )
    start = time.time() + lead
    d = fresh(base, "lock") / "events"
    t0 = time.time()
    got = run_procs(contend_worker, [(str(d), f"node-{k}", start, rounds) for k in range(procs)])
    lat = [x for ls, _ in got for x in ls]
    res["lock_lat"] = lat
    res["lock_retries"] = sum(r for _, r in got)
    res["lock_rate"] = len(lat) / max(1e-9, time.time() - max(start, t0))
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (< 30 s)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folders")
    args = ap.parse_args()
    seconds = 1.0 if args.quick else 4.0
    rounds = 10 if args.quick else 40
    procs = 8
    places = [("tmpfs", Path("/dev/shm")), ("disk", Path("/var/tmp"))]
    results: dict[str, dict[str, Any]] = {}
    for label, where in places:
        if not where.is_dir():
            print(f"[skipping {label}: {where} is missing]", file=sys.stderr)
            continue
        base = Path(tempfile.mkdtemp(prefix="winslow-bench-eventlog-", dir=where))
        try:
            results[label] = measure(base, seconds, rounds, procs)
        finally:
            if args.keep:
                print(f"[kept {base}]", file=sys.stderr)
            else:
                shutil.rmtree(base, ignore_errors=True)

    rows = []
    for label, r in results.items():
        rows.append([f"{label}: plain link, 1 proc (baseline)", r["link1"], "files/s", 1.0])
        rows.append([f"{label}: plain link, {procs} procs", r["link8"], "files/s", r["link8"] / r["link1"]])
        rows.append([f"{label}: publish, 1 proc", r["pub1"], "events/s", r["pub1"] / r["link1"]])
        rows.append([f"{label}: publish, {procs} procs", r["pub8"], "events/s", r["pub8"] / r["link1"]])
    print(
        table(
            f"event log throughput ({seconds:g} s each; LOCK/RELEASE pairs on own subjects)",
            ["measure", "rate", "unit", "/ plain link 1p"],
            rows,
        )
    )
    print()
    rows = []
    for label, r in results.items():
        lat = r["lock_lat"]
        assert isinstance(lat, list)
        rows.append(
            [
                label,
                len(lat),
                median(lat) * 1000,
                percentile(lat, 99) * 1000,
                max(lat) * 1000,
                r["lock_rate"],
                r["lock_retries"],
            ]
        )
    print(
        table(
            f"lock acquire latency, {procs} procs on one subject (first attempt -> LOCK)",
            ["log on", "locks", "p50 ms", "p99 ms", "max ms", "locks/s", "rejected"],
            rows,
        )
    )
    for label, r in results.items():
        print(
            f"{label}: events/s / plain-link/s = {r['pub1'] / r['link1']:.3f} (1 proc), "
            f"{r['pub8'] / r['link8']:.3f} ({procs} procs vs {procs}-proc plain link)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
