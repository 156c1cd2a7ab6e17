"""How far other nodes' wall clocks are from this node's, estimated from what they publish.

No decision depends on it: leases, elections and node loss are judged on this node's monotonic
clock. It is reported, because a skewed clock makes timestamps, logs and the utilisation report
misleading, and a warning is cheaper than a puzzled afternoon.

An event another node publishes carries its wall-clock time; read here a moment later,
`their time - our time = offset - delay` with `delay >= 0`, so the largest such sample over a
recent window bounds the offset from below and approaches it as the delay approaches zero.
Every node publishes its own estimates in its node file; with both directions the delay cancels
as in NTP: `offset ~ (ours - theirs) / 2`.

Thread use: the event log samples (reconcile loop and API threads); the monitor reads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WARN_SECONDS = 1.0
MIN_SAMPLES = 3


class SkewTracker:
    def __init__(self, window: float = 120.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.monotonic = monotonic
        self._samples: dict[str, deque[tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def sample(self, node: str, their_wall: float, our_wall: float) -> None:
        now = self.monotonic()
        with self._lock:
            kept = self._samples.setdefault(node, deque(maxlen=512))
            kept.append((now, their_wall - our_wall))
            while kept and now - kept[0][0] > self.window:
                kept.popleft()

    def estimates(self) -> dict[str, float]:
        """Per node seen recently: its clock minus ours, as far as one direction tells."""
        now = self.monotonic()
        with self._lock:
            return {
                node: max(value for _, value in recent)
                for node, kept in self._samples.items()
                if len(recent := [s for s in kept if now - s[0] <= self.window]) >= MIN_SAMPLES
            }


def combined(ours: float | None, theirs: float | None) -> float | None:
    """A peer's clock minus ours, from our estimate of it and its estimate of us."""
    if ours is not None and theirs is not None:
        return (ours - theirs) / 2
    if ours is not None:
        return ours
    if theirs is not None:
        return -theirs
    return None
