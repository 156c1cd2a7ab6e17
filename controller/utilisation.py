"""The thesis's utilisation report (Table 7.1, figures 7.2-7.5) from StageRun history on the share.

A pure function of StageRun records: it needs no Prometheus and gives the same figures on every
node. Each run is an interval [start, finish) (a running one ends now) with a weight (1, or the
GPUs or CPUs it requested), started by a user or automatically. The interval is cut at local hour
boundaries; each piece counts inside or outside working hours and lands in its weekday x hour cell.
`WorkingHours.split` is the one rule for "working hours": the Prometheus metrics use it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from winslow.controller.records import RunRecord
from winslow.resources.stagerun import StageRunPhase, Trigger

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOUR = timedelta(hours=1)


class Weight(StrEnum):
    """What an hour of a stage counts as: one stage-hour, or its requested GPUs or CPUs."""

    NONE = "none"
    GPU = "gpu"
    CPU = "cpu"


@dataclass(frozen=True)
class WorkingHours:
    """Hours [start, end) on the given weekdays (0 = Monday), in time zone `tz` (None: the
    system's local time, with its daylight saving rules)."""

    start: int = 8
    end: int = 18
    days: frozenset[int] = frozenset(range(5))
    tz: tzinfo | None = None

    def working(self, local: datetime) -> bool:
        return local.weekday() in self.days and self.start <= local.hour < self.end

    def pieces(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, float]]:
        """(local start, seconds) of the parts of [start, end) that lie within one local hour each.

        The next boundary is found from the current UTC offset, so zones offset by half or
        three quarters of an hour cut where their clocks show a full hour.
        """
        cursor = start.astimezone(UTC)
        stop = end.astimezone(UTC)
        while cursor < stop:
            local = cursor.astimezone(self.tz)
            top = local.replace(minute=0, second=0, microsecond=0)
            boundary = min(stop, cursor + (top + HOUR - local))
            yield local, (boundary - cursor).total_seconds()
            cursor = boundary

    def split(self, start: datetime, end: datetime) -> tuple[float, float]:
        """Seconds of [start, end) inside and outside working hours."""
        working = off = 0.0
        for local, seconds in self.pieces(start, end):
            if self.working(local):
                working += seconds
            else:
                off += seconds
        return working, off


def parse_hours(text: str) -> tuple[int, int]:
    """`8-18` -> (8, 18): working from 8:00 until 18:00."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*-\s*(\d{1,2})\s*", text)
    if not match or not 0 <= int(match[1]) < int(match[2]) <= 24:
        raise ValueError(
            f"work hours {text!r}: give START-END in whole hours, 0 <= START < END <= 24, e.g. 8-18"
        )
    return int(match[1]), int(match[2])


def parse_days(text: str) -> frozenset[int]:
    """`Mon-Fri`, `Mon,Wed,Fri` or `Sun-Tue` (wrapping) -> weekday numbers (0 = Monday)."""
    days: set[int] = set()
    names = [d.lower() for d in DAYS]
    for part in text.split(","):
        ends = [p.strip().lower()[:3] for p in part.split("-")]
        if not 1 <= len(ends) <= 2 or any(e not in names for e in ends):
            raise ValueError(f"work days {text!r}: use day names like Mon-Fri or Mon,Tue,Thu")
        first, last = names.index(ends[0]), names.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)


def parse_zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"time zone {name!r} is unknown; use an IANA name such as Europe/Berlin or UTC"
        ) from None


def parse_moment(text: str, tz: tzinfo | None, *, end: bool = False) -> datetime:
    """An ISO date or date-time; a date is a whole day in `tz`, so `--to 2026-03-06` includes that day."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[+01:00]") from None
    whole_day = len(text.strip()) <= 10
    if end and whole_day:
        moment += timedelta(days=1)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz is not None else moment.astimezone()
    return moment


@dataclass(frozen=True)
class Interval:
    """One stage's time on a node, as the report counts it."""

    start: datetime
    end: datetime
    trigger: Trigger
    weight: float = 1.0


def intervals(runs: Iterable[RunRecord], now: datetime, weight: Weight = Weight.NONE) -> list[Interval]:
    """Runs that started; one still running counts until `now`, one that ended without a recorded
    finish (a lost node's run) is left out, since nobody knows how long it ran."""
    found = []
    for run in runs:
        start, end = run.start_time, run.finish_time
        if start is None:
            continue
        if end is None:
            if run.phase is not StageRunPhase.RUNNING:
                continue
            end = now
        if end <= start:
            continue
        amount = {Weight.NONE: 1.0, Weight.GPU: float(run.request.gpu), Weight.CPU: float(run.request.cpu)}[
            weight
        ]
        found.append(Interval(start, end, run.trigger, amount))
    return found


Matrix = list[list[float]]


def _matrix() -> Matrix:
    return [[0.0] * 24 for _ in DAYS]


@dataclass
class Report:
    """Seconds (weighted) by category, and the weekday x hour heat maps of figures 7.2-7.5."""

    start: datetime | None
    end: datetime
    hours: WorkingHours
    weight: Weight
    total: float = 0.0
    working: float = 0.0
    off: float = 0.0
    auto: float = 0.0
    auto_off: float = 0.0
    user: float = 0.0
    user_off: float = 0.0
    runs: int = 0
    running: Matrix = field(default_factory=_matrix)
    running_auto: Matrix = field(default_factory=_matrix)
    started: Matrix = field(default_factory=_matrix)
    started_auto: Matrix = field(default_factory=_matrix)

    def rows(self) -> list[dict[str, Any]]:
        """Table 7.1: hours, share of all, and the gain: how much more ran than would have without
        the automatic starts (x / (all - x))."""

        def row(key: str, label: str, seconds: float, gain: bool = False) -> dict[str, Any]:
            rest = self.total - seconds
            return {
                "key": key,
                "label": label,
                "hours": seconds / 3600,
                "share": seconds / self.total if self.total else 0.0,
                "gain": (seconds / rest if rest > 0 else None) if gain else None,
            }

        return [
            row("all", "All", self.total),
            row("working", "Within working hours", self.working),
            row("off", "Outside working hours", self.off),
            row("auto", "Started automatically", self.auto, gain=True),
            row("auto_off", "Started automatically, outside working hours", self.auto_off, gain=True),
            row("user", "Started by a user", self.user),
            row("user_off", "Started by a user, outside working hours", self.user_off),
        ]

    def wire(self) -> dict[str, Any]:
        hours = self.hours
        scale = 1 / 3600
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat(),
            "workHours": f"{hours.start}-{hours.end}",
            "workDays": [DAYS[d] for d in sorted(hours.days)],
            "tz": str(hours.tz) if hours.tz is not None else "local",
            "weight": self.weight.value,
            "unit": {Weight.NONE: "stage-hours", Weight.GPU: "GPU-hours", Weight.CPU: "CPU-hours"}[
                self.weight
            ],
            "runs": self.runs,
            "rows": self.rows(),
            "heatmap": {
                "days": list(DAYS),
                "running": [[v * scale for v in day] for day in self.running],
                "runningAuto": [[v * scale for v in day] for day in self.running_auto],
                "started": self.started,
                "startedAuto": self.started_auto,
                "working": [
                    [hours.start <= h < hours.end and d in hours.days for h in range(24)] for d in range(7)
                ],
            },
        }


def report(
    runs: Iterable[RunRecord],
    *,
    now: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    hours: WorkingHours | None = None,
    weight: Weight = Weight.NONE,
) -> Report:
    """Figures for [start, end) (default: everything until now); parts of runs outside it are cut off."""
    hours = hours or WorkingHours()
    stop = min(end, now) if end is not None else now
    result = Report(start, end or now, hours, weight)
    for interval in intervals(runs, now, weight):
        begin = max(interval.start, start) if start is not None else interval.start
        finish = min(interval.end, stop)
        auto = interval.trigger is Trigger.AUTO
        if (start is None or interval.start >= start) and interval.start < stop:
            local = interval.start.astimezone(hours.tz)
            result.started[local.weekday()][local.hour] += 1
            if auto:
                result.started_auto[local.weekday()][local.hour] += 1
        if finish <= begin:
            continue
        result.runs += 1
        for local, seconds in hours.pieces(begin, finish):
            amount = seconds * interval.weight
            inside = hours.working(local)
            result.total += amount
            result.working += amount if inside else 0.0
            result.off += 0.0 if inside else amount
            if auto:
                result.auto += amount
                result.auto_off += 0.0 if inside else amount
                result.running_auto[local.weekday()][local.hour] += amount
            else:
                result.user += amount
                result.user_off += 0.0 if inside else amount
            result.running[local.weekday()][local.hour] += amount
    return result
