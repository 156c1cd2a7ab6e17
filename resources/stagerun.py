"""StageRun: one execution of one stage of one project, frozen at creation."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator

from winslow.resources.base import Env, Metadata, Model
from winslow.resources.logparsers import LogParser
from winslow.resources.pipeline import ProgressForm, Resources, WorkspaceMode


class StageRunPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    KILLED = "Killed"
    LOST = "Lost"
    SKIPPED = "Skipped"
    """Its stage's `when` was false: recorded without a container, and done for what needs it."""

    @property
    def active(self) -> bool:
        return self in (StageRunPhase.PENDING, StageRunPhase.RUNNING)

    @property
    def done(self) -> bool:
        """Lets the stages that need it start."""
        return self in (StageRunPhase.SUCCEEDED, StageRunPhase.SKIPPED)


class Trigger(StrEnum):
    AUTO = "auto"
    USER = "user"


class WorkspaceSource(Model):
    mode: WorkspaceMode = Field(default=WorkspaceMode.INCREMENTAL, description="the stage's workspace.mode")
    copy_of: str | None = Field(
        default=None, description="the StageRun whose workspace was copied; none: it started empty"
    )


class StageRunSpec(Model):
    project: str = Field(description="the project this run belongs to")
    project_uid: str | None = Field(
        default=None, description="the uid of the project that made it (an older one may have had its name)"
    )
    stage: str = Field(description="the stage's name in the project's pipeline snapshot")
    index: int = Field(description="the stage's position in the snapshot, from 0")
    image: str = Field(description="the container image, as the stage names it")
    command: list[str] | None = Field(default=None, description="the stage's command")
    args: list[str] = Field(default_factory=list, description="the stage's args")
    env: Env = Field(default_factory=dict, description="the merged environment the container gets")
    resources: Resources = Field(default_factory=Resources, description="what was reserved for the run")
    workspace: WorkspaceSource = Field(
        default_factory=WorkspaceSource, description="where its workspace was copied from"
    )
    attempt: int = Field(default=1, description="1 for the first try, then raised by each retry")
    timeout_seconds: float | None = Field(default=None, description="the stage's timeoutSeconds")
    run_from: datetime | None = Field(default=None, description="the resume request that started it, if any")
    confirmed: datetime | None = Field(default=None, description="the confirmation that let it start, if any")
    progress: ProgressForm = Field(
        default=ProgressForm.MARKER, description="how its output reports progress (the stage's `progress`)"
    )
    log_parsers: list[LogParser] = Field(
        default_factory=list, description="what of its output is written as CSV (the stage's `logParsers`)"
    )
    pipeline_changes: list[str] = Field(
        default_factory=list,
        description="set on a run that a resume started with the pipeline as it was then: "
        "what differed from the project's snapshot",
    )


class StageRunStatus(Model):
    phase: StageRunPhase = Field(default=StageRunPhase.PENDING, description="where the run stands")
    node: str | None = Field(default=None, description="the node that runs it")
    container_id: str | None = Field(default=None, description="its container on that node")
    exit_code: int | None = Field(default=None, description="the container's exit status, once it ended")
    start_time: datetime | None = Field(default=None, description="when its container started")
    finish_time: datetime | None = Field(default=None, description="when it ended")
    message: str = Field(default="", description="why it is in its phase (a failure's reason, say)")
    trigger: Trigger = Field(
        default=Trigger.AUTO, description="auto: started by the pipeline; user: by a resume or confirmation"
    )
    triggered_by: str | None = None
    """The user whose resume or confirmation started the run."""
    gpus: list[int] = Field(default_factory=list)
    """The GPU indices granted to the run: chosen once, when it was created."""
    results: dict[str, str] = Field(
        default_factory=dict,
        description="what the stage reported with `WINSLOW_RESULT: key=value` lines of its output "
        "(the value is everything after the first `=`; a later line with the same key wins)",
    )
    progress: float | None = Field(
        default=None,
        description="the last percentage the stage reported (`WINSLOW_PROGRESS: N` lines, 0 to 100)",
    )
    matrix: dict[str, str] = Field(
        default_factory=dict,
        description="for one combination of a sweep: its variables and their values (also in its env)",
    )


_RUN_NAME = re.compile(r"^[a-z0-9-]+\.[0-9]+\.[a-z0-9-]+$")


class RunMetadata(Metadata):
    """StageRun names are PROJECT.N.STAGE: unique across projects, and the project parses back."""

    name: str = Field(description="PROJECT.N.STAGE: the project, the run's number, the stage")

    @field_validator("name")
    @classmethod
    def _run_name(cls, name: str) -> str:
        if not _RUN_NAME.match(name):
            raise ValueError(f"{name!r} is not a StageRun name; they look like PROJECT.N.STAGE")
        return name


class StageRun(Model):
    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["StageRun"] = "StageRun"
    metadata: RunMetadata = Field(description="its name, PROJECT.N.STAGE")
    spec: StageRunSpec = Field(description="what runs, frozen when the run is created")
    status: StageRunStatus = Field(default_factory=StageRunStatus, description="how it went")


def stagerun_name(project: str, number: int, stage: str) -> str:
    """Project and stage names are DNS labels (no dots), so this name parses back unambiguously."""
    return f"{project}.{number}.{stage}"


def project_of(stagerun: str) -> str:
    project, _, rest = stagerun.partition(".")
    if not rest:
        raise ValueError(f"{stagerun!r} is not a StageRun name; they look like PROJECT.N.STAGE")
    return project
