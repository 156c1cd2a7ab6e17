"""Lock rules: a pure fold over the event log, so every node agrees on every holder.

Validity is judged with the event's own timestamp, never the reader's clock, so replaying the
same log anywhere gives the same holders. A lock is free once its expiry plus a grace for clock
skew has passed; that is how a dead node is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from winslow.controller.events import Command, Event


@dataclass(frozen=True)
class Lease:
    holder: str
    expires: float


@dataclass
class LockTable:
    grace: float
    leases: dict[str, Lease] = field(default_factory=dict)

    def holder(self, subject: str, now: float) -> str | None:
        lease = self.leases.get(subject)
        if lease is None or now > lease.expires + self.grace:
            return None
        return lease.holder

    def lease(self, subject: str) -> Lease | None:
        return self.leases.get(subject)

    def check(self, event: Event) -> str | None:
        """None when the event is valid against the state, otherwise why it is not."""
        holder = self.holder(event.subject, event.timestamp)
        if event.command is Command.LOCK:
            if event.duration <= 0:
                return "a lock needs a positive duration"
            if holder not in (None, event.issuer):
                return f"{event.subject} is held by {holder}"
            return None
        if event.command is Command.EXTEND:
            if event.duration <= 0:
                return "an extension needs a positive duration"
            if holder != event.issuer:
                return f"{event.issuer} does not hold {event.subject}"
            return None
        if event.command is Command.RELEASE:
            if holder != event.issuer:
                return f"{event.issuer} does not hold {event.subject}"
            return None
        raise ValueError(f"{event.command} is not a lock command")

    def apply(self, event: Event) -> None:
        if event.command is Command.RELEASE:
            self.leases.pop(event.subject, None)
        else:
            self.leases[event.subject] = Lease(event.issuer, event.timestamp + event.duration)

    def prune(self, now: float) -> None:
        """Forget leases long expired, so the snapshot stays small."""
        for subject in [s for s in self.leases if self.holder(s, now) is None]:
            del self.leases[subject]
