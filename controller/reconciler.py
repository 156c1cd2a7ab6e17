"""What the loop runs: reconcilers, the keys they own, and what one pass of one returns.

A reconciler is level-triggered, as controller-runtime's `Reconcile(Request) -> Result`: it gets
only a key, observes the world afresh, decides with a pure function, applies what it decided,
and says whether to look again. The daemon knows no reconciler by name: each one says which
events of the log wake which of its keys, which keys a timer or a look at the share brings up,
and which lease belongs to which key.

    api ──► reconcilers ──► controller ──► resources
            observe(key) -> Observation      (reads the log, the share, the runtime)
            decide(Observation) -> [Action]  (pure: every phase and reason is set here)
            apply([Action]) -> Result        (done, requeue after N seconds, failed)

Thread use: `reconcile` and `due` run on the loop thread only, so a reconciler's own state
needs no lock; `wakes` and `lease_key` may run on any thread (the log calls listeners on the
thread that applied an event) and must only compute keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from winslow.controller.events import Event


@dataclass(frozen=True, order=True)
class Key:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Result:
    """`after`: look at the key again in that many seconds (None: done until something wakes
    it); `error`: the pass failed and the loop retries with back-off."""

    after: float | None = None
    error: str | None = None

    @classmethod
    def done(cls) -> Result:
        return cls()

    @classmethod
    def requeue(cls, after: float) -> Result:
        return cls(after=max(0.0, after))

    @classmethod
    def failed(cls, error: str) -> Result:
        return cls(error=error)


class Reconciler(Protocol):
    kind: str

    def wakes(self, event: Event) -> Iterable[Key]:
        """The keys of this kind that `event` may have changed."""
        ...

    def due(self, now: float) -> Iterable[Key]:
        """Keys a timer or a look at the share brings up (a resync, a hand edit)."""
        ...

    def lease_key(self, subject: str) -> Key | None:
        """The key whose lease `subject` is, when this node loses it."""
        ...

    def reconcile(self, key: Key) -> Result: ...
