"""The utilisation report: Table 7.1 and the weekday x hour maps, as a pure function of StageRuns."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winslow.controller.records import RunRecord
from winslow.controller.utilisation import (
    Weight,
    WorkingHours,
    intervals,
    parse_days,
    parse_hours,
    parse_zone,
    report,
)
from winslow.resources.amount import Amount
from winslow.resources.stagerun import StageRunPhase, Trigger

BERLIN = ZoneInfo("Europe/Berlin")
UTC_HOURS = WorkingHours(tz=UTC)


def run(
    name: str,
    start: datetime | None,
    end: datetime | None,
    trigger: str = "auto",
    phase: str = "Succeeded",
    gpu: int = 0,
    cpu: float = 1.0,
) -> RunRecord:
    project, number, stage = name.split(".")
    return RunRecord(
        name=name,
        project=project,
        number=int(number),
        stage=stage,
        index=0,
        node="n",
        created=start or datetime(2026, 1, 1, tzinfo=UTC),
        phase=StageRunPhase(phase),
        trigger=Trigger(trigger),
        request=Amount(cpu=cpu, memory=0, gpu=gpu),
        start_time=start,
        finish_time=end,
    )


MONDAY = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday, 00:00 UTC
NOW = MONDAY + timedelta(days=14)


def table(rep) -> dict[str, float]:
    return {row["key"]: round(row["hours"], 6) for row in rep.rows()}


def test_table_7_1_categories_shares_and_gain():
    runs = [
        run("p.1.detect", MONDAY + timedelta(hours=9), MONDAY + timedelta(hours=12), trigger="user"),
        run("p.2.clean", MONDAY + timedelta(hours=17), MONDAY + timedelta(hours=21)),  # 1 h in, 3 h out
        run("p.3.count", MONDAY + timedelta(days=5, hours=1), MONDAY + timedelta(days=5, hours=3)),  # Sat
    ]
    rep = report(runs, now=NOW, hours=UTC_HOURS)
    assert table(rep) == {
        "all": 9.0,
        "working": 4.0,
        "off": 5.0,
        "auto": 6.0,
        "auto_off": 5.0,
        "user": 3.0,
        "user_off": 0.0,
    }
    rows = {r["key"]: r for r in rep.rows()}
    assert rows["working"]["share"] == pytest.approx(4 / 9)
    assert rows["auto"]["gain"] == pytest.approx(6 / 3)  # twice as much ran as without automatic starts
    assert rows["auto_off"]["gain"] == pytest.approx(5 / 4)
    assert rows["all"]["gain"] is None
    assert rep.running[0][9] == 3600 and rep.running[0][20] == 3600 and rep.running[5][1] == 3600
    assert rep.started[0][9] == 1 and rep.started_auto[0][9] == 0 and rep.started_auto[0][17] == 1


def test_the_thesis_figures_give_the_thesis_gains():
    """2003 h in all, 1131 h started automatically: +129 %; 286 h of them outside work time: +16 %."""
    rep = report([], now=NOW, hours=UTC_HOURS)
    rep.total, rep.auto, rep.auto_off = 2003 * 3600, 1131 * 3600, 286 * 3600
    rows = {r["key"]: r for r in rep.rows()}
    assert math.floor(rows["auto"]["gain"] * 100) == 129
    assert math.floor(rows["auto_off"]["gain"] * 100) == 16
    assert round(rows["auto"]["share"] * 100, 1) == 56.5


def test_running_stage_counts_until_now_and_lost_without_finish_is_left_out():
    runs = [
        run("p.1.a", NOW - timedelta(hours=2), None, phase="Running"),
        run("p.2.b", NOW - timedelta(hours=5), None, phase="Lost"),
        run("p.3.c", None, None, phase="Pending"),
    ]
    rep = report(runs, now=NOW, hours=UTC_HOURS)
    assert table(rep)["all"] == 2.0
    assert rep.runs == 1


def test_period_cuts_runs_at_its_edges():
    day = MONDAY + timedelta(days=1)
    runs = [run("p.1.a", day - timedelta(hours=2), day + timedelta(hours=3))]
    rep = report(runs, now=NOW, start=day, end=day + timedelta(hours=1), hours=UTC_HOURS)
    assert table(rep)["all"] == 1.0
    assert sum(map(sum, rep.started)) == 0  # it started before the period


def test_weights_count_requested_gpus_or_cpus():
    runs = [
        run("p.1.a", MONDAY, MONDAY + timedelta(hours=2), gpu=2, cpu=4),
        run("p.2.b", MONDAY, MONDAY + timedelta(hours=1), gpu=0, cpu=0.5),
    ]
    assert table(report(runs, now=NOW, hours=UTC_HOURS, weight=Weight.GPU))["all"] == 4.0
    assert table(report(runs, now=NOW, hours=UTC_HOURS, weight=Weight.CPU))["all"] == 8.5


def test_time_zone_decides_the_hour():
    start = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 8:00 in Berlin (UTC+1 in November)
    runs = [run("p.1.a", start, start + timedelta(hours=1))]
    assert table(report(runs, now=NOW, hours=WorkingHours(tz=BERLIN)))["working"] == 1.0
    assert table(report(runs, now=NOW, hours=UTC_HOURS))["working"] == 0.0
    kolkata = report(runs, now=NOW, hours=WorkingHours(tz=ZoneInfo("Asia/Kolkata")))  # UTC+5:30
    assert sum(v > 0 for day in kolkata.running for v in day) == 2  # 12:30-13:00 and 13:00-13:30


def test_parsers_and_their_errors():
    assert parse_hours("8-18") == (8, 18)
    assert parse_days("Mon-Fri") == frozenset(range(5))
    assert parse_days("Sat-Mon") == frozenset({5, 6, 0})
    assert parse_days("mon,wed") == frozenset({0, 2})
    assert parse_zone("UTC") is not None and parse_zone(None) is None
    for bad, call in (("18-8", parse_hours), ("Mon-Fry", parse_days), ("Mars/Olympus", parse_zone)):
        with pytest.raises(ValueError, match=r"e\.g\.|like|IANA"):
            call(bad)


def test_intervals_skip_runs_that_never_started():
    assert intervals([run("p.1.a", None, None)], NOW) == []


# ------------------------------------------------------------------ properties

moments = st.integers(min_value=0, max_value=14 * 24 * 3600 - 1).map(lambda s: MONDAY + timedelta(seconds=s))
zones = st.sampled_from([UTC, BERLIN, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/St_Johns")])
spans = st.lists(
    st.tuples(moments, st.integers(1, 3 * 24 * 3600), st.sampled_from(["auto", "user"])), max_size=6
)
workhours = st.builds(
    lambda h, d, tz: WorkingHours(h[0], h[1], frozenset(d), tz),
    st.tuples(st.integers(0, 23), st.integers(1, 24)).filter(lambda h: h[0] < h[1]),
    st.sets(st.integers(0, 6)),
    zones,
)


def records(items) -> list[RunRecord]:
    return [
        run(f"p.{i + 1}.s", start, start + timedelta(seconds=length), trigger=trigger)
        for i, (start, length, trigger) in enumerate(items)
    ]


@settings(max_examples=60, deadline=None)
@given(spans, workhours)
def test_hours_are_conserved_across_categories(items, hours):
    rep = report(records(items), now=NOW + timedelta(days=10), hours=hours)
    expected = sum(length for _, length, _ in items)
    assert rep.total == pytest.approx(expected)
    assert rep.working + rep.off == pytest.approx(rep.total)
    assert rep.auto + rep.user == pytest.approx(rep.total)
    assert rep.auto_off <= rep.off + 1e-6 and rep.user_off <= rep.off + 1e-6
    assert rep.auto_off + rep.user_off == pytest.approx(rep.off)
    assert sum(map(sum, rep.running)) == pytest.approx(rep.total)
    assert sum(map(sum, rep.running_auto)) == pytest.approx(rep.auto)
    assert sum(map(sum, rep.started)) == len(items)


@settings(max_examples=60, deadline=None)
@given(moments, st.integers(2, 3 * 24 * 3600), st.floats(0.01, 0.99), workhours)
def test_splitting_a_run_anywhere_gives_the_same_totals(start, length, at, hours):
    cut = start + timedelta(seconds=int(length * at) or 1)
    end = start + timedelta(seconds=length)
    whole = report([run("p.1.a", start, end)], now=NOW + timedelta(days=10), hours=hours)
    halves = report(
        [run("p.1.a", start, cut), run("p.2.a", cut, end)], now=NOW + timedelta(days=10), hours=hours
    )
    assert table(halves) == pytest.approx(table(whole))
    for a, b in zip(whole.running, halves.running, strict=True):
        assert a == pytest.approx(b)


@settings(max_examples=60, deadline=None)
@given(spans, moments, moments)
def test_a_period_and_its_complement_add_up(items, a, b):
    first, second = sorted((a, b))
    runs = records(items)
    now = NOW + timedelta(days=10)
    whole = report(runs, now=now, hours=UTC_HOURS)
    parts = [
        report(runs, now=now, end=first, hours=UTC_HOURS),
        report(runs, now=now, start=first, end=second, hours=UTC_HOURS),
        report(runs, now=now, start=second, hours=UTC_HOURS),
    ]
    assert sum(p.total for p in parts) == pytest.approx(whole.total)
    assert sum(sum(map(sum, p.started)) for p in parts) == sum(map(sum, whole.started))
