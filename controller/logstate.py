"""The state the event log implies: a pure fold, identical on every node that read the same log.

No rule here reads a clock or the share, so every node that applied the same events holds the
same state, and a snapshot is that state exactly. What is local to one node (when it learnt of
each lease, election and record, on its monotonic clock) rides along in fields that are never
compared and never written to a snapshot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from winslow.controller.election import Election, ElectionTable
from winslow.controller.events import Ballot, Command, Event
from winslow.controller.locks import Lease, LockTable
from winslow.controller.records import RunTable
from winslow.controller.subjects import subject_parts
from winslow.resources.amount import Amount

LOCK_COMMANDS = (Command.LOCK, Command.EXTEND, Command.RELEASE)
ELECTION_COMMANDS = (Command.ELECTION_START, Command.ELECTION_PARTICIPATE, Command.ELECTION_STOP)
VERSIONED_FILES = ("spec", "status")


@dataclass
class LogState:
    seq: int = -1
    locks: LockTable = field(default_factory=LockTable)
    elections: ElectionTable = field(default_factory=ElectionTable)
    runs: RunTable = field(default_factory=RunTable)
    versions: dict[str, int] = field(default_factory=dict)
    """`<lock subject>#<file>` (for example `project/ulm#status`) to the version last written."""
    kills: dict[str, Event] = field(default_factory=dict)
    published: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Each node's last valid event: its number and nonce. A node whose link at a number the
    compaction may have freed cannot tell from the link whether the log took its event; the
    snapshot it then catches up from tells it here."""

    def check(self, event: Event) -> str | None:
        if event.command in LOCK_COMMANDS:
            return self.locks.check(event)
        if event.command in ELECTION_COMMANDS:
            return self.elections.check(event)
        if event.command is Command.RECORD:
            return self.runs.check(event, self.locks)
        if event.command is Command.VERSION:
            return _check_version(event, self.locks)
        return None

    def apply(self, event: Event, observed: float = 0.0) -> bool:
        """Apply a valid event; an invalid one is skipped, exactly as every other node skips it."""
        self.seq = max(self.seq, event.seq)
        if self.check(event) is not None:
            return False
        self.published[event.node] = (event.seq, event.nonce)
        if event.command in LOCK_COMMANDS:
            self.locks.apply(event, observed)
        elif event.command in ELECTION_COMMANDS:
            self.elections.apply(event, observed)
        elif event.command is Command.RECORD:
            self.runs.apply(event, observed)
        elif event.command is Command.VERSION:
            assert event.payload is not None
            self.versions[version_key(event.subject, str(event.payload["file"]))] = int(
                event.payload["version"]
            )
        elif event.command is Command.KILL:
            self.kills[event.subject] = event
        return True

    def copy(self) -> LogState:
        """A snapshot for readers: the tables are copied, and what they hold (leases, elections,
        records, events, tuples) is never changed in place, only replaced, so that a later event
        applied here leaves the copy as it was."""
        return LogState(
            seq=self.seq,
            locks=LockTable(dict(self.locks.leases)),
            elections=ElectionTable(dict(self.elections.open), dict(self.elections.results)),
            runs=RunTable(dict(self.runs.runs), dict(self.runs.by_project)),
            versions=dict(self.versions),
            kills=dict(self.kills),
            published=dict(self.published),
        )

    def version(self, subject: str, file: str) -> int:
        return self.versions.get(version_key(subject, file), 0)

    def compact(self) -> None:
        """Forget what no later event can depend on: kills of runs that have ended. Only rules of
        the fold decide it, so that a node that compacted and one that did not still agree."""
        for subject in list(self.kills):
            run = self.runs.get(subject_parts(subject)[1])
            if run is not None and not run.phase.active:
                del self.kills[subject]

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "leases": {
                s: [lease.holder, lease.seq, lease.timestamp, lease.duration]
                for s, lease in self.locks.leases.items()
            },
            "open": [_election_out(e) for e in self.elections.open.values()],
            "results": [_election_out(e) for e in self.elections.results.values()],
            "runs": self.runs.to_snapshot(),
            "versions": dict(self.versions),
            "kills": [_event_out(e) for e in self.kills.values()],
            "published": {n: [seq, nonce] for n, (seq, nonce) in self.published.items()},
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any], observed: float = 0.0) -> LogState:
        """`observed`: when this node loads it; everything in it counts as learnt just now."""
        state = cls(seq=int(data["seq"]))
        state.locks.leases = {
            s: Lease(str(h), int(q), float(t), float(d), observed)
            for s, (h, q, t, d) in data["leases"].items()
        }
        state.elections.open = {e["subject"]: _election_in(e, observed) for e in data["open"]}
        state.elections.results = {e["subject"]: _election_in(e, observed) for e in data["results"]}
        state.runs = RunTable.from_snapshot(data.get("runs", []), observed)
        state.versions = {str(k): int(v) for k, v in data.get("versions", {}).items()}
        state.kills = {e["subject"]: Event.decode(_encode(e), e["seq"]) for e in data["kills"]}
        state.published = {str(n): (int(q), str(c)) for n, (q, c) in data.get("published", {}).items()}
        return state


def version_key(subject: str, file: str) -> str:
    return f"{subject}#{file}"


def _check_version(event: Event, locks: LockTable) -> str | None:
    payload = event.payload or {}
    if payload.get("file") not in VERSIONED_FILES or not isinstance(payload.get("version"), int):
        return f"a version names a file ({', '.join(VERSIONED_FILES)}) and an integer version"
    if locks.holder(event.subject) != event.issuer:
        return f"{event.issuer} does not hold {event.subject}"
    return None


def _election_out(e: Election) -> dict[str, Any]:
    return {
        "subject": e.subject,
        "starter": e.starter,
        "seq": e.seq,
        "started": e.started,
        "duration": e.duration,
        "request": e.request.wire(),
        "ballots": {n: _ballot_out(b) for n, b in e.ballots.items()},
        "winner": e.winner,
        "stopped": e.stopped,
        "stopSeq": e.stop_seq,
        **({"selector": e.selector} if e.selector else {}),
    }


def _ballot_out(b: Ballot) -> list[Any]:
    out: list[Any] = [b.fits, b.affinity, b.aversion, b.reason]
    return [*out, b.labels] if b.labels is not None else out


def _election_in(d: dict[str, Any], observed: float) -> Election:
    return Election(
        subject=d["subject"],
        starter=d["starter"],
        seq=int(d["seq"]),
        started=d["started"],
        duration=d["duration"],
        request=Amount.from_wire(d["request"]),
        selector=dict(d.get("selector") or {}),
        ballots={n: Ballot(*b) for n, b in d["ballots"].items()},
        winner=d["winner"],
        stopped=d["stopped"],
        stop_seq=d.get("stopSeq"),
        observed=observed,
        stop_observed=observed,
    )


def _event_out(e: Event) -> dict[str, Any]:
    return {**json.loads(e.encode()), "seq": e.seq}


def _encode(d: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in d.items() if k != "seq"}).encode()
