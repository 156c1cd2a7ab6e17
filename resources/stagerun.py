"""StageRun: one execution of one stage of one project, frozen at creation."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator

from winslow.resources.base import Env, Metadata, Model
from winslow.resources.pipeline import Resources, WorkspaceMode


class StageRunPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    KILLED = "Killed"
    LOST = "Lost"

    @property
    def active(self) -> bool:
        return self in (StageRunPhase.PENDING, StageRunPhase.RUNNING)


class Trigger(StrEnum):
    AUTO = "auto"
    USER = "user"


class WorkspaceSource(Model):
    mode: WorkspaceMode = WorkspaceMode.INCREMENTAL
    copy_of: str | None = None


class StageRunSpec(Model):
    project: str
    stage: str
    index: int
    image: str
    command: list[str] | None = None
    args: list[str] = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    workspace: WorkspaceSource = Field(default_factory=WorkspaceSource)
    attempt: int = 1
    timeout_seconds: float | None = None
    run_from: datetime | None = None
    confirmed: datetime | None = None


class StageRunStatus(Model):
    phase: StageRunPhase = StageRunPhase.PENDING
    node: str | None = None
    container_id: str | None = None
    exit_code: int | None = None
    start_time: datetime | None = None
    finish_time: datetime | None = None
    message: str = ""
    trigger: Trigger = Trigger.AUTO
    triggered_by: str | None = None
    """The user whose resume or confirmation started the run."""
    gpus: list[int] = Field(default_factory=list)
    """The GPU indices granted to the run: chosen once, when it was created."""


_RUN_NAME = re.compile(r"^[a-z0-9-]+\.[0-9]+\.[a-z0-9-]+$")


class RunMetadata(Metadata):
    """StageRun names are PROJECT.N.STAGE: unique across projects, and the project parses back."""

    name: str

    @field_validator("name")
    @classmethod
    def _run_name(cls, name: str) -> str:
        if not _RUN_NAME.match(name):
            raise ValueError(f"{name!r} is not a StageRun name; they look like PROJECT.N.STAGE")
        return name


class StageRun(Model):
    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["StageRun"] = "StageRun"
    metadata: RunMetadata
    spec: StageRunSpec
    status: StageRunStatus = Field(default_factory=StageRunStatus)


def stagerun_name(project: str, number: int, stage: str) -> str:
    """Project and stage names are DNS labels (no dots), so this name parses back unambiguously."""
    return f"{project}.{number}.{stage}"


def project_of(stagerun: str) -> str:
    project, _, rest = stagerun.partition(".")
    if not rest:
        raise ValueError(f"{stagerun!r} is not a StageRun name; they look like PROJECT.N.STAGE")
    return project
