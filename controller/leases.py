"""Leases with leases on top of the event log, as one node uses them.

The holder extends at half the duration (the thesis learnt this the hard way, 7.1) and acts only
while a safety margin of its lease remains, counted on its monotonic clock from just before it
published the lease. Another node counts from when it learnt of the lease, which is later, and
takes over only after the duration plus a grace: so a paused or partitioned holder stops acting
before anyone else may start, and no wall clock has to agree with another for it.

Thread use: the reconcile loop, the lease keeper and API request threads all call in; the event
log serialises what they publish.
"""

from __future__ import annotations

import logging

from winslow.controller.eventlog import EventLog, Rejected
from winslow.controller.events import Command
from winslow.controller.locks import Lease

log = logging.getLogger(__name__)


class Leases:
    def __init__(self, events: EventLog, lease_seconds: float, grace_seconds: float = 5.0) -> None:
        self.events = events
        self.lease_seconds = lease_seconds
        self.grace = grace_seconds
        self.margin = max(0.5, lease_seconds / 10)

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
        lease = self.events.state.locks.lease(subject)
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

    def held(self, subject: str, *, issuer: str | None = None) -> bool:
        """True while we hold the lock with a safety margin left to act in."""
        lease = self.events.state.locks.lease(subject)
        return (
            lease is not None
            and lease.holder == (issuer or self.node)
            and self._now() < lease.observed + lease.duration - self.margin
        )

    def holder(self, subject: str) -> str | None:
        """Who holds `subject`, as far as this node may act on it: nobody once it expired here."""
        lease = self.events.state.locks.lease(subject)
        if lease is None or self.expired(lease):
            return None
        return lease.holder

    def mine(self) -> list[str]:
        now = self._now()
        return [
            s
            for s, lease in list(self.events.state.locks.leases.items())
            if lease.holder == self.node and now <= lease.observed + lease.duration
        ]

    def renew(self, subjects: list[str]) -> list[str]:
        """Extend those of `subjects` past half their lease; returns the ones that could not be."""
        lost = []
        now = self._now()
        for subject in subjects:
            lease = self.events.state.locks.lease(subject)
            if lease is None or lease.holder != self.node or now > lease.observed + lease.duration:
                lost.append(subject)
                continue
            if lease.observed + lease.duration - now > self.lease_seconds / 2:
                continue
            try:
                self.events.publish(Command.EXTEND, subject, duration=self.lease_seconds)
            except Rejected:
                lost.append(subject)
        return lost
