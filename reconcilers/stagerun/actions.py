"""What the StageRun reconciler may decide to do; `apply` carries each out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from winslow.resources.pipeline import ProgressForm
from winslow.resources.stagerun import StageRunPhase


@dataclass(frozen=True)
class Start:
    """Copy the workspace and run the container, on a thread of its own."""


@dataclass(frozen=True)
class StartCreated:
    """The node died between `docker create` and `docker start`."""

    container_id: str


@dataclass(frozen=True)
class Watch:
    container_id: str
    progress: ProgressForm = ProgressForm.MARKER
    """How the output it copies reports progress (the stage's `progress`)."""
    parsers: tuple[tuple[str, str], ...] = ()
    """The stage's log parsers, (name, pattern): what of the output is written as CSV."""


@dataclass(frozen=True)
class Report:
    """Record what the stage reported in its output: results and progress, all of them."""

    results: dict[str, str]
    progress: float | None


@dataclass(frozen=True)
class MarkRunning:
    container_id: str
    started: datetime | None = None
    """When the container started, if a start thread saw it (else: now)."""


@dataclass(frozen=True)
class Stop:
    container_id: str
    why: str


@dataclass(frozen=True)
class Finish:
    phase: StageRunPhase
    exit_code: int | None
    message: str
    note: str = ""
    """A line for the run's log before its result (why its log may be incomplete)."""
    results: dict[str, str] | None = None
    progress: float | None = None
    """What the stage reported, recorded with its end (None: nothing new to record)."""


@dataclass(frozen=True)
class Forget:
    """Drop the reservation, the log watcher and the lease of a run that has ended."""


@dataclass(frozen=True)
class Defer:
    """The share refused a write before the container started: try again later, still Pending."""

    why: str


@dataclass(frozen=True)
class Requeue:
    after: float


Action = Start | StartCreated | Watch | MarkRunning | Stop | Finish | Forget | Defer | Requeue | Report
