"""What a node's reconcilers share: its configuration and its handles on the world.

Thread use: `reservations` is locked (the monitor's thread reads it); everything else that
changes (`unprojected`) belongs to the loop thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from winslow.controller.capacity import Capacity
from winslow.controller.eventlog import EventLog
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Leases
from winslow.controller.loop import WorkQueue
from winslow.controller.runtime import Runtime
from winslow.controller.watchdog import Fence
from winslow.resources.amount import Amount, Weights


@dataclass(frozen=True)
class NodeConfig:
    name: str
    executes: bool = True
    lease_seconds: float = 30.0
    grace_seconds: float = 5.0
    stage_tolerance: float = 300.0
    """How long a run's lease lasts without renewal: a node silent for less (a restart, a freeze, a
    full share) keeps its stages; past it they are Lost, and its watchdog has stopped them."""
    election_seconds: float = 2.0
    capacity: Capacity = field(default_factory=lambda: Capacity(cpu=1, memory=1 << 30))
    multipliers: Weights = field(default_factory=Weights)
    labels: dict[str, str] = field(default_factory=dict)
    """What this node is (`--label gpu=a100`): a stage's nodeSelector picks nodes by them."""
    max_log_bytes: int = 1 << 30
    remind_after: float = 12 * 3600.0
    """Seconds a gate waits for confirmation before `spec.notify` targets are reminded (and between)."""
    """Container output kept in a run's log on the share: its head and its tail (controller.stagelogs)."""


@dataclass
class Reservations:
    """The requests of this node's active StageRuns, and the GPUs granted to each."""

    requests: dict[str, Amount] = field(default_factory=dict)
    gpus: dict[str, list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def total(self) -> Amount:
        with self._lock:  # start workers and the lease keeper use it too
            return Amount.total(list(self.requests.values()))

    def free(self, capacity: Capacity) -> Amount:
        return capacity.amount.minus(self.total())

    def grant(self, run: str, request: Amount, gpus: list[int]) -> None:
        """Reserve for `run` the GPUs its record names: chosen once, when the run was created."""
        with self._lock:
            self.requests[run] = request
            self.gpus[run] = list(gpus)

    def holds(self, run: str) -> bool:
        with self._lock:
            return run in self.requests

    def names(self) -> list[str]:
        with self._lock:
            return list(self.requests)

    def drop(self, run: str) -> None:
        with self._lock:
            self.requests.pop(run, None)
            self.gpus.pop(run, None)

    def taken_gpus(self) -> set[int]:
        with self._lock:
            return {g for granted in self.gpus.values() for g in granted}


@dataclass
class NodeContext:
    config: NodeConfig
    layout: ShareLayout
    events: EventLog
    leases: Leases
    runtime: Runtime | None
    clock: Callable[[], float]
    queue: WorkQueue
    reservations: Reservations = field(default_factory=Reservations)
    fence: Fence | None = None
    """What this node's watchdog fences by (executing nodes): refreshed before a container starts."""
    unprojected: dict[str, int] = field(default_factory=dict)
    """StageRuns whose file lags their record, by the record's position on the log (loop thread)."""
    outside_free: Callable[[], Amount | None] | None = None
    """What the runtime's own scheduler has free now (a Slurm partition's idle resources, which
    other users' jobs take too), where it has one; None while it cannot tell."""

    @property
    def name(self) -> str:
        return self.config.name

    def free(self) -> Amount:
        """What this node offers in elections: its capacity less its own runs' requests, and no more
        than its runtime's scheduler has free."""
        free = self.reservations.free(self.config.capacity)
        outside = self.outside_free() if self.outside_free is not None else None
        return free if outside is None else free.least(outside)
