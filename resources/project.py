"""Project: one work item (usually one video) moving through a pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from winslow.resources.base import DnsLabel, Env, Metadata, Model
from winslow.resources.pipeline import Pipeline, Retention, StageList, StageSpec, valid_matrix


class StageRequest(Model):
    """A level-triggered request: the controller acts once for each new `requestedAt`.

    This is how `kubectl rollout restart` works, and why hand-editing the manifest works as
    well as `winsctl`: the controller compares the request with the last one it acted on.
    """

    stage: DnsLabel | None = Field(
        default=None, description="the stage to run from; default: the stage where the project stands"
    )
    requested_at: datetime = Field(
        description="when it was asked for; a newer time than the last one acted on asks again",
        examples=["2024-05-01T12:00:00Z"],
    )
    by: str | None = Field(
        default=None, description="the user who asked, or `token:ID` for a trigger token (set by the API)"
    )
    keep_snapshot: bool = Field(
        default=False,
        description="resume only: rerun the pipeline as the project first took it, not as it is now",
    )
    matrix: dict[str, list[str]] | None = Field(
        default=None,
        description="resume with `stage` only: sweep that stage over these values (one run per "
        "combination) instead of its own `matrix`",
        examples=[{"LR": ["0.1", "0.2"]}],
    )

    _valid_matrix = field_validator("matrix")(lambda sweep: valid_matrix(sweep))

    @property
    def by_token(self) -> bool:
        """A trigger token's request: it starts stages, but never passes a gate that waits for a
        person (a hand edit, with no `by`, is a person's)."""
        return (self.by or "").startswith(TOKEN_BY)


TOKEN_BY = "token:"


class NotifyEvent(StrEnum):
    WAITING = "waiting"
    FAILED = "failed"
    LOST = "lost"
    SUCCEEDED = "succeeded"


DEFAULT_NOTIFY_ON = [NotifyEvent.WAITING, NotifyEvent.FAILED, NotifyEvent.LOST]


class NotifyTarget(Model):
    """Where to tell, and about what: a webhook (Slack, Mattermost, Matrix hookshot, ntfy take its
    JSON as is) or a mail address (sent through the node's `--smtp` server)."""

    webhook: str | None = Field(
        default=None,
        description="a URL that gets a JSON POST: `text` plus project, stage, phase, reason, event, "
        "node, url",
        examples=["https://chat.example.org/hooks/3f9c2a1b"],
    )
    email: str | None = Field(
        default=None,
        description="a mail address, sent through the node's `--smtp` server",
        examples=["lab@example.org"],
    )
    on: list[NotifyEvent] = Field(
        default_factory=lambda: list(DEFAULT_NOTIFY_ON),
        description="what to tell about: waiting (a gate waits for confirmation), failed, lost "
        "(a node died under a stage), succeeded",
        examples=[["waiting", "failed", "lost", "succeeded"]],
    )

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, data: Any) -> Any:
        """YAML 1.1 (PyYAML) reads an unquoted `on:` key as true, as GitHub Actions users know."""
        if isinstance(data, dict) and True in data and "on" not in data:
            return {("on" if key is True else key): value for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _one_channel(self) -> NotifyTarget:
        if (self.webhook is None) == (self.email is None):
            raise ValueError(
                "give exactly one of `webhook: URL` or `email: ADDRESS` per entry; "
                "list a second entry for a second channel"
            )
        if self.webhook is not None and not self.webhook.startswith(("http://", "https://")):
            raise ValueError(f"webhook: {self.webhook!r} is not a URL; use http://... or https://...")
        if self.email is not None and ("@" not in self.email or any(c in self.email for c in " \r\n,;<>")):
            raise ValueError(f"email: {self.email!r} is not one mail address; use name@example.org")
        return self


class ProjectSpec(Model):
    pipeline: DnsLabel | None = Field(
        default=None,
        description="the Pipeline to run; it is snapshotted when the project starts, so later edits of "
        "the pipeline reach the project only when it is resumed",
        examples=["traffic"],
    )
    stages: StageList | None = Field(
        default=None,
        description="the project's own stage list; used instead of the stages of `pipeline` (whose "
        "env still applies)",
    )
    env: Env = Field(
        default_factory=dict,
        description="environment variables for every stage of this project; they override the pipeline's "
        "and the stages' own",
        examples=[{"VIDEO": "/input/ulm.mp4"}],
    )
    paused: bool = Field(
        default=False,
        description="true: let the running stage finish, then start nothing more (`winsctl pause`); "
        "false resumes",
    )
    priority: int = Field(
        default=0,
        ge=-1000,
        le=1000,
        description="when stages wait for the same kind of node (with GPUs, or without), the higher "
        "priority starts first, then the one that waited longer; above the limit in "
        "settings/scheduling.yaml (`userPriorityLimit`, default 0) only an admin may set it",
        examples=[10],
    )
    tags: list[str] = Field(
        default_factory=list,
        description="words to find the project by (`winsctl get projects --tag`)",
        examples=[["ulm", "drone"]],
    )
    owner: str | None = Field(
        default=None,
        description="the user the project belongs to; default: who created it (only an admin names another)",
    )
    members: list[str] = Field(
        default_factory=list,
        description="users (or `group:NAME`) who may see and control the project besides its owner",
        examples=[["alice", "group:lab"]],
    )
    run_from: StageRequest | None = Field(
        default=None, description="set by `winsctl resume [--from STAGE]`: run again from a stage"
    )
    confirm: StageRequest | None = Field(
        default=None,
        description="set by `winsctl confirm`: let the stage waiting at a `confirm: true` gate start",
    )
    notify: list[NotifyTarget] = Field(
        default_factory=list,
        description="where to tell when a gate waits, a stage fails or is lost, or the project succeeds; "
        "each event goes out once for the whole cluster",
        examples=[[{"webhook": "https://chat.example.org/hooks/3f9c2a1b"}, {"email": "lab@example.org"}]],
    )
    retention: Retention | None = Field(
        default=None,
        description="which workspaces of this project's ended runs stay on the share; replaces the "
        "pipeline's `retention` as a whole (read as it is now, not from the snapshot); default: the "
        "pipeline's, and without one, all of them",
        examples=[{"keepSucceeded": 2, "keepFailed": False, "keepLatest": True}],
    )

    @model_validator(mode="after")
    def _has_stages(self) -> ProjectSpec:
        if self.pipeline is None and self.stages is None:
            raise ValueError("set `pipeline: NAME` or give the project its own `stages:` list")
        return self


class Project(Model):
    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["Project"] = "Project"
    metadata: Metadata = Field(description="the project's name, labels and annotations")
    spec: ProjectSpec = Field(description="what the project runs, with which environment, for whom")


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

    @classmethod
    def of(cls, pipeline: Pipeline) -> PipelineSnapshot:
        return cls(name=pipeline.metadata.name, env=pipeline.spec.env, stages=pipeline.spec.stages)

    def changes(self, now: PipelineSnapshot) -> list[str]:
        """What differs in `now`, in words a user checks a fix against ("stage 'analyse': command")."""
        found = [f"env: {', '.join(sorted(_differing(self.env, now.env)))}"] if self.env != now.env else []
        before = {s.name: s.to_wire() for s in self.stages}
        after = {s.name: s.to_wire() for s in now.stages}
        for name, stage in after.items():
            if name not in before:
                found.append(f"stage {name!r} added")
            elif stage != before[name]:
                found.append(f"stage {name!r}: {', '.join(sorted(_differing(before[name], stage)))}")
        found += [f"stage {name!r} removed" for name in before if name not in after]
        if not found and list(before) != list(after):
            found.append(f"stage order: {', '.join(after)}")
        return found


class StageRunRef(Model):
    name: str
    stage: str
    phase: str


class QueueReason(StrEnum):
    NO_FIT = "no-fit"  # no live node has room for it now
    QUOTA = "quota"  # a quota that covers it has no room
    BEHIND = "behind"  # another project's stage that ranks higher waits for the same kind of node


class QueueEntry(Model):
    """A stage that waits for resources: what `winsctl get queue` lists, and what the stages of
    other projects defer to when it ranks higher (priority, then the longer wait)."""

    stage: str
    matrix: dict[str, str] = Field(default_factory=dict)
    request: dict[str, float] = Field(default_factory=dict, description="cpu, memory (bytes) and gpu")
    priority: int = 0
    owner: str | None = None
    since: datetime
    why: QueueReason
    detail: str = ""

    @property
    def gpu(self) -> bool:
        return self.request.get("gpu", 0) > 0

    def rank(self, project: str) -> tuple[int, datetime, str]:
        """Lower goes first."""
        return (-self.priority, self.since, project)


class ProjectStatus(Model):
    """Written only by controllers, in `run/status/projects/<name>.yaml`."""

    project: DnsLabel
    uid: str | None = None
    """The uid of the project it describes: one of another project of the same name is no history."""
    phase: ProjectPhase = ProjectPhase.WAITING
    reason: str = ""
    current_stage: str | None = None
    pipeline: PipelineSnapshot | None = None
    stage_runs: list[StageRunRef] = Field(default_factory=list)
    observed_run_from: datetime | None = None
    observed_confirm: datetime | None = None
    waiting_since: datetime | None = None
    """When the gate the project waits at began to wait for confirmation (None: no gate waits)."""
    reminders: int = 0
    """Reminders sent for that gate so far (`winslow node --remind-after`)."""
    queue: QueueEntry | None = None
    """Its next stage waits for resources (None: it does not)."""
    updated: datetime | None = None
    version: int = 0
    """Raised by every write; the event log names the latest, so a reader can tell a stale copy."""


def _differing(a: Mapping[str, object], b: Mapping[str, object]) -> set[str]:
    return {key for key in a.keys() | b.keys() if a.get(key) != b.get(key)}
