"""Project: one work item (usually one video) moving through a pipeline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from winslow.resources.base import DnsLabel, Env, Metadata, Model
from winslow.resources.pipeline import StageList, StageSpec


class StageRequest(Model):
    """A level-triggered request: the controller acts once for each new `requestedAt`.

    This is how `kubectl rollout restart` works, and why hand-editing the manifest works as
    well as `winsctl`: the controller compares the request with the last one it acted on.
    """

    stage: DnsLabel | None = None
    requested_at: datetime
    by: str | None = Field(default=None, description="the user who asked (set by the API)")


class ProjectSpec(Model):
    pipeline: DnsLabel | None = None
    stages: StageList | None = None
    env: Env = Field(default_factory=dict)
    paused: bool = False
    tags: list[str] = Field(default_factory=list)
    owner: str | None = None
    members: list[str] = Field(default_factory=list)
    run_from: StageRequest | None = None
    confirm: StageRequest | None = None

    @model_validator(mode="after")
    def _has_stages(self) -> ProjectSpec:
        if self.pipeline is None and self.stages is None:
            raise ValueError("set `pipeline: NAME` or give the project its own `stages:` list")
        return self


class Project(Model):
    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["Project"] = "Project"
    metadata: Metadata
    spec: ProjectSpec


class ProjectPhase(StrEnum):
    WAITING = "Waiting"
    RUNNING = "Running"
    PAUSED = "Paused"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"


class PipelineSnapshot(Model):
    """The pipeline as it was when the project started; later Pipeline edits do not reach it."""

    name: str | None = None
    env: Env = Field(default_factory=dict)
    stages: list[StageSpec]


class StageRunRef(Model):
    name: str
    stage: str
    phase: str


class ProjectStatus(Model):
    """Written only by controllers, in `run/status/projects/<name>.yaml`."""

    project: DnsLabel
    phase: ProjectPhase = ProjectPhase.WAITING
    reason: str = ""
    current_stage: str | None = None
    pipeline: PipelineSnapshot | None = None
    stage_runs: list[StageRunRef] = Field(default_factory=list)
    observed_run_from: datetime | None = None
    observed_confirm: datetime | None = None
    updated: datetime | None = None
    version: int = 0
    """Raised by every write; the event log names the latest, so a reader can tell a stale copy."""
