"""Lock rules: a pure fold over the event log, so every node agrees on every holder.

The fold never looks at a clock. A lease is taken over only by a LOCK that names the lease
event it supersedes; whether that lease has expired is judged by the node taking over, on its
own monotonic clock, from the moment it learnt of the lease (`controller.leases`). The holder
stops acting at its own expiry minus a margin, and others take over only after expiry plus a
grace measured from when they saw the lease, which is later: so two nodes never hold a lock at
once in real time, however far apart their wall clocks are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from winslow.controller.events import Command, Event


@dataclass(frozen=True)
class Lease:
    holder: str
    seq: int
    timestamp: float
    duration: float
    observed: float = field(default=0.0, compare=False)
    """This node's monotonic time when it learnt of the lease: local, never in a snapshot."""

    @property
    def expires(self) -> float:
        """On the issuer's wall clock: for people and replays, never for a decision."""
        return self.timestamp + self.duration


@dataclass
class LockTable:
    leases: dict[str, Lease] = field(default_factory=dict)

    def holder(self, subject: str) -> str | None:
        """The recorded holder, expired or not (expiry is a local judgement)."""
        lease = self.leases.get(subject)
        return lease.holder if lease is not None else None

    def lease(self, subject: str) -> Lease | None:
        return self.leases.get(subject)

    def check(self, event: Event) -> str | None:
        """None when the event is valid against the state, otherwise why it is not."""
        current = self.leases.get(event.subject)
        if event.command is Command.LOCK:
            if event.duration <= 0:
                return "a lock needs a positive duration"
            if current is None or current.holder == event.issuer or event.supersedes == current.seq:
                return None
            return f"{event.subject} is held by {current.holder}"
        if event.command is Command.EXTEND:
            if event.duration <= 0:
                return "an extension needs a positive duration"
            if current is None or current.holder != event.issuer:
                return f"{event.issuer} does not hold {event.subject}"
            return None
        if event.command is Command.RELEASE:
            if current is None or current.holder != event.issuer:
                return f"{event.issuer} does not hold {event.subject}"
            return None
        raise ValueError(f"{event.command} is not a lock command")

    def apply(self, event: Event, observed: float = 0.0) -> None:
        if event.command is Command.RELEASE:
            self.leases.pop(event.subject, None)
        else:
            self.leases[event.subject] = Lease(
                event.issuer, event.seq, event.timestamp, event.duration, observed
            )
