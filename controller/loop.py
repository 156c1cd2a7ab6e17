"""The loop runner: level-triggered reconcile by key, controller-runtime style.

A reconciler gets only a key, re-reads the world, acts, and returns a Result (done, requeue
after N seconds, failed). Events and timers only make keys due sooner; a missed wake-up delays
work and never loses it, because every key is also resynced on a timer.

Thread use: any thread may `add` keys to the queue (it is locked); only the loop thread pops
them and runs reconcilers and duties.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from winslow.controller.reconciler import Key, Reconciler, Result

log = logging.getLogger(__name__)

SUCCESS, REQUEUE_AFTER, ERROR = "success", "requeue_after", "error"
MAX_BACKOFF = 30.0
FOLLOW_ON = 3  # batches of keys one round of duties may take


class LoopObserver:
    """What the loop tells as it works, controller-runtime style; controller.metrics turns it
    into Prometheus metrics. This base tells nobody, so a loop runs without metrics."""

    def added(self, controller: str) -> None:
        """A key was queued, or made due sooner."""

    def depth(self, controller: str, keys: int) -> None:
        """Keys of `controller` that are due and not yet reconciled."""

    def reconciled(self, controller: str, result: str, waited: float, seconds: float) -> None:
        """One reconcile: its result, how long its key waited once due, how long it took."""


class WorkQueue:
    def __init__(self, clock: Callable[[], float], observer: LoopObserver | None = None) -> None:
        self.clock = clock
        self.observer = observer or LoopObserver()
        self._due: dict[Key, float] = {}
        self._cond = threading.Condition()

    def add(self, key: Key, after: float = 0.0) -> None:
        """Due at the earlier of any existing due time and now + after."""
        with self._cond:
            when = self.clock() + after
            if key not in self._due or when < self._due[key]:
                self._due[key] = when
                self.observer.added(key.kind)
                if after <= 0:
                    self._cond.notify_all()

    def pop_due(self) -> list[tuple[Key, float]]:
        """The keys due now, earliest first, each with the time it became due."""
        with self._cond:
            now = self.clock()
            ready = sorted((when, key) for key, when in self._due.items() if when <= now)
            for _, key in ready:
                del self._due[key]
            return [(key, when) for when, key in ready]

    def wait(self, timeout: float) -> None:
        with self._cond:
            now = self.clock()
            soonest = min(self._due.values(), default=now + timeout)
            delay = min(timeout, max(0.0, soonest - now))
            if delay > 0:
                self._cond.wait(delay)

    def __len__(self) -> int:
        return len(self._due)


class LoopRunner:
    """Runs periodic duties and due keys in one thread, so reconcilers never race each other."""

    def __init__(
        self,
        queue: WorkQueue,
        reconcilers: Sequence[Reconciler],
        duties: list[Callable[[], None]],
        tick: float = 0.1,
        after_each: Callable[[], None] | None = None,
        observer: LoopObserver | None = None,
    ) -> None:
        self.queue = queue
        self.observer = observer or queue.observer
        self.reconcilers = {r.kind: r for r in reconcilers}
        self.duties = duties
        self.tick = tick
        self.after_each = after_each
        self.stopping = threading.Event()
        self._failures: dict[Key, int] = {}

    def run_once(self) -> None:
        for duty in self.duties:
            try:
                duty()
            except Exception:
                log.exception("node duty %s failed", getattr(duty, "__name__", duty))
        for _ in range(FOLLOW_ON):
            batch = self.queue.pop_due()
            if not batch:
                break
            self._run(batch)

    def _run(self, batch: list[tuple[Key, float]]) -> None:
        """A batch of due keys; keys they make due at once (a new run handed on) follow without
        waiting for the next round of duties."""
        waiting = Counter(key.kind for key, _ in batch)
        for kind, keys in waiting.items():
            self.observer.depth(kind, keys)
        for key, due in batch:
            waited = max(0.0, self.queue.clock() - due)
            started = time.monotonic()
            result = self._reconcile(key)
            waiting[key.kind] -= 1
            self.observer.depth(key.kind, waiting[key.kind])
            outcome = (
                ERROR if result.error is not None else SUCCESS if result.after is None else REQUEUE_AFTER
            )
            self.observer.reconciled(key.kind, outcome, waited, time.monotonic() - started)
            if result.error is not None:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                delay = min(MAX_BACKOFF, 0.5 * 2**failures)
                log.warning("reconcile %s failed (retrying in %.1fs): %s", key, delay, result.error)
                self.queue.add(key, delay)
            else:
                self._failures.pop(key, None)
                if result.after is not None:
                    self.queue.add(key, result.after)
            if self.after_each is not None:
                self.after_each()

    def _reconcile(self, key: Key) -> Result:
        """A failed pass is retried with back-off: an exception is a failure like any other."""
        try:
            return self.reconcilers[key.kind].reconcile(key)
        except Exception as exc:
            if key not in self._failures:  # the first time, with where it came from
                log.warning("reconcile %s raised", key, exc_info=True)
            return Result.failed(f"{type(exc).__name__}: {exc}")

    def run(self) -> None:
        while not self.stopping.is_set():
            self.run_once()
            self.queue.wait(self.tick)


def every(seconds: float, duty: Callable[[], None], clock: Callable[[], float]) -> Callable[[], None]:
    """`duty`, run at most once per `seconds` however often the loop calls it."""
    last = float("-inf")

    def run() -> None:
        nonlocal last
        now = clock()
        if now - last >= seconds:
            last = now
            duty()

    run.__name__ = getattr(duty, "__name__", "duty")
    return run
