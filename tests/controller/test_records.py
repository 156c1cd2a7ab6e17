"""controller.records: a StageRun as the event log records it, and the table of them.

What callers rely on: a record written into a RECORD event (`creation`, `update`) reads back as
the same record; an update changes a run's state and nothing else; the table refuses what the
design notes say it refuses (a run created without its project's lock, an ended run changed,
a Running run sent back to Pending) and keeps each project's runs in creation order.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from winslow.controller.events import Command, Event
from winslow.controller.locks import LockTable
from winslow.controller.records import MESSAGE_LIMIT, RunRecord, RunTable
from winslow.resources.amount import Amount
from winslow.resources.stagerun import StageRunPhase, Trigger

pytestmark = pytest.mark.timeout(60)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# -- builders -------------------------------------------------------------------------------------


def record(name: str = "p.1.a", **kw: Any) -> RunRecord:
    project, number, stage = name.split(".")
    fields: dict[str, Any] = {
        "name": name,
        "project": project,
        "number": int(number),
        "stage": stage,
        "index": 0,
        "node": "n1",
        "created": T0,
    }
    return RunRecord(**{**fields, **kw})


def locks(holders: dict[str, str]) -> LockTable:
    """Leases as the log would hold them, by subject (`project/p`, `stagerun/p.1.a`)."""
    table = LockTable()
    for seq, (subject, holder) in enumerate(holders.items()):
        table.apply(Event(holder, Command.LOCK, subject, 0.0, duration=30.0, seq=seq))
    return table


def event(name: str, payload: dict[str, Any], issuer: str = "n1", seq: int = 100, ts: float = 1.0) -> Event:
    return Event(issuer, Command.RECORD, f"stagerun/{name}", ts, payload=payload, seq=seq)


def created(table: RunTable, *records: RunRecord, issuer: str = "n1") -> RunTable:
    for i, r in enumerate(records):
        table.apply(event(r.name, r.creation(), issuer, seq=i))
    return table


# -- round trips ----------------------------------------------------------------------------------

names = st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)
texts = st.text(max_size=40)
times = st.one_of(st.datetimes(), st.datetimes(timezones=st.just(UTC)))
amounts = st.builds(
    Amount,
    cpu=st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    memory=st.integers(min_value=0, max_value=1 << 50),
    gpu=st.integers(min_value=0, max_value=64),
)


@st.composite
def records(draw: st.DrawFn) -> RunRecord:
    project, stage = draw(names), draw(names)
    number = draw(st.integers(min_value=1, max_value=10**9))
    return RunRecord(
        name=f"{project}.{number}.{stage}",
        project=project,
        number=number,
        stage=stage,
        index=draw(st.integers(min_value=0, max_value=1000)),
        node=draw(names),
        created=draw(times),
        phase=draw(st.sampled_from(StageRunPhase)),
        attempt=draw(st.integers(min_value=1, max_value=100)),
        trigger=draw(st.sampled_from(Trigger)),
        triggered_by=draw(st.none() | texts),
        run_from=draw(st.none() | times),
        confirmed=draw(st.none() | times),
        copy_of=draw(st.none() | texts),
        gpus=tuple(draw(st.lists(st.integers(min_value=0, max_value=15), max_size=4))),
        request=draw(amounts),
        exit_code=draw(st.none() | st.integers(min_value=-255, max_value=255)),
        message=draw(st.text(max_size=MESSAGE_LIMIT)),
        start_time=draw(st.none() | times),
        finish_time=draw(st.none() | times),
        container_id=draw(st.none() | texts),
        project_uid=draw(st.none() | texts),
    )


@given(records())
def test_a_record_reads_back_from_its_creation_payload(r: RunRecord) -> None:
    assert RunRecord.created_by(r.name, r.creation()) == r


@given(records(), records())
def test_an_update_payload_carries_the_whole_state_of_a_run(before: RunRecord, after: RunRecord) -> None:
    """Applying `after.update()` to any run gives that run `after`'s state, its identity kept."""
    updated = before.updated_by(after.update())
    state = ("phase", "exit_code", "message", "start_time", "finish_time", "container_id")
    assert {f: getattr(updated, f) for f in state} == {f: getattr(after, f) for f in state}
    assert replace(updated, **{f: getattr(before, f) for f in state}) == before


@given(records())
def test_the_creation_payload_survives_the_event_encoding(r: RunRecord) -> None:
    """A RECORD event goes through JSON on the share; what another node decodes is the same run."""
    wire = event(r.name, r.creation())
    decoded = Event.decode(wire.encode(), 7)
    assert RunRecord.created_by(r.name, decoded.payload or {}) == r


def test_a_long_message_is_cut_to_the_limit_in_both_payloads() -> None:
    long = record(message="x" * (MESSAGE_LIMIT + 500))
    assert len(long.update()["message"]) == MESSAGE_LIMIT
    assert len(long.creation()["message"]) == MESSAGE_LIMIT
    assert len(record().updated_by({"message": "y" * (3 * MESSAGE_LIMIT)}).message) == MESSAGE_LIMIT


def test_a_creation_payload_with_only_the_required_fields_takes_the_defaults() -> None:
    r = RunRecord.created_by(
        "p.3.a",
        {"project": "p", "number": 3, "stage": "a", "index": 0, "node": "n1", "created": T0.isoformat()},
    )
    assert r.phase is StageRunPhase.PENDING and r.attempt == 1 and r.trigger is Trigger.AUTO
    assert r.gpus == () and r.request == Amount() and r.project_uid is None and r.message == ""


def test_a_creation_payload_without_a_required_field_is_refused() -> None:
    payload = record().creation()
    del payload["stage"]
    with pytest.raises(KeyError):
        RunRecord.created_by("p.1.a", payload)


# -- updates --------------------------------------------------------------------------------------


def test_an_update_changes_only_the_fields_it_names() -> None:
    running = record(start_time=T0, container_id="c1")
    done = running.updated_by({"phase": "Succeeded", "exitCode": 0, "finishTime": T0.isoformat()})
    assert done.phase is StageRunPhase.SUCCEEDED and done.exit_code == 0 and done.finish_time == T0
    assert done.start_time == T0 and done.container_id == "c1", "fields not named are kept"


def test_an_update_may_clear_an_optional_field() -> None:
    r = record(start_time=T0, finish_time=T0, container_id="c1", exit_code=3)
    cleared = r.updated_by({"startTime": None, "finishTime": None, "containerId": None, "exitCode": None})
    assert (cleared.start_time, cleared.finish_time, cleared.container_id, cleared.exit_code) == (None,) * 4


def test_an_update_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match=r"unknown fields.*bogus"):
        record().updated_by({"phase": "Running", "bogus": 1})


@pytest.mark.parametrize("payload", [{"phase": "Exploded"}, {"exitCode": "one"}, {"startTime": "noon"}])
def test_an_update_refuses_values_it_cannot_read(payload: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        record().updated_by(payload)


def test_an_update_never_changes_who_or_what_a_run_is() -> None:
    """Creation fields in an update are tolerated (a creation payload is an update too) but do
    not move a run to another project, stage or node."""
    r = record()
    moved = r.updated_by({"project": "q", "stage": "b", "node": "n9", "number": 7, "phase": "Running"})
    assert (moved.project, moved.stage, moved.node, moved.number) == ("p", "a", "n1", 1)
    assert moved.phase is StageRunPhase.RUNNING


# -- the table: what it accepts -------------------------------------------------------------------


def test_a_new_run_needs_its_projects_lock() -> None:
    table = RunTable()
    payload = record().creation()
    assert table.check(event("p.1.a", payload), locks({"project/p": "n1"})) is None
    why = table.check(event("p.1.a", payload, issuer="n2"), locks({"project/p": "n1"}))
    assert why is not None and "n2 does not hold the lock of project p" in why
    assert table.check(event("p.1.a", payload), LockTable()) is not None


def test_a_new_run_starts_pending_in_its_own_project_after_the_last_number() -> None:
    table = created(RunTable(), record("p.5.a"))
    held = locks({"project/p": "n1", "project/q": "n1"})
    running = record("p.6.a", phase=StageRunPhase.RUNNING).creation()
    assert "starts Pending" in (table.check(event("p.6.a", running), held) or "")
    elsewhere = record("p.6.a", project="q").creation()
    assert "does not belong to project q" in (table.check(event("p.6.a", elsewhere), held) or "")
    for number in (4, 5):
        old = record(f"p.{number}.b").creation()
        assert "not after the project's last one" in (table.check(event(f"p.{number}.b", old), held) or "")
    assert table.check(event("p.6.b", record("p.6.b").creation()), held) is None


@pytest.mark.parametrize(
    "payload", [{"project": "p"}, {**record().creation(), "bogus": 1}, {**record().creation(), "phase": "?"}]
)
def test_a_payload_that_is_not_a_record_is_refused_not_raised(payload: dict[str, Any]) -> None:
    why = RunTable().check(event("p.1.a", payload), locks({"project/p": "n1"}))
    assert why is not None and why.startswith("not a valid StageRun record")


def test_only_stagerun_subjects_are_records() -> None:
    bad = Event("n1", Command.RECORD, "project/p", 1.0, payload=record().creation(), seq=0)
    assert "not a valid StageRun record" in (RunTable().check(bad, locks({"project/p": "n1"})) or "")


def test_the_runs_lease_or_its_projects_lock_may_change_it() -> None:
    table = created(RunTable(), record())
    running = {"phase": "Running"}
    assert table.check(event("p.1.a", running, issuer="n2"), locks({"stagerun/p.1.a": "n1"})) is not None
    assert table.check(event("p.1.a", running, issuer="n2"), locks({"project/p": "n2"})) is None
    leased = locks({"stagerun/p.1.a": "n2", "project/p": "n1"})
    assert table.check(event("p.1.a", running, issuer="n2"), leased) is None
    why = table.check(event("p.1.a", running, issuer="n3"), leased)
    assert why is not None and "n3 holds neither" in why


ENDED = [p for p in StageRunPhase if not p.active]


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (StageRunPhase.PENDING, StageRunPhase.PENDING, True),
        (StageRunPhase.PENDING, StageRunPhase.RUNNING, True),
        (StageRunPhase.PENDING, StageRunPhase.FAILED, True),
        (StageRunPhase.RUNNING, StageRunPhase.SUCCEEDED, True),
        (StageRunPhase.RUNNING, StageRunPhase.LOST, True),
        (StageRunPhase.RUNNING, StageRunPhase.PENDING, False),
    ]
    + [(old, new, False) for old in ENDED for new in StageRunPhase],
)
def test_phase_moves(old: StageRunPhase, new: StageRunPhase, allowed: bool) -> None:
    """An ended run never changes again, and a running one never goes back to Pending."""
    table = created(RunTable(), record())
    if old is not StageRunPhase.PENDING:
        table.apply(event("p.1.a", {"phase": old.value}, seq=50))
    why = table.check(event("p.1.a", {"phase": new.value}), locks({"project/p": "n1"}))
    assert (why is None) is allowed, why
    if not allowed:
        assert f"is {old.value}; it cannot become {new.value}" in (why or "")


def test_an_ended_run_refuses_even_a_message() -> None:
    table = created(RunTable(), record())
    table.apply(event("p.1.a", {"phase": "Killed", "message": "by alice"}, seq=50))
    assert table.check(event("p.1.a", {"message": "by bob"}), locks({"project/p": "n1"})) is not None


# -- the table: what it holds ---------------------------------------------------------------------


def test_apply_stamps_the_event_that_made_the_change() -> None:
    table = RunTable()
    table.apply(event("p.1.a", record().creation(), issuer="n2/api/7", seq=3, ts=11.0), observed=5.0)
    first = table.get("p.1.a")
    assert first is not None
    assert (first.seq, first.recorder, first.recorded_at, first.observed) == (3, "n2", 11.0, 5.0)
    table.apply(event("p.1.a", {"phase": "Running"}, issuer="n1", seq=9, ts=12.0), observed=6.0)
    second = table.get("p.1.a")
    assert second is not None and second.phase is StageRunPhase.RUNNING
    assert (second.seq, second.recorder, second.recorded_at, second.observed) == (9, "n1", 12.0, 6.0)
    assert second.created == first.created and second.node == first.node


def test_of_lists_a_projects_runs_in_creation_order_only() -> None:
    table = created(RunTable(), record("p.1.b"), record("q.1.a"), record("p.2.a"), record("p.10.a"))
    assert [r.name for r in table.of("p")] == ["p.1.b", "p.2.a", "p.10.a"]
    assert [r.name for r in table.of("q")] == ["q.1.a"]
    assert table.of("nobody") == []
    assert table.get("p.2.a") is not None and table.get("p.3.a") is None


def test_of_with_a_uid_hides_the_runs_of_an_earlier_project_of_the_same_name() -> None:
    table = created(
        RunTable(),
        record("p.1.a"),  # recorded before uids: belongs to any project named p
        record("p.2.a", project_uid="old"),
        record("p.3.a", project_uid="new"),
    )
    assert [r.name for r in table.of("p", "new")] == ["p.1.a", "p.3.a"]
    assert [r.name for r in table.of("p", "old")] == ["p.1.a", "p.2.a"]
    assert [r.name for r in table.of("p")] == ["p.1.a", "p.2.a", "p.3.a"], "no uid: every run of the name"


def test_last_number_is_that_of_the_last_run_created() -> None:
    table = RunTable()
    assert table.last_number("p") == 0
    created(table, record("p.1.a"), record("p.1.b"), record("p.4.a"))
    assert table.last_number("p") == 4 and table.last_number("q") == 0


@given(st.lists(records(), max_size=6, unique_by=lambda r: r.name), st.floats(0, 1e6, allow_nan=False))
def test_a_table_survives_its_snapshot(items: list[RunRecord], observed: float) -> None:
    table = RunTable()
    for i, r in enumerate(items):
        table.apply(event(r.name, r.creation(), issuer=f"n{i}", seq=i, ts=float(i)), observed=observed)
    copy = RunTable.from_snapshot(table.to_snapshot(), observed)
    assert copy == table
    assert copy.to_snapshot() == table.to_snapshot()
