"""Replaying a share's event log to check what every node must agree on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from winslow.controller.events import Command, Event
from winslow.controller.logstate import LogState


@dataclass(frozen=True)
class Holding:
    subject: str
    holder: str
    start: float
    end: float


def replay(share: Path) -> tuple[list[Event], list[Holding]]:
    """All retained events in order, and every interval in which someone held a lock."""
    folder = share / "run" / "events"
    numbers = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())
    assert numbers == list(range(numbers[0], numbers[-1] + 1)), "the retained log has a gap"
    state = LogState()
    events: list[Event] = []
    open_: dict[str, tuple[str, float]] = {}
    holdings: list[Holding] = []
    for seq in numbers:
        event = Event.decode((folder / f"{seq:012d}").read_bytes(), seq)
        previous = state.locks.lease(event.subject)
        if not state.apply(event):
            continue
        events.append(event)
        if event.command in (Command.LOCK, Command.EXTEND):
            holder, start = open_.get(event.subject, (event.issuer, event.timestamp))
            if holder != event.issuer:
                assert previous is not None
                holdings.append(Holding(event.subject, holder, start, previous.expires))
                start = event.timestamp
            open_[event.subject] = (event.issuer, start)
        elif event.command is Command.RELEASE:
            holder, start = open_.pop(event.subject)
            holdings.append(Holding(event.subject, holder, start, event.timestamp))
    for subject, (holder, start) in open_.items():
        lease = state.locks.lease(subject)
        holdings.append(Holding(subject, holder, start, lease.expires if lease else start))
    return events, holdings


def overlapping(holdings: list[Holding]) -> list[tuple[Holding, Holding]]:
    """Pairs of different holders whose intervals on one subject overlap (must be empty)."""
    by_subject: dict[str, list[Holding]] = {}
    for h in holdings:
        by_subject.setdefault(h.subject, []).append(h)
    bad = []
    for hs in by_subject.values():
        hs.sort(key=lambda h: h.start)
        for a, b in pairwise(hs):
            if a.holder != b.holder and b.start < a.end:
                bad.append((a, b))
    return bad


def created_without_lock(share: Path, projects: Sequence[str], holdings: list[Holding]) -> list[str]:
    """The runs of `projects` whose node did not hold the project's lock when it created them
    (must be empty: only the lock's holder creates runs)."""
    from datetime import datetime

    from tests.harness import stageruns

    found = []
    for name in projects:
        for run in stageruns(share, name):
            t = datetime.fromisoformat(run["metadata"]["creationTimestamp"]).timestamp()
            node = run["status"]["node"]
            if not any(
                h.subject == f"project/{name}" and h.holder == node and h.start <= t <= h.end
                for h in holdings
            ):
                found.append(f"{run['metadata']['name']} by {node}")
    return found
