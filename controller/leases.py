"""Locks with leases on top of the event log, as one node uses them.

The holder extends at half the duration (the thesis learnt this the hard way, 7.1), and acts
only while a safety margin of its lease remains, so a paused or partitioned node stops acting
before anyone else may take over (others wait for expiry plus the grace).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from winslow.controller.eventlog import EventLog, Rejected
from winslow.controller.events import Command

log = logging.getLogger(__name__)


class Locks:
    def __init__(self, events: EventLog, clock: Callable[[], float], lease_seconds: float) -> None:
        self.events = events
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.margin = max(0.5, lease_seconds / 10)

    @property
    def node(self) -> str:
        return self.events.node

    def acquire(self, subject: str, duration: float | None = None) -> bool:
        try:
            self.events.publish(Command.LOCK, subject, duration=duration or self.lease_seconds)
            return True
        except Rejected:
            return False

    def release(self, subject: str) -> None:
        try:
            self.events.publish(Command.RELEASE, subject)
        except Rejected as exc:
            log.info("release of %s refused: %s", subject, exc)

    def held(self, subject: str) -> bool:
        """True while this node holds the lock with a safety margin left to act in."""
        lease = self.events.state.locks.lease(subject)
        return lease is not None and lease.holder == self.node and self.clock() < lease.expires - self.margin

    def holder(self, subject: str) -> str | None:
        return self.events.state.locks.holder(subject, self.clock())

    def mine(self) -> list[str]:
        now = self.clock()
        return [
            s
            for s, lease in list(self.events.state.locks.leases.items())
            if lease.holder == self.node and now <= lease.expires
        ]

    def renew(self, subjects: list[str]) -> list[str]:
        """Extend those of `subjects` past half their lease; returns the ones that could not be."""
        lost = []
        now = self.clock()
        for subject in subjects:
            lease = self.events.state.locks.lease(subject)
            if lease is None or lease.holder != self.node or now > lease.expires:
                lost.append(subject)
                continue
            if lease.expires - now > self.lease_seconds / 2:
                continue
            try:
                self.events.publish(Command.EXTEND, subject, duration=self.lease_seconds)
            except Rejected:
                lost.append(subject)
        return lost
