"""Stage transitions and a many-projects run with every node on its own caching network mount of
the share, beside the same runs on one local directory, all in one run.

The mounts are tests/rig.py's: sshfs over an sshd on 127.0.0.1, the kernel caching attributes,
names and "no such file" answers, and sshfs caching listings, for 10 s (sshfs-long) or 1 s
(sshfs-short): as NFS clients do. Manifests go through the API, whose events tell every node
at once (a hand edit is noticed by a scan, which such caches delay).

Targets (issue 9): within 1.5 times the local figures, and no transition longer than 2 s plus the
cache timeout. The baseline beside them is what one operation on the share costs on each kind
(publishing an event, replacing a small file, reading it, appending a log line, making a folder),
in a plain loop: a transition is a chain of such operations on three nodes, and a detect /
schedule / launch split of each transition shows where the difference goes.

Usage: python bench/network_share.py [--quick] [--kinds local,sshfs-long,sshfs-short]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import median, percentile, table
from transition import scenario

from tests.rig import CACHES, Rig, Sshd, available
from winslow.controller.eventlog import EventLog
from winslow.controller.events import Command
from winslow.resources.store import atomic_write

NODES = ["node-a", "node-b", "node-c"]


def follow_lag(kind: str, sshd: Sshd | None, events: int) -> list[float]:
    """Seconds from one node publishing an event to another, on its own mount, having applied
    it, polling as a node's loop does (every 50 ms)."""
    with tempfile.TemporaryDirectory(prefix="winslow-bench-lag-") as tmp:
        rig = Rig(kind, Path(tmp) / "share", sshd)
        (rig.backing / "run" / "events").mkdir(parents=True)
        try:
            a = EventLog(rig.share_for("a") / "run" / "events", "a", time.time)
            b = EventLog(rig.share_for("b") / "run" / "events", "b", time.time)
            b.poll()
            lags = []
            for i in range(events):
                published = a.publish(Command.LOCK, f"s{i}", duration=1).seq
                start = time.perf_counter()
                while b.view().seq < published:
                    time.sleep(0.05)
                    b.poll()
                lags.append(time.perf_counter() - start)
            return lags
        finally:
            rig.unmount_all()


def share_ops(kind: str, sshd: Sshd | None, n: int = 100) -> dict[str, float]:
    """Median seconds of one operation of each sort a node does on the share, in a plain loop."""
    with tempfile.TemporaryDirectory(prefix="winslow-bench-ops-") as tmp:
        rig = Rig(kind, Path(tmp) / "share", sshd)
        (rig.backing / "run" / "events").mkdir(parents=True)
        try:
            root = rig.share_for("a")
            log = EventLog(root / "run" / "events", "a", time.time)
            log.poll()
            ops: dict[str, Callable[[int], object]] = {
                "publish": lambda i: log.publish(Command.LOCK, f"s{i}", duration=1),
                "replace": lambda i: atomic_write(root / f"f{i % 5}.yaml", b"x" * 2048, durable=False),
                "read": lambda i: (root / f"f{i % 5}.yaml").read_bytes(),
                "append": lambda i: (root / "run.log").open("a").write("a line\n"),
                "mkdir": lambda i: (root / "w" / f"d{i}").mkdir(parents=True),
            }
            found = {}
            for name, op in ops.items():
                times = []
                for i in range(n):
                    t = time.perf_counter()
                    op(i)
                    times.append(time.perf_counter() - t)
                found[name] = median(times)
            return found
        finally:
            rig.unmount_all()


def run(kind: str, sshd: Sshd | None, stages: int, many: int) -> dict[str, Any]:
    def rig(share: Path) -> Rig:
        return Rig(kind, share, sshd)

    ops = share_ops(kind, sshd)
    lag = follow_lag(kind, sshd, 40)
    transitions = scenario(NODES, ["t-1", "t-2"], stages, False, "INFO", rig=rig, via_api=True)
    crowd = scenario(NODES, [f"m-{i:02d}" for i in range(many)], 3, False, "INFO", rig=rig, via_api=True)
    return {"ops": ops, "lag": lag, "transitions": transitions, "many": crowd}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 stages and 8 projects (default 8 and 16)")
    ap.add_argument("--kinds", default="local,sshfs-long,sshfs-short", help="which shares, comma-separated")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    if any(k != "local" for k in kinds) and (why := available()):
        print(f"no caching network share here: {why}", file=sys.stderr)
        return 2
    stages, many = (4, 8) if args.quick else (8, 16)
    sshd = Sshd(Path(tempfile.mkdtemp(prefix="winslow-bench-sshd-"))).start()
    try:
        results = {kind: run(kind, sshd, stages, many) for kind in kinds}
    finally:
        sshd.stop()
    local = results.get("local")
    rows = []
    for kind, res in results.items():
        gaps, crowd = res["transitions"]["gaps"], res["many"]
        all_gaps = gaps + crowd["gaps"]
        ratio = "" if local is None else median(gaps) / median(local["transitions"]["gaps"])
        total_ratio = "" if local is None else crowd["total"] / local["many"]["total"]
        rows.append(
            [
                kind,
                median(gaps),
                percentile(gaps, 90),
                max(all_gaps),
                ratio,
                crowd["total"],
                total_ratio,
                f"{crowd['runs']}/{3 * many}",
                ",".join(sorted(set(crowd["phases"].values()))),
            ]
        )
    print(
        table(
            f"3 nodes, each on its own view of the share: transitions of 2 projects x {stages} stages, and "
            f"{many} projects x 3 stages at once (seconds)",
            [
                "share",
                "gap median",
                "gap p90",
                "gap max",
                "x local",
                "many: total",
                "x local",
                "runs",
                "phase",
            ],
            rows,
        )
    )
    print()
    print(
        table(
            "how far a node follows behind the log: publish on one mount -> applied on another, "
            "polling every 50 ms (seconds)",
            ["share", "n", "median", "p90", "max"],
            [
                [k, len(r["lag"]), median(r["lag"]), percentile(r["lag"], 90), max(r["lag"])]
                for k, r in results.items()
            ],
        )
    )
    print()
    steps = ("detect", "schedule", "launch")
    print(
        table(
            "where a transition's time goes (medians, seconds): container exit -> end recorded "
            "(detect) -> next StageRun created (schedule) -> its container started (launch)",
            ["share", *steps],
            [[k, *(median(r["transitions"][s]) for s in steps)] for k, r in results.items()],
        )
    )
    print()
    names = list(next(iter(results.values()))["ops"])
    base = local["ops"] if local is not None else None
    print(
        table(
            "baseline: one operation on the share, in a plain loop (median milliseconds; x local)",
            ["share", *names],
            [
                [
                    k,
                    *(
                        f"{1000 * r['ops'][o]:.2f}" + (f" (x{r['ops'][o] / base[o]:.1f})" if base else "")
                        for o in names
                    ),
                ]
                for k, r in results.items()
            ],
        )
    )
    print()
    for kind, res in results.items():
        cache = CACHES[kind] or 0
        worst = max(res["transitions"]["gaps"] + res["many"]["gaps"])
        print(f"{kind}: longest transition {worst:.2f} s; bound: {2 + cache} s (2 s + the cache timeout)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
