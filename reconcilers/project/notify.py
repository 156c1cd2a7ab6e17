"""Which changes of a project's status are told to its `spec.notify` targets (pure).

Taken under the project's lock with the status about to be written: a change into a gate that
waits for confirmation, into Failed (a stage that failed on its own, or a run marked Lost), or into
Succeeded is one event. A status that does not change tells nothing, so a decision taken again on
the same observation, or by another node, never tells twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from winslow.controller.records import RunRecord
from winslow.reconcilers.project.actions import Notify
from winslow.resources.project import NotifyEvent, NotifyTarget, ProjectPhase, ProjectStatus

GATE = "waits for confirmation"


def gated(status: ProjectStatus | None) -> bool:
    return status is not None and status.phase is ProjectPhase.WAITING and GATE in status.reason


def gate_clock(
    old: ProjectStatus | None,
    phase: ProjectPhase,
    reason: str,
    stage: str | None,
    now: float,
    remind_after: float,
) -> tuple[datetime | None, int]:
    """Since when the gate the project waits at has waited, and how many reminders are due for it:
    one more each `remind_after` seconds (a status change, so told once, under the lock)."""
    if phase is not ProjectPhase.WAITING or GATE not in reason:
        return None, 0
    if not gated(old) or old is None or old.current_stage != stage or old.waiting_since is None:
        return datetime.fromtimestamp(now, UTC), 0
    waited = now - old.waiting_since.timestamp()
    due = int(waited // remind_after) if remind_after > 0 else 0
    return old.waiting_since, max(old.reminders, due)


def event_of(old: ProjectStatus | None, new: ProjectStatus, lost: list[RunRecord]) -> NotifyEvent | None:
    """What happened between `old` and `new`, if it is told at all."""
    if lost and new.phase in (ProjectPhase.FAILED, ProjectPhase.PAUSED):
        return NotifyEvent.LOST
    if gated(new):
        if gated(old) and old is not None and old.current_stage == new.current_stage:
            return NotifyEvent.WAITING if new.reminders > old.reminders else None  # a reminder
        return NotifyEvent.WAITING
    if old is not None and old.phase is new.phase:
        return None
    if new.phase is ProjectPhase.FAILED:
        return NotifyEvent.FAILED
    if new.phase is ProjectPhase.SUCCEEDED and old is not None:
        return NotifyEvent.SUCCEEDED  # not for a finished project's status written again from scratch
    return None


def notifications(
    targets: list[NotifyTarget], old: ProjectStatus | None, new: ProjectStatus, lost: list[RunRecord]
) -> list[Notify]:
    event = event_of(old, new, lost)
    if event is None:
        return []
    listening = tuple(t for t in targets if event in t.on)
    if not listening:
        return []
    stage = lost[0].stage if event is NotifyEvent.LOST else new.current_stage
    reason = new.reason
    if event is NotifyEvent.WAITING and new.reminders and new.waiting_since is not None:
        reason = f"reminder {new.reminders}: waiting since {new.waiting_since:%Y-%m-%d %H:%M} UTC; {reason}"
    if event is NotifyEvent.LOST:
        reason = f"{lost[0].message}; {reason}" if lost[0].message else reason
    return [Notify(event, stage, new.phase, reason, listening)]
