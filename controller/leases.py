"""Leases with leases on top of the event log, as one node uses them.

The holder extends a lease at half its duration, and at least every `RENEW_EVERY` seconds for a
long one (the thesis learnt this the hard way, 7.1), and acts only while a safety margin of it
remains (a tenth), counted on its monotonic clock from just before it published the lease.
Another node counts from when it learnt of the lease, which is later, and takes over only after
the duration plus a grace: so a paused or partitioned holder stops acting before anyone else may
start, and no wall clock has to agree with another for it. A long lease renewed often (a run's
lasts the stage tolerance, minutes) rides out a share that takes no writes for most of it.

Thread use: the reconcile loop, the lease keeper and API request threads all call in; the event
log serialises what they publish.
"""

from __future__ import annotations

import logging

from winslow.controller.eventlog import EventLog, Rejected
from winslow.controller.events import Command
from winslow.controller.locks import Lease
from winslow.controller.logstate import LogState

log = logging.getLogger(__name__)
RENEW_EVERY = 30.0


def margin(duration: float) -> float:
    """How long before its expiry a holder stops acting on a lease."""
    return max(0.5, duration / 10)


def renew_after(duration: float) -> float:
    """How long after it was taken or extended a lease is extended again."""
    return min(duration / 2, RENEW_EVERY)


class Leases:
    def __init__(self, events: EventLog, lease_seconds: float, grace_seconds: float = 5.0) -> None:
        self.events = events
        self.lease_seconds = lease_seconds
        self.grace = grace_seconds
        self._failing: set[str] = set()  # extensions the share refused: said once each

    @property
    def node(self) -> str:
        return self.events.node

    def _now(self) -> float:
        return self.events.monotonic()

    def expired(self, lease: Lease) -> bool:
        """True once its holder has surely stopped acting on it, whatever its wall clock says."""
        return self._now() > lease.observed + lease.duration + self.grace

    def acquire(self, subject: str, duration: float | None = None, *, issuer: str | None = None) -> bool:
        """Take `subject` if it is free, ours, or held by a lease that has expired here."""
        me = issuer or self.node
        self.events.poll()
        lease = self.events.view().locks.lease(subject)
        supersedes = None
        if lease is not None and lease.holder != me:
            if not self.expired(lease):
                return False
            supersedes = lease.seq
        try:
            self.events.publish(
                Command.LOCK,
                subject,
                duration=duration or self.lease_seconds,
                issuer=me,
                supersedes=supersedes,
            )
            return True
        except Rejected:
            return False

    def release(self, subject: str, *, issuer: str | None = None) -> None:
        try:
            self.events.publish(Command.RELEASE, subject, issuer=issuer)
        except Rejected as exc:
            log.info("release of %s refused: %s", subject, exc)

    def held(self, subject: str, *, issuer: str | None = None, view: LogState | None = None) -> bool:
        """True while we hold the lock with a safety margin left to act in; in `view`, the
        snapshot a caller decides on, when it has one."""
        lease = (view or self.events.view()).locks.lease(subject)
        return (
            lease is not None and lease.holder == (issuer or self.node) and self._now() < self.deadline(lease)
        )

    def deadline(self, lease: Lease) -> float:
        """The monotonic time until which the holder may act on `lease` (its fence)."""
        return lease.observed + lease.duration - margin(lease.duration)

    def holder(self, subject: str, view: LogState | None = None) -> str | None:
        """Who holds `subject`, as far as this node may act on it: nobody once it expired here."""
        lease = (view or self.events.view()).locks.lease(subject)
        if lease is None or self.expired(lease):
            return None
        return lease.holder

    def mine(self) -> list[str]:
        now = self._now()
        return [
            s
            for s, lease in self.events.view().locks.leases.items()
            if lease.holder == self.node and now <= lease.observed + lease.duration
        ]

    def renew(self, subjects: list[str], *, now: bool = False) -> list[str]:
        """Extend those of `subjects` due for it (all of them with `now`), each by its own duration;
        returns the ones that are lost. One the share would not take (full, read-only) is tried
        again on the next call while its lease lasts."""
        lost = []
        at = self._now()
        for subject in subjects:
            lease = self.events.view().locks.lease(subject)
            if lease is None or lease.holder != self.node or at > lease.observed + lease.duration:
                lost.append(subject)
                continue
            if not now and at - lease.observed < renew_after(lease.duration):
                continue
            try:
                self.events.publish(Command.EXTEND, subject, duration=lease.duration)
                self._failing.discard(subject)
            except Rejected:
                lost.append(subject)
            except OSError as exc:
                if subject not in self._failing:
                    self._failing.add(subject)
                    left = self.deadline(lease) - at
                    log.warning("cannot extend %s now (%s); trying on, %.0fs of it left", subject, exc, left)
        return lost
