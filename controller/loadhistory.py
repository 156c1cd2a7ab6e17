"""A node's recent load: throughput rates from its counters, and an hour of one-minute samples.

Kept in the node's memory and published in its node file with every heartbeat (controller.monitor),
so every node's UI can draw every node's last hour without Prometheus. A restarted node starts a
new history; a step without any heartbeat is a gap (None), never a made-up value.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from winslow.resources.node import NodeHistory, Utilisation

SERIES = ("cpu", "memory", "gpu", "net_in", "net_out", "disk_read", "disk_write", "running")


def _round(value: float) -> float:
    """Four significant digits: enough for a chart, and a node file that stays small."""
    if value == 0 or not math.isfinite(value):
        return 0.0
    return round(value, 3 - math.floor(math.log10(abs(value))))


@dataclass
class _Step:
    index: int
    count: int = 0
    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SERIES, 0.0))

    def mean(self) -> dict[str, float]:
        return {k: _round(v / self.count) for k, v in self.sums.items()}


class LoadHistory:
    """Feed it each heartbeat's utilisation; it returns the rates and keeps the samples."""

    def __init__(self, step: float = 60.0, keep: int = 60) -> None:
        self.step = step
        self.samples: deque[tuple[int, dict[str, float] | None]] = deque(maxlen=keep)
        self._current: _Step | None = None
        self._last: tuple[float, tuple[int, int, int, int]] | None = None
        self._lock = threading.Lock()

    def observe(self, now: float, usage: Utilisation, gpu: float, running: int) -> Utilisation:
        """`usage` with its per-second rates filled in (zero at the first heartbeat, or when a
        counter went backwards); `gpu` is the mean GPU utilisation as a ratio."""
        counters = (usage.net_bytes_recv, usage.net_bytes_sent, usage.disk_read_bytes, usage.disk_write_bytes)
        with self._lock:
            rates = [0.0, 0.0, 0.0, 0.0]
            if self._last is not None and now > self._last[0]:
                elapsed = now - self._last[0]
                rates = [max(0.0, (c - p) / elapsed) for c, p in zip(counters, self._last[1], strict=True)]
            self._last = (now, counters)
            cores = usage.cpu_percent_per_core
            values = {
                "cpu": sum(cores) / len(cores) / 100 if cores else 0.0,
                "memory": float(usage.memory_used),
                "gpu": gpu,
                "net_in": rates[0],
                "net_out": rates[1],
                "disk_read": rates[2],
                "disk_write": rates[3],
                "running": float(running),
            }
            self._add(int(now // self.step), values)
        return usage.model_copy(
            update={
                "net_recv_per_second": _round(rates[0]),
                "net_sent_per_second": _round(rates[1]),
                "disk_read_per_second": _round(rates[2]),
                "disk_write_per_second": _round(rates[3]),
            }
        )

    def _add(self, index: int, values: dict[str, float]) -> None:
        current = self._current
        if current is not None and index != current.index:
            self.samples.append((current.index, current.mean()))
            for gap in range(max(current.index + 1, index - (self.samples.maxlen or 0)), index):
                self.samples.append((gap, None))
            current = None
        if current is None:
            current = self._current = _Step(index)
        current.count += 1
        for key, value in values.items():
            current.sums[key] += value

    def wire(self) -> NodeHistory | None:
        with self._lock:
            rows = list(self.samples)
            if self._current is not None:
                rows.append((self._current.index, self._current.mean()))
        if not rows:
            return None
        rows = rows[-(self.samples.maxlen or len(rows)) :]
        series: dict[str, list[float | None]] = {k: [r[k] if r else None for _, r in rows] for k in SERIES}
        start = datetime.fromtimestamp(rows[0][0] * self.step, UTC)
        return NodeHistory(step=self.step, start=start, **series)


_registry: dict[tuple[str, str], LoadHistory] = {}
_registry_lock = threading.Lock()


def of(share: str, node: str) -> LoadHistory:
    """The history of the node `node` on `share`, one per node even with several in one process."""
    with _registry_lock:
        return _registry.setdefault((share, node), LoadHistory())
