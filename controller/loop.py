"""The loop runner: level-triggered reconcile by key, controller-runtime style.

A handler gets only a key, re-reads the world, acts, and returns None ("done") or a delay
("requeue after"). Events and timers only make keys due sooner; a missed wake-up delays work and
never loses it, because every key is also resynced on a timer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Handler = Callable[[str], float | None]


class WorkQueue:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._due: dict[str, float] = {}
        self._cond = threading.Condition()

    def add(self, key: str, after: float = 0.0) -> None:
        """Due at the earlier of any existing due time and now + after."""
        with self._cond:
            when = self.clock() + after
            if key not in self._due or when < self._due[key]:
                self._due[key] = when
                if after <= 0:
                    self._cond.notify_all()

    def pop_due(self) -> list[str]:
        with self._cond:
            now = self.clock()
            ready = sorted((when, key) for key, when in self._due.items() if when <= now)
            for _, key in ready:
                del self._due[key]
            return [key for _, key in ready]

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
        handlers: dict[str, Handler],
        duties: list[Callable[[], None]],
        tick: float = 0.1,
        after_each: Callable[[], None] | None = None,
    ) -> None:
        self.queue = queue
        self.handlers = handlers
        self.duties = duties
        self.tick = tick
        self.after_each = after_each
        self.stopping = threading.Event()
        self._failures: dict[str, int] = {}

    def run_once(self) -> None:
        for duty in self.duties:
            try:
                duty()
            except Exception:
                log.exception("node duty %s failed", getattr(duty, "__name__", duty))
        for key in self.queue.pop_due():
            kind, _, name = key.partition(":")
            try:
                after = self.handlers[kind](name)
                self._failures.pop(key, None)
            except Exception as exc:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                after = min(30.0, 0.5 * 2**failures)
                log.warning(
                    "reconcile %s failed (retrying in %.1fs): %s", key, after, exc, exc_info=failures == 1
                )
            if after is not None:
                self.queue.add(key, after)
            if self.after_each is not None:
                self.after_each()

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
