"""The node monitor: publishes this node's status (capacity, reservations, utilisation,
heartbeat) and tells which nodes are alive from theirs.

The heartbeat is written twice: in the status file (replaced whole, which needs free space on
the share) and in a small file of fixed size beside it (`<name>.beat`), rewritten in place, which
a full or nearly full share still takes: a node is not shown NotReady because the share is full.

Thread use: the lease keeper thread publishes the node's status; NodeDirectory is read by the
loop thread (elections) and by API requests, each with its own instance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from winslow.controller import loadhistory
from winslow.controller.capacity import gpu_utilisation
from winslow.controller.context import NodeContext
from winslow.controller.heads import read_fixed, write_fixed
from winslow.controller.images import node_images
from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.node import Gpu, Node, NodeStatus, Utilisation
from winslow.resources.reading import READER, Reader, state_limits
from winslow.resources.store import atomic_write, dump_yaml, yaml_stamps

log = logging.getLogger(__name__)


def utilisation(share: Path) -> Utilisation:
    net = psutil.net_io_counters()
    disk = psutil.disk_io_counters()
    return Utilisation(
        cpu_percent_per_core=psutil.cpu_percent(percpu=True),
        memory_used=psutil.virtual_memory().used,
        disk_free=psutil.disk_usage(str(share)).free,
        net_bytes_sent=net.bytes_sent if net else 0,
        net_bytes_recv=net.bytes_recv if net else 0,
        disk_read_bytes=disk.read_bytes if disk else 0,
        disk_write_bytes=disk.write_bytes if disk else 0,
    )


def write_beat(path: Path, when: float) -> None:
    write_fixed(path, b"%.6f" % when)


def read_beat(path: Path) -> float | None:
    value = read_fixed(path)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


MISSED_BEATS = 3
SKEW_ALLOWANCE = 2.0  # seconds: a reader's clock may differ that much before a node looks silent


@dataclass(frozen=True)
class Readiness:
    """A node's condition as a reader sees it, the way Kubernetes tells a NotReady node apart from
    evicting its pods: NotReady says only that it went silent; its stages last the stage tolerance."""

    ready: bool
    since: datetime | None = None
    reason: str = ""


def readiness(node: Node, now: float, beat: float | None = None) -> Readiness:
    """`beat`: the node's heartbeat file, fresher than its status file while the share is full."""
    s = node.status
    tolerance = f"; its stages are kept for {s.stage_tolerance:g}s" if s.stage_tolerance else ""
    if s.stopped is not None:
        return Readiness(False, s.stopped, f"stopped (a restart adopts its stages){tolerance}")
    last = max(s.heartbeat.timestamp(), beat or 0.0)
    silent = now - last
    if silent <= MISSED_BEATS * s.heartbeat_seconds + SKEW_ALLOWANCE:
        return Readiness(True)
    since = datetime.fromtimestamp(last + s.heartbeat_seconds, UTC)
    return Readiness(False, since, f"no heartbeat for {silent:.0f}s{tolerance}")


def node_status(
    ctx: NodeContext,
    api: str | None,
    started: datetime,
    build: str,
    interval: float,
    stopped: datetime | None = None,
) -> Node:
    cap = ctx.config.capacity
    reserved = ctx.reservations.total()
    gpu_use = gpu_utilisation() if cap.gpus else {}
    mult = ctx.config.multipliers
    running = sorted(ctx.reservations.requests)
    gpu_mean = sum(u[0] or 0.0 for u in gpu_use.values()) / len(gpu_use) / 100 if gpu_use else 0.0
    recent = loadhistory.of(str(ctx.layout.root), ctx.name)
    usage = recent.observe(ctx.clock(), utilisation(ctx.layout.root), gpu_mean, len(running))
    return Node(
        metadata={"name": ctx.name, "labels": dict(ctx.config.labels)},  # type: ignore[arg-type]
        status=NodeStatus(
            capacity=cap.amount,
            gpus=[
                Gpu(
                    index=g.index,
                    model=g.model,
                    memory_bytes=g.memory_bytes,
                    utilisation=gpu_use.get(g.index, (None, None))[0],
                    memory_used_bytes=gpu_use.get(g.index, (None, None))[1],
                )
                for g in cap.gpus
            ],
            reservations=reserved,
            multipliers=mult,
            utilisation=usage,
            executes=ctx.config.executes,
            running=running,
            api=api,
            build=build,
            started=started,
            heartbeat=datetime.fromtimestamp(ctx.clock(), UTC),
            heartbeat_seconds=interval,
            stopped=stopped,
            stage_tolerance=ctx.config.stage_tolerance if ctx.config.executes else None,
            clock_offsets={peer: round(v, 3) for peer, v in ctx.events.skew.estimates().items()},
            history=recent.wire(),
            images=node_images(ctx.runtime),
        ),
    )


def publish(ctx: NodeContext, node: Node) -> None:
    atomic_write(ctx.layout.node_file(ctx.name), dump_yaml(node.to_wire()), durable=False)


class NodeDirectory:
    """Every node's published status, through the share's reading path: a file is parsed once
    per version, and one that cannot be read now counts in its last good version (logged once).

    Thread use: any thread; `live` keeps one listing for `fresh` seconds under a lock."""

    def __init__(
        self,
        folder: Path,
        reader: Reader = READER,
        *,
        fresh: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.reader = reader
        self.fresh = fresh
        self.monotonic = monotonic
        self._listed: tuple[float, list[Node]] | None = None
        self._lock = threading.Lock()

    def all(self) -> list[Node]:
        found = []
        for name in yaml_stamps(self.folder):
            path = self.folder / f"{name}.yaml"
            try:
                node = self.reader.load(
                    path,
                    f"run/nodes/{name}.yaml",
                    Node.model_validate,
                    kind="Node",
                    limits=state_limits(),
                    fallback=True,
                )
            except (NotFoundError, InvalidFileError):
                continue
            found.append(node)
        return found

    def beat(self, name: str) -> float | None:
        return read_beat(self.folder / f"{name}.beat")

    def live(self, now: float, max_age: float, executing: bool = True) -> set[str]:
        """Which nodes an election waits for. A listing up to `fresh` seconds old will do: the
        election's window bounds the wait anyway, and an election looks after every reconcile,
        where reading every node's file each time was, on a network share, one of the loop's
        largest costs (a profile on the sshfs rig; only the event log's head reads cost more)."""
        with self._lock:
            t = self.monotonic()
            if self._listed is None or t - self._listed[0] >= self.fresh:
                self._listed = (t, self.all())
            nodes = self._listed[1]
        return {
            n.metadata.name
            for n in nodes
            if now - max(n.status.heartbeat.timestamp(), self.beat(n.metadata.name) or 0.0) <= max_age
            and n.status.stopped is None
            and (n.status.executes or not executing)
        }
