"""What the Project reconciler may decide to do; `apply` carries each out."""

from __future__ import annotations

from dataclasses import dataclass

from winslow.controller.records import RunRecord
from winslow.resources.amount import Amount
from winslow.resources.project import ProjectStatus
from winslow.resources.stagerun import StageRun


@dataclass(frozen=True)
class AcquireLock:
    """Everything that changes the share is decided again on a fresh observation under the lock."""


@dataclass(frozen=True)
class WriteStatus:
    status: ProjectStatus


@dataclass(frozen=True)
class MarkLost:
    run: RunRecord


@dataclass(frozen=True)
class CreateRun:
    run: StageRun
    record: RunRecord


@dataclass(frozen=True)
class StartElection:
    request: Amount


@dataclass(frozen=True)
class Requeue:
    after: float


@dataclass(frozen=True)
class Kill:
    """The project's spec is gone (deleted by winsctl, the API or by hand): stop what it runs."""

    run: str


Action = AcquireLock | WriteStatus | MarkLost | CreateRun | StartElection | Requeue | Kill
