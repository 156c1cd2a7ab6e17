"""StageRuns as the event log commits them: the history every decision about a project reads.

On a network share a node may list a project's StageRun folder without seeing a file another
node has just written, or read an old version of a file replaced by rename. So the StageRun
files are a projection for people and the API; the log is the record. A RECORD event creates a
run (only the holder of its project's lock may) or changes its state (only the holder of its
lease or of its project's lock may), and a run that has ended never changes again: a node that
lost its lease while it was away cannot overwrite what another node recorded meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from winslow.controller.events import Event
from winslow.controller.locks import LockTable
from winslow.controller.subjects import STAGERUN, lease_subject, lock_subject, subject_parts
from winslow.resources.amount import Amount
from winslow.resources.stageoutput import RESULT_KEYS, RESULT_VALUE
from winslow.resources.stagerun import StageRunPhase, StageRunStatus, Trigger, project_of

MESSAGE_LIMIT = 2000
MATRIX_VALUES = 1000  # a sweep has at most resources.matrix.MAX_COMBINATIONS combinations
_UPDATABLE = ("phase", "exitCode", "message", "startTime", "finishTime", "containerId", "results", "progress")


@dataclass(frozen=True)
class RunRecord:
    name: str
    project: str
    number: int
    stage: str
    index: int
    node: str
    created: datetime
    phase: StageRunPhase = StageRunPhase.PENDING
    attempt: int = 1
    trigger: Trigger = Trigger.AUTO
    triggered_by: str | None = None
    run_from: datetime | None = None
    confirmed: datetime | None = None
    copy_of: str | None = None
    gpus: tuple[int, ...] = ()
    request: Amount = field(default_factory=Amount)
    exit_code: int | None = None
    message: str = ""
    start_time: datetime | None = None
    finish_time: datetime | None = None
    container_id: str | None = None
    owner: str | None = None
    """Its project's owner when it was created: what a quota of a user or a group counts."""
    project_uid: str | None = None
    """The uid of the project that made the run: a project deleted and applied again under the
    same name is a new project, with no history of the old one's runs."""
    results: dict[str, str] = field(default_factory=dict)
    """What the stage reported with `WINSLOW_RESULT: key=value` lines; never changed in place."""
    progress: float | None = None
    """The last percentage it reported (`WINSLOW_PROGRESS: N`), 0 to 100."""
    matrix: dict[str, str] = field(default_factory=dict)
    """Its combination of its stage's sweep (empty for a stage that is no sweep)."""
    restart: bool = False
    """It began its stage again (`resume --from`): the stage's earlier runs, and those of every
    stage after it, are history from then on, not the current pass."""
    sweep: dict[str, list[str]] | None = None
    """With `restart`: the values that resume swept its stage over, instead of the stage's own matrix."""
    seq: int = -1
    """The RECORD event that last changed the run: decisions compare these, never clocks."""
    phase_seq: int = -1
    """The RECORD event that last changed its phase (its creation, say): the changes a decision
    about the project waits for, which a report of progress or results is not."""
    recorder: str = ""
    """The node that published that event, and wrote the file after it."""
    recorded_at: float = 0.0
    """That event's timestamp, on the recorder's own clock."""
    observed: float = field(default=0.0, compare=False)
    """This node's monotonic time when it learnt of that change: local only."""

    def status(self) -> StageRunStatus:
        """The run's status as its file shows it: the record is the run's one model of state,
        and the file's status is only ever this projection of it."""
        return StageRunStatus(
            phase=self.phase,
            node=self.node,
            container_id=self.container_id,
            exit_code=self.exit_code,
            start_time=self.start_time,
            finish_time=self.finish_time,
            message=self.message,
            trigger=self.trigger,
            triggered_by=self.triggered_by,
            gpus=list(self.gpus),
            results=dict(self.results),
            progress=self.progress,
            matrix=dict(self.matrix),
        )

    def creation(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "number": self.number,
            "stage": self.stage,
            "index": self.index,
            "node": self.node,
            "created": self.created.isoformat(),
            "attempt": self.attempt,
            "trigger": self.trigger.value,
            "triggeredBy": self.triggered_by,
            "runFrom": _iso(self.run_from),
            "confirmed": _iso(self.confirmed),
            "copyOf": self.copy_of,
            "gpus": list(self.gpus),
            "request": self.request.wire(),
            "projectUid": self.project_uid,
            **({"owner": self.owner} if self.owner else {}),
            **({"matrix": dict(self.matrix)} if self.matrix else {}),
            **({"restart": True} if self.restart else {}),
            **({"sweep": self.sweep} if self.sweep is not None else {}),
            **self.update(),
        }

    def update(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "exitCode": self.exit_code,
            "message": self.message[:MESSAGE_LIMIT],
            "startTime": _iso(self.start_time),
            "finishTime": _iso(self.finish_time),
            "containerId": self.container_id,
            **({"results": dict(self.results)} if self.results else {}),
            **({"progress": self.progress} if self.progress is not None else {}),
        }

    @classmethod
    def created_by(cls, name: str, data: dict[str, Any]) -> RunRecord:
        record = cls(
            name=name,
            project=str(data["project"]),
            number=int(data["number"]),
            stage=str(data["stage"]),
            index=int(data["index"]),
            node=str(data["node"]),
            created=_time(data["created"]) or datetime.fromtimestamp(0),
            attempt=int(data.get("attempt", 1)),
            trigger=Trigger(data.get("trigger", Trigger.AUTO.value)),
            triggered_by=_optional_str(data.get("triggeredBy")),
            run_from=_time(data.get("runFrom")),
            confirmed=_time(data.get("confirmed")),
            copy_of=_optional_str(data.get("copyOf")),
            gpus=tuple(int(g) for g in data.get("gpus") or ()),
            request=Amount.from_wire(data.get("request") or {}),
            project_uid=_optional_str(data.get("projectUid")),
            owner=_optional_str(data.get("owner")),
            matrix=_results(data.get("matrix") or {}),
            restart=bool(data.get("restart", False)),
            sweep=_sweep(data["sweep"]) if data.get("sweep") is not None else None,
        )
        return record.updated_by(data)

    def updated_by(self, data: dict[str, Any]) -> RunRecord:
        unknown = set(data) - set(_UPDATABLE) - set(self.creation())
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        code = data.get("exitCode", self.exit_code)
        return replace(
            self,
            phase=StageRunPhase(data.get("phase", self.phase.value)),
            exit_code=int(code) if code is not None else None,
            message=str(data.get("message", self.message))[:MESSAGE_LIMIT],
            start_time=_time(data["startTime"]) if "startTime" in data else self.start_time,
            finish_time=_time(data["finishTime"]) if "finishTime" in data else self.finish_time,
            container_id=_optional_str(data.get("containerId", self.container_id)),
            results=_results(data["results"]) if "results" in data else self.results,
            progress=_progress(data["progress"]) if "progress" in data else self.progress,
        )


def _results(value: Any) -> dict[str, str]:
    """Bounded as the log's rules bound everything: an event is read by every node."""
    if not isinstance(value, dict):
        raise ValueError("results are a mapping of names to values")
    items = list(value.items())[:RESULT_KEYS]
    return {str(k)[:RESULT_VALUE]: str(v)[:RESULT_VALUE] for k, v in items}


def _sweep(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise ValueError("a sweep is a mapping of variables to lists of values")
    return {
        str(k)[:RESULT_VALUE]: [str(v)[:RESULT_VALUE] for v in vs[:MATRIX_VALUES]] for k, vs in value.items()
    }


def _progress(value: Any) -> float | None:
    return None if value is None else min(100.0, max(0.0, float(value)))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value))


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


_BORN = (StageRunPhase.PENDING, StageRunPhase.SKIPPED, StageRunPhase.FAILED)
"""A stage whose `when` is false is recorded Skipped, one whose `when` cannot be evaluated Failed:
neither ever runs."""


def _allowed(old: StageRunPhase, new: StageRunPhase) -> bool:
    if not old.active:
        return False
    return not (old is StageRunPhase.RUNNING and new is StageRunPhase.PENDING)


@dataclass
class RunTable:
    runs: dict[str, RunRecord] = field(default_factory=dict)
    by_project: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Tuples, replaced rather than changed, so that a copy of the table shares them safely."""

    def of(self, project: str, uid: str | None = None) -> list[RunRecord]:
        """In creation order, which is the project's history order. With the project's uid, only
        the runs of that project: not those of an earlier project of the same name. Runs recorded
        without one (before uids) belong to any; a spec without one (a hand-written file, a copy
        from git) sees every run of the name, so that losing the uid never loses history."""
        runs = [self.runs[name] for name in self.by_project.get(project, ())]
        return runs if uid is None else [r for r in runs if r.project_uid in (None, uid)]

    def get(self, name: str) -> RunRecord | None:
        return self.runs.get(name)

    def active(self) -> list[RunRecord]:
        """Every run, of any project, that is Pending or Running."""
        return [r for r in self.runs.values() if r.phase.active]

    def last_number(self, project: str) -> int:
        names = self.by_project.get(project)
        return self.runs[names[-1]].number if names else 0

    def check(self, event: Event, locks: LockTable) -> str | None:
        try:
            _, name = _run_subject(event.subject)
            data = event.payload or {}
            current = self.runs.get(name)
            if current is None:
                record = RunRecord.created_by(name, data)
                if record.project != project_of(name):
                    return f"{name} does not belong to project {record.project}"
                if record.phase not in _BORN:
                    return "a StageRun starts Pending (or is recorded Skipped or Failed by its condition)"
                if locks.holder(lock_subject(record.project)) != event.issuer:
                    return f"{event.issuer} does not hold the lock of project {record.project}"
                if record.number <= self.last_number(record.project):
                    return f"run number {record.number} is not after the project's last one"
                return None
            new = current.updated_by(data)
        except (KeyError, TypeError, ValueError) as exc:
            return f"not a valid StageRun record ({exc})"
        if event.issuer not in (
            locks.holder(lease_subject(name)),
            locks.holder(lock_subject(current.project)),
        ):
            return f"{event.issuer} holds neither the lease of {name} nor its project's lock"
        if not _allowed(current.phase, new.phase):
            return f"{name} is {current.phase.value}; it cannot become {new.phase.value}"
        return None

    def apply(self, event: Event, observed: float = 0.0) -> None:
        _, name = _run_subject(event.subject)
        data = event.payload or {}
        current = self.runs.get(name)
        if current is None:
            record = RunRecord.created_by(name, data)
            self.by_project[record.project] = (*self.by_project.get(record.project, ()), name)
        else:
            record = current.updated_by(data)
        changed = current is None or current.phase is not record.phase
        self.runs[name] = replace(
            record,
            seq=event.seq,
            phase_seq=event.seq if changed or current is None else current.phase_seq,
            recorder=event.node,
            recorded_at=event.timestamp,
            observed=observed,
        )

    def to_snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "name": r.name,
                "seq": r.seq,
                "phaseSeq": r.phase_seq,
                "recorder": r.recorder,
                "recordedAt": r.recorded_at,
                **r.creation(),
            }
            for names in self.by_project.values()
            for r in (self.runs[n] for n in names)
        ]

    @classmethod
    def from_snapshot(cls, items: list[dict[str, Any]], observed: float) -> RunTable:
        table = cls()
        for item in items:
            data = dict(item)
            name, seq = str(data.pop("name")), int(data.pop("seq"))
            phase_seq = int(data.pop("phaseSeq", seq))
            recorder, recorded_at = str(data.pop("recorder", "")), float(data.pop("recordedAt", 0.0))
            record = replace(
                RunRecord.created_by(name, data),
                seq=seq,
                phase_seq=phase_seq,
                recorder=recorder,
                recorded_at=recorded_at,
                observed=observed,
            )
            table.runs[name] = record
            table.by_project[record.project] = (*table.by_project.get(record.project, ()), name)
        return table


def _run_subject(subject: str) -> tuple[str, str]:
    kind, name = subject_parts(subject)
    if kind != STAGERUN or not name:
        raise ValueError(f"{subject!r} is not a StageRun subject")
    return kind, name
