"""How far other nodes' wall clocks are from this node's, estimated from what they publish.

No decision depends on it: leases, elections and node loss are judged on this node's monotonic
clock. It is reported, because a skewed clock makes timestamps, logs and the utilisation report
misleading, and a warning is cheaper than a puzzled afternoon.

An event another node publishes carries its wall-clock time; read here a moment later,
`their time - our time = offset - delay` with `delay >= 0`, so the largest such sample over a
recent window bounds the offset from below and approaches it as the delay approaches zero.
Every node publishes its own estimates in its node file, which bound the offset from above.
What is reported is the offset nearest zero within both bounds: what has been shown, never more.
A bound is loose when every recent sample was read late (a node that just started, a busy loop,
a slow share); half the gap between two loose bounds looked like seconds of skew between the
processes of one machine, so a loose bound only ever hides skew, it never invents it.

Thread use: the event log samples (reconcile loop and API threads); the monitor reads.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WARN_SECONDS = 1.0
MIN_SAMPLES = 2


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
    """A peer's clock minus ours, from our estimate of it (a lower bound) and its estimate of us
    (minus an upper bound): the value nearest zero that both allow."""
    if ours is None and theirs is None:
        return None
    low = ours if ours is not None else -math.inf
    high = -theirs if theirs is not None else math.inf
    if low > high:  # a clock stepped between the samples: neither bound holds; split the gap
        return (low + high) / 2
    return min(max(0.0, low), high)


def offsets(me: str, ours: dict[str, float], theirs: dict[str, dict[str, float]]) -> dict[str, float]:
    """Every peer's clock minus ours, from our estimates and each peer's published estimates."""
    found = {}
    for peer in set(ours) | set(theirs):
        if peer == me:
            continue
        value = combined(ours.get(peer), theirs.get(peer, {}).get(me))
        if value is not None:
            found[peer] = value
    return found


def warning(me: str, peer: str, offset: float) -> str:
    ahead = "ahead of" if offset > 0 else "behind"
    return (
        f"the clock of node {peer} is {abs(offset):.1f}s {ahead} that of node {me}; leases and node "
        "loss do not depend on it, but timestamps, logs and reports do: run NTP (chrony or "
        "systemd-timesyncd) on every node"
    )


class SkewWatch:
    """Logs once when a peer's clock drifts past WARN_SECONDS, and once when it is back."""

    def __init__(self, me: str) -> None:
        self.me = me
        self._skewed: set[str] = set()

    def check(self, found: dict[str, float]) -> list[tuple[bool, str]]:
        """(is a warning, message) for every change of state since the last check."""
        messages = []
        for peer, offset in sorted(found.items()):
            skewed = abs(offset) > WARN_SECONDS
            if skewed and peer not in self._skewed:
                self._skewed.add(peer)
                messages.append((True, warning(self.me, peer, offset)))
            elif not skewed and peer in self._skewed:
                self._skewed.discard(peer)
                messages.append((False, f"the clock of node {peer} agrees with ours again ({offset:+.2f}s)"))
        return messages
