"""The state the event log implies: a pure fold, identical on every node that read the same log."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from winslow.controller.election import Election, ElectionTable
from winslow.controller.events import Ballot, Command, Event, Request
from winslow.controller.locks import Lease, LockTable

LOCK_COMMANDS = (Command.LOCK, Command.EXTEND, Command.RELEASE)
ELECTION_COMMANDS = (Command.ELECTION_START, Command.ELECTION_PARTICIPATE, Command.ELECTION_STOP)
PRUNE_HORIZON = 600.0


@dataclass
class LogState:
    grace: float
    seq: int = -1
    locks: LockTable = field(init=False)
    elections: ElectionTable = field(init=False)
    kills: dict[str, Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.locks = LockTable(self.grace)
        self.elections = ElectionTable(self.grace)

    def check(self, event: Event) -> str | None:
        if event.command in LOCK_COMMANDS:
            return self.locks.check(event)
        if event.command in ELECTION_COMMANDS:
            return self.elections.check(event)
        return None

    def apply(self, event: Event) -> bool:
        """Apply a valid event; an invalid one is skipped, exactly as every other node skips it."""
        self.seq = max(self.seq, event.seq)
        if self.check(event) is not None:
            return False
        if event.command in LOCK_COMMANDS:
            self.locks.apply(event)
        elif event.command in ELECTION_COMMANDS:
            self.elections.apply(event)
        else:
            self.kills[event.subject] = event
        return True

    def compact(self, now: float) -> None:
        """Forget what no later event can depend on: long-expired leases, old results and kills."""
        horizon = now - PRUNE_HORIZON
        self.locks.prune(horizon)
        self.elections.prune(horizon, 0.0)
        for subject in [s for s, e in self.kills.items() if e.timestamp < horizon]:
            del self.kills[subject]

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "leases": {s: [lease.holder, lease.expires] for s, lease in self.locks.leases.items()},
            "open": [_election_out(e) for e in self.elections.open.values()],
            "results": [_election_out(e) for e in self.elections.results.values()],
            "kills": [_event_out(e) for e in self.kills.values()],
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any], grace: float) -> LogState:
        state = cls(grace=grace, seq=int(data["seq"]))
        state.locks.leases = {s: Lease(h, float(x)) for s, (h, x) in data["leases"].items()}
        state.elections.open = {e["subject"]: _election_in(e) for e in data["open"]}
        state.elections.results = {e["subject"]: _election_in(e) for e in data["results"]}
        state.kills = {e["subject"]: Event.decode(_encode(e), e["seq"]) for e in data["kills"]}
        return state


def _election_out(e: Election) -> dict[str, Any]:
    return {
        "subject": e.subject,
        "starter": e.starter,
        "started": e.started,
        "deadline": e.deadline,
        "request": [e.request.cpu, e.request.memory, e.request.gpu],
        "ballots": {n: [b.fits, b.affinity, b.aversion, b.reason] for n, b in e.ballots.items()},
        "winner": e.winner,
        "stopped": e.stopped,
    }


def _election_in(d: dict[str, Any]) -> Election:
    cpu, memory, gpu = d["request"]
    return Election(
        subject=d["subject"],
        starter=d["starter"],
        started=d["started"],
        deadline=d["deadline"],
        request=Request(cpu, memory, gpu),
        ballots={n: Ballot(*b) for n, b in d["ballots"].items()},
        winner=d["winner"],
        stopped=d["stopped"],
    )


def _event_out(e: Event) -> dict[str, Any]:
    return {**json.loads(e.encode()), "seq": e.seq}


def _encode(d: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in d.items() if k != "seq"}).encode()
