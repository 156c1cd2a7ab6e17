"""controller.logstate: the state the event log implies, a pure fold of its events.

What every node relies on: applying the same events gives the same state (whatever each node's
clock said when it learnt of them); an invalid event is skipped, never half applied; a node that
starts from a snapshot and follows the log agrees with one that read the whole log; compaction
forgets only what no later event can depend on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winslow.controller.events import Ballot, Command, Event
from winslow.controller.logstate import LogState
from winslow.resources.amount import Amount

pytestmark = pytest.mark.timeout(60)

CREATED = datetime(2026, 12, 1, tzinfo=UTC).isoformat()


class Log:
    """Events numbered as the log numbers them, built the way tests/controller/test_eventlog.py
    decodes them from the share."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, issuer: str, command: Command, subject: str, **kw: Any) -> Event:
        kw.setdefault("timestamp", 1000.0 + len(self.events))
        if command in (Command.LOCK, Command.EXTEND, Command.ELECTION_START):
            kw.setdefault("duration", 30.0)
        built = Event(issuer, command, subject, seq=len(self.events), **kw)
        # through the wire, as a node reads it from the share
        decoded = Event.decode(built.encode(), built.seq)
        self.events.append(decoded)
        return decoded


def creation(name: str, **kw: Any) -> dict[str, Any]:
    project, number, stage = name.split(".")
    return {"project": project, "number": int(number), "stage": stage, "index": 0, "node": "n1"} | {
        "created": CREATED,
        **kw,
    }


def fold(events: list[Event], observed: float = 0.0) -> LogState:
    state = LogState()
    for e in events:
        state.apply(e, observed)
    return state


# -- one event at a time --------------------------------------------------------------------------


def test_each_kind_of_event_lands_in_its_table() -> None:
    log = Log()
    state = LogState()
    assert state.apply(log.add("n1", Command.LOCK, "project/p"))
    assert state.locks.holder("project/p") == "n1"
    assert state.apply(log.add("n1", Command.RECORD, "stagerun/p.1.a", payload=creation("p.1.a")))
    assert [r.name for r in state.runs.of("p")] == ["p.1.a"]
    assert state.apply(log.add("n1", Command.VERSION, "project/p", payload={"file": "status", "version": 3}))
    assert state.version("project/p", "status") == 3 and state.version("project/p", "spec") == 0
    assert state.apply(log.add("n1", Command.ELECTION_START, "project/p", request=Amount(1, 0, 0)))
    assert "project/p" in state.elections.open
    assert state.apply(log.add("n2", Command.ELECTION_PARTICIPATE, "project/p", ballot=Ballot(True)))
    assert state.apply(log.add("n1", Command.ELECTION_STOP, "project/p", winner="n2"))
    result = state.elections.results["project/p"]
    assert result.winner == "n2" and "project/p" not in state.elections.open
    assert state.apply(log.add("alice@n1", Command.KILL, "stagerun/p.1.a", message="alice"))
    assert state.kills["stagerun/p.1.a"].message == "alice"
    assert state.apply(log.add("n1", Command.RELEASE, "project/p"))
    assert state.locks.holder("project/p") is None
    assert state.seq == len(log.events) - 1


def test_probe_and_noop_are_valid_and_change_nothing_but_the_position() -> None:
    log = Log()
    state = LogState()
    before = state.to_snapshot()
    assert state.apply(log.add("n1", Command.PROBE, "probe/1"))
    assert state.apply(log.add("n2", Command.NOOP, "noop"))
    after = state.to_snapshot()
    assert after["seq"] == 1 and set(after["published"]) == {"n1", "n2"}
    assert {k: v for k, v in after.items() if k not in ("seq", "published")} == {
        k: v for k, v in before.items() if k not in ("seq", "published")
    }


def test_an_invalid_event_is_skipped_whole_but_its_position_counts() -> None:
    log = Log()
    state = LogState()
    state.apply(log.add("n1", Command.LOCK, "project/p", nonce="a"))
    before = state.to_snapshot()
    taken = log.add("n2", Command.LOCK, "project/p", nonce="b")
    assert state.check(taken) == "project/p is held by n1"
    assert state.apply(taken) is False
    after = state.to_snapshot()
    assert after["seq"] == taken.seq, "the log has moved past it"
    assert after["published"] == before["published"] == {"n1": [0, "a"]}, "n2's event did not count"
    assert after["leases"] == before["leases"]


def test_published_remembers_each_nodes_last_valid_event_by_the_node_behind_the_issuer() -> None:
    log = Log()
    state = fold(
        [
            log.add("n1", Command.LOCK, "a", nonce="x"),
            log.add("n1/api/3", Command.LOCK, "b", nonce="y"),
            log.add("n2", Command.LOCK, "c", nonce="z"),
        ]
    )
    assert state.published == {"n1": (1, "y"), "n2": (2, "z")}


def test_a_record_is_checked_against_the_locks_of_the_same_state() -> None:
    log = Log()
    state = LogState()
    unlocked = log.add("n1", Command.RECORD, "stagerun/p.1.a", payload=creation("p.1.a"))
    assert "does not hold the lock of project p" in (state.check(unlocked) or "")
    assert not state.apply(unlocked) and state.runs.of("p") == []
    state.apply(log.add("n1", Command.LOCK, "project/p"))
    assert state.apply(log.add("n1", Command.RECORD, "stagerun/p.1.a", payload=creation("p.1.a")))


@pytest.mark.parametrize(
    "payload",
    [None, {"file": "secrets", "version": 1}, {"file": "spec"}, {"file": "spec", "version": "2"}],
)
def test_a_version_names_a_known_file_and_an_integer(payload: dict[str, Any] | None) -> None:
    log = Log()
    state = fold([log.add("n1", Command.LOCK, "project/p")])
    bad = log.add("n1", Command.VERSION, "project/p", payload=payload)
    assert "names a file" in (state.check(bad) or "")
    assert not state.apply(bad) and state.versions == {}


def test_only_the_holder_of_a_subject_records_a_version_of_its_files() -> None:
    log = Log()
    state = fold([log.add("n1", Command.LOCK, "project/p")])
    other = log.add("n2", Command.VERSION, "project/p", payload={"file": "spec", "version": 2})
    assert state.check(other) == "n2 does not hold project/p"
    assert not state.apply(other)
    assert state.apply(log.add("n1", Command.VERSION, "project/p", payload={"file": "spec", "version": 2}))
    assert state.version("project/p", "spec") == 2 and state.version("project/q", "spec") == 0


# -- compaction -----------------------------------------------------------------------------------


def test_compaction_forgets_the_kills_of_ended_runs_only() -> None:
    log = Log()
    state = fold(
        [
            log.add("n1", Command.LOCK, "project/p"),
            log.add("n1", Command.RECORD, "stagerun/p.1.a", payload=creation("p.1.a")),
            log.add("n1", Command.RECORD, "stagerun/p.2.a", payload=creation("p.2.a")),
            log.add("u", Command.KILL, "stagerun/p.1.a"),
            log.add("u", Command.KILL, "stagerun/p.2.a"),
            log.add("u", Command.KILL, "stagerun/p.9.a"),  # a run the log never recorded
            log.add("n1", Command.RECORD, "stagerun/p.1.a", payload={"phase": "Killed"}),
        ]
    )
    state.compact()
    assert sorted(state.kills) == ["stagerun/p.2.a", "stagerun/p.9.a"]


# -- the fold as a whole --------------------------------------------------------------------------

NODES = ("n1", "n2", "n3/api/1")
SUBJECTS = ("project/p", "project/q", "stagerun/p.1.a", "stagerun/p.2.a", "stagerun/q.1.a")
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Killed", "Lost")


@st.composite
def logs(draw: st.DrawFn, max_size: int = 40) -> list[Event]:
    """A log of events nodes might publish. About half are checked against the state the log
    implies so far, as `EventLog.publish` checks them (the right holder, the next run number);
    the rest are anything at all, as a node with a stale view might publish."""
    log, state = Log(), LogState()
    for _ in range(draw(st.integers(0, max_size))):
        command = draw(st.sampled_from([c for c in Command if c is not Command.NOOP]))
        issuer, subject = draw(st.sampled_from(NODES)), draw(st.sampled_from(SUBJECTS))
        checked = draw(st.booleans())
        kw: dict[str, Any] = {"nonce": draw(st.sampled_from(["", "a", "b"]))}
        if checked and command in (Command.EXTEND, Command.RELEASE, Command.VERSION):
            issuer = state.locks.holder(subject) or issuer
        if command is Command.LOCK and checked and (lease := state.locks.lease(subject)):
            kw["supersedes"] = lease.seq  # a takeover of an expired lease
        elif command is Command.ELECTION_START:
            subject = draw(st.sampled_from(("project/p", "project/q")))
            kw["request"] = Amount(draw(st.sampled_from([0.5, 1.0, 2.0])), 0, draw(st.integers(0, 2)))
            if checked and subject in state.elections.open:
                kw["supersedes"] = state.elections.open[subject].seq
        elif command in (Command.ELECTION_PARTICIPATE, Command.ELECTION_STOP):
            if checked and state.elections.open:
                subject = draw(st.sampled_from(sorted(state.elections.open)))
            election = state.elections.open.get(subject)
            if command is Command.ELECTION_PARTICIPATE:
                kw["ballot"] = Ballot(draw(st.booleans()), draw(st.sampled_from([0.0, 0.25])), 0.5, "r")
            else:
                if checked and election is not None:
                    issuer = election.starter
                fitting = sorted(n for n, b in (election.ballots if election else {}).items() if b.fits)
                kw["winner"] = draw(st.none() | st.sampled_from(fitting or list(NODES)))
        elif command is Command.RECORD:
            project = draw(st.sampled_from("pq"))
            existing = [r.name for r in state.runs.of(project)]
            if existing and draw(st.integers(0, 2)):  # mostly a change to a run the log holds
                name = draw(st.sampled_from(existing))
                kw["payload"] = {"phase": draw(st.sampled_from(PHASES))}
                if draw(st.booleans()):
                    kw["payload"]["message"] = "a message"
            else:
                number = state.runs.last_number(project) + (1 if checked else draw(st.integers(0, 2)))
                name = f"{project}.{number}.a"
                kw["payload"] = creation(name)
            subject = f"stagerun/{name}"
            if checked:  # as a project reconciler does: under its project's lock
                holder = state.locks.holder(f"project/{project}")
                if holder is None:
                    state.apply(log.add(issuer, Command.LOCK, f"project/{project}"))
                issuer = holder or issuer
        elif command is Command.VERSION:
            kw["payload"] = {
                "file": draw(st.sampled_from(["spec", "status"])),
                "version": draw(st.integers(1, 9)),
            }
        elif command is Command.KILL:
            runs = sorted(state.runs.runs)
            subject = f"stagerun/{draw(st.sampled_from(runs))}" if checked and runs else subject
            kw["message"] = "by alice"
        state.apply(log.add(issuer, command, subject, **kw))
    return log.events


def test_the_generated_logs_hold_valid_events_of_every_kind() -> None:
    """The properties below mean something only if the logs they fold are not mostly refused."""
    valid: set[Command] = set()

    @settings(max_examples=150, deadline=None, database=None)
    @given(logs())
    def count(log: list[Event]) -> None:
        state = LogState()
        valid.update(e.command for e in log if state.apply(e))

    count()
    assert valid == set(Command) - {Command.NOOP}


@settings(max_examples=60, deadline=None)
@given(logs(), st.floats(0, 1e6, allow_nan=False), st.floats(0, 1e6, allow_nan=False))
def test_every_node_that_read_the_same_log_holds_the_same_state(
    log: list[Event], seen_here: float, seen_there: float
) -> None:
    """When each node learnt of an event is local and never part of what they agree on."""
    here, there = fold(log, seen_here), fold(log, seen_there)
    assert here.to_snapshot() == there.to_snapshot()
    assert here.locks == there.locks and here.runs == there.runs


@settings(max_examples=60, deadline=None)
@given(logs(), st.integers(0, 40))
def test_a_node_that_starts_from_a_snapshot_agrees_with_one_that_read_everything(
    log: list[Event], cut: int
) -> None:
    cut = min(cut, len(log))
    whole = LogState()
    verdicts = []
    for e in log:
        verdicts.append(whole.apply(e))
    first = fold(log[:cut])
    first.compact()  # a compacting node writes the snapshot
    late = LogState.from_snapshot(first.to_snapshot(), observed=42.0)
    assert late.to_snapshot() == first.to_snapshot()
    late_verdicts = [late.apply(e) for e in log[cut:]]
    assert late_verdicts == verdicts[cut:], "every later event is judged the same way"
    late.compact()
    whole.compact()
    assert late.to_snapshot() == whole.to_snapshot()


@settings(max_examples=60, deadline=None)
@given(logs())
def test_compaction_changes_no_verdict(log: list[Event]) -> None:
    """A node that compacted after every event and one that never did judge every event alike."""
    plain, compacting = LogState(), LogState()
    for e in log:
        assert plain.apply(e) == compacting.apply(e)
        compacting.compact()
    assert plain.locks == compacting.locks and plain.runs == compacting.runs
    assert set(compacting.kills) <= set(plain.kills)


def test_a_snapshot_is_plain_data() -> None:
    """It is written to the share as JSON: nothing in it may need more than json to read back."""
    import json

    log = Log()
    state = fold(
        [
            log.add("n1", Command.LOCK, "project/p"),
            log.add("n1", Command.RECORD, "stagerun/p.1.a", payload=creation("p.1.a")),
            log.add("n1", Command.ELECTION_START, "project/p", request=Amount(1, 2 << 30, 1)),
            log.add("n2", Command.ELECTION_PARTICIPATE, "project/p", ballot=Ballot(True, 0.5, 0.25)),
            log.add("u", Command.KILL, "stagerun/p.1.a", message="alice"),
            log.add("n1", Command.VERSION, "project/p", payload={"file": "spec", "version": 4}),
        ]
    )
    data = json.loads(json.dumps(state.to_snapshot()))
    copy = LogState.from_snapshot(data, observed=7.0)
    assert copy.to_snapshot() == state.to_snapshot()
    assert copy.locks.leases["project/p"].observed == 7.0, "all of it counts as learnt on loading"
    assert copy.elections.open["project/p"].ballots["n2"] == Ballot(True, 0.5, 0.25)
