"""What the Project reconciler may decide to do; `apply` carries each out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from winslow.controller.records import RunRecord
from winslow.resources.amount import Amount
from winslow.resources.project import NotifyEvent, NotifyTarget, ProjectPhase, ProjectStatus
from winslow.resources.quota import Quota
from winslow.resources.stagerun import StageRun


@dataclass(frozen=True)
class AcquireLock:
    """Everything that changes the share is decided again, in the next pass, on a fresh
    observation under the lock."""


@dataclass(frozen=True)
class WriteStatus:
    status: ProjectStatus
    """With its version (the log's next) and the time of the decision set."""


@dataclass(frozen=True)
class MarkLost:
    run: RunRecord


@dataclass(frozen=True)
class CreateRun:
    run: StageRun
    record: RunRecord
    quotas: tuple[Quota, ...] = ()
    """The quotas that cover it: counted again under their locks when it is created."""
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class StartElection:
    request: Amount
    supersedes: int | None = None
    """The open election this one replaces, because its starter went silent."""
    selector: dict[str, str] | None = None
    """The stage's nodeSelector: only nodes with these labels fit."""


@dataclass(frozen=True)
class Requeue:
    after: float


@dataclass(frozen=True)
class Notify:
    """Tell the project's `spec.notify` targets that listen for `event`: one outbox entry each, written
    under the lock before the status that shows the change, so a decision taken again writes the same."""

    event: NotifyEvent
    stage: str | None
    phase: ProjectPhase
    reason: str
    targets: tuple[NotifyTarget, ...]


@dataclass(frozen=True)
class Kill:
    """The project's spec is gone (deleted by winsctl, the API or by hand): stop what it runs."""

    run: str


Action = AcquireLock | WriteStatus | MarkLost | CreateRun | StartElection | Requeue | Kill | Notify
