"""What the API answers, as types: its OpenAPI document describes every JSON body it sends, and a
client (or tests/api/server/test_openapi.py) can check what it receives against it.

The routes build most answers as dicts (a resource's `to_wire` and what a view adds to it); FastAPI
validates them against these models and writes them again, so an answer that strays from its
model fails the request instead of reaching a client unnoticed. The keys are the ones clients have
always read (the web UI, winsctl): camelCase, by the aliases. Those routes are served with
`response_model_exclude_unset=True`, not `..._exclude_none`, because an answer leaves some keys
out (what a resource does not set, `warnings` when there are none) while it sends others as null
(a deletion that found nothing left to delete): a key is in the JSON exactly when the route put
it there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from winslow.controller.utilisation import Weight
from winslow.resources.node import Node, NodeStatus
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project, ProjectStatus
from winslow.resources.quota import Quota
from winslow.resources.stagerun import StageRun

Moment = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An ISO 8601 date-time as the route wrote it (`datetime.isoformat()`): kept as text, so that
validating the answer does not rewrite `+00:00` as `Z`."""


class Answer(BaseModel):
    """camelCase on the wire like the resources (resources.base.Model); a key that no model names
    fails the request, so the document cannot fall behind what the routes send."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Problem(Answer):
    field: str = Field(description="the field path, as a manifest or the request writes it")
    message: str
    line: int | None = Field(default=None, description="the line of the file on the share, if one is meant")


class ErrorAnswer(BaseModel):
    """Every error (api.errors): a message a user can act on, and per-field problems when the
    input was at fault. Some carry more for a client to act on (an upload's `offset`)."""

    model_config = ConfigDict(extra="allow")

    detail: str
    problems: list[Problem] = Field(
        default_factory=list, description="left out when no one field is at fault"
    )


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorAnswer, "description": description}
    for status, description in (
        (401, "no valid token or session"),
        (403, "the caller may not do this"),
        (404, "not found, or a project the caller may not see"),
        (409, "it conflicts with the state on the share (busy, running, exists)"),
        (422, "the request is not valid (`problems`, when given, names each field)"),
        (503, "the share cannot be read or written right now; retry after `Retry-After`"),
        (507, "the share is full; free space, then retry"),
    )
}
"""The error answers every router documents; FastAPI's own 422 body would be wrong here."""


# Lists, pipelines and projects

T = TypeVar("T")


class ListOf(Answer, Generic[T]):
    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["List"] = "List"
    items: list[T]
    warnings: list[str] = Field(
        default_factory=list,
        description="what a reader should know about the list (files that do not parse, clocks that "
        "differ); left out when nothing",
    )


class ProjectStatusView(ProjectStatus):
    pipeline_changes: list[str] = Field(
        default_factory=list,
        description="how the pipeline as it is now differs from the snapshot the project runs (what a "
        "resume would take); left out when it does not",
    )
    notify_failures: list[str] = Field(
        default_factory=list, description="the last notifications that failed; left out when none did"
    )


class StatusNote(Answer):
    """The status of a project no node has seen yet (Waiting), or whose status file cannot be read."""

    phase: Literal["Waiting", "Unknown"]
    reason: str


class ProjectView(Project):
    status: ProjectStatusView | StatusNote


class Resumed(ProjectView):
    pipeline_changes: list[str] = Field(description="what the resume took from the pipeline as it is now")


class NameOnly(Answer):
    name: str


class UnusableStatus(Answer):
    phase: Literal["Invalid"]
    reason: str = Field(description="file, line and field; never the file's values")


class Unusable(Answer):
    """A spec on the share that does not parse or validate, as a list shows it."""

    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["Pipeline", "Project"]
    metadata: NameOnly
    status: UnusableStatus


class PipelineList(ListOf[Pipeline | Unusable]):
    pass


class ProjectList(ListOf[ProjectView | Unusable]):
    pass


class QuotaList(ListOf[Quota | Unusable]):
    pass


class ApplyResult(Answer):
    kind: str
    name: str
    result: Literal["created", "updated", "unchanged"]
    diff: str
    kept: list[str] = Field(description="action fields the manifest left out, kept from the current spec")
    removed: list[str] = Field(description="fields of the current spec the manifest left out, removed")


class Applied(Answer):
    dry_run: bool
    results: list[ApplyResult]
    warnings: list[str] = Field(
        default_factory=list, description="images no live node has yet; left out when none"
    )


class SpecDeleted(Answer):
    deleted: str | None = Field(description="null when only what a deleted project left was purged")
    warnings: list[str]
    purged: list[str] = Field(
        default_factory=list, description="projects, purge=true: the folders removed from the share"
    )
    left: list[str] = Field(
        default_factory=list, description="projects, purge=false: what stays on the share, and its size"
    )


class Killed(Answer):
    killed: list[str] = Field(description="the StageRuns told to stop")
    detail: str | None = Field(default=None, description="why none was; left out otherwise")


# StageRuns


class RunNameOnly(Answer):
    name: str | None


class ProjectOnly(Answer):
    project: str


class UnusableRunStatus(Answer):
    phase: Literal["Invalid"]
    message: str = Field(description="file, line and field; never the file's values")


class UnusableRun(Answer):
    """A StageRun file that does not parse or validate, as a list shows it."""

    api_version: Literal["winslow/v1"] = "winslow/v1"
    kind: Literal["StageRun"] = "StageRun"
    metadata: RunNameOnly
    spec: ProjectOnly
    status: UnusableRunStatus


class RunList(ListOf[StageRun | UnusableRun]):
    pass


# Nodes


class NodeStatusView(NodeStatus):
    running_hidden: int = Field(description="runs of projects the caller may not see")
    clock_offset_seconds: float | None = Field(
        default=None, description="its clock minus this node's; left out when not known"
    )
    ready: bool
    not_ready_since: Moment | None = Field(default=None, description="left out while it is ready")
    condition: str | None = Field(default=None, description="why it is not ready; left out while it is")


class NodeView(Node):
    status: NodeStatusView


class NodeList(ListOf[NodeView]):
    pass


class Deleted(Answer):
    deleted: str


# Reports


class ReportRow(Answer):
    key: str
    label: str
    hours: float
    share: float = Field(description="of all hours, 0..1")
    gain: float | None = Field(
        description="automatic starts: how much more ran than would have without them; null for the other "
        "rows, and when nothing else ran"
    )


class Heatmap(Answer):
    """Weekday x hour (Monday first, 0-23 local hours)."""

    days: list[str]
    running: list[list[float]] = Field(description="hours (weighted) running in each hour")
    running_auto: list[list[float]]
    started: list[list[float]] = Field(description="runs started in each hour")
    started_auto: list[list[float]]
    working: list[list[bool]] = Field(description="whether the hour is within working hours")


class UtilisationReport(Answer):
    from_: Moment | None = Field(alias="from", description="null: since the first run")
    to: Moment
    work_hours: str
    work_days: list[str]
    tz: str
    weight: Weight
    unit: Literal["stage-hours", "GPU-hours", "CPU-hours"]
    runs: int
    rows: list[ReportRow]
    heatmap: Heatmap


# Users


class UserView(Answer):
    name: str
    admin: bool
    groups: list[str]


class UserList(Answer):
    items: list[UserView]


class SignedOut(Answer):
    signed_out: Literal["true"]


class Health(Answer):
    status: Literal["ok"]
    node: str


class WhoAmI(UserView):
    authenticated_by: Literal["token", "session"]


# Files


class Entry(Answer):
    name: str
    type: Literal["directory", "file", "upload"] = Field(
        description="`upload`: what an unfinished upload of that name left"
    )
    size: int
    mtime: Moment


class Directory(Answer):
    path: str
    entries: list[Entry]


class Folder(Answer):
    path: str
    type: Literal["directory"]


class Uploaded(Answer):
    path: str
    complete: bool
    offset: int | None = Field(default=None, description="202: where the upload continues")
    size: int | None = Field(default=None, description="201: the file's size")
    sha256: str | None = Field(default=None, description="201: the file's digest, when it was computed")


# Trigger tokens


class TokenView(Answer):
    """A token as it may be shown: never its secret, nor its hash."""

    id: str
    name: str
    created: datetime
    created_by: str
    last_used: datetime | None = None


class TokenCreated(TokenView):
    token: str = Field(description="the secret: shown this once, stored only as its sha256")


class TokenList(Answer):
    project: str
    tokens: list[TokenView]


class Revoked(Answer):
    project: str
    revoked: str


class Triggered(Answer):
    project: str
    token: str = Field(description="the id of the token that triggered")
    from_stage: str | None = Field(default=None, serialization_alias="from")
    env: list[str] = Field(description="the names of the env variables set")
    requested: bool = Field(description="whether a run was requested (spec.runFrom)")
    message: str


# Disk use


class ProjectDisk(Answer):
    """A project's disk use on the share (controller/diskuse.py): bytes on disk, as `du -s -B1`
    counts them, from a walk cached for a minute."""

    project: str
    workspaces: int = Field(description="how many StageRun workspace folders it has")
    workspace_bytes: int = Field(description="`workspaces/PROJECT/stages/`")
    log_bytes: int = Field(description="`logs/PROJECT/`")
    input_bytes: int = Field(description="`workspaces/PROJECT/input/`")
    output_bytes: int = Field(description="`workspaces/PROJECT/output/`")
    other_bytes: int = Field(description="the rest of `workspaces/PROJECT/`")
    total_bytes: int
    partial: bool = Field(
        description="the walk met its cap of entries or time (or this is an older walk): at least this much"
    )
    measured_at: datetime = Field(description="when the walk was made")


class ProjectDiskList(Answer):
    items: list[ProjectDisk] = Field(description="largest first")


class Queued(Answer):
    position: int = Field(description="1 starts first")
    project: str | None = Field(description="none for a project you may not see")
    stage: str | None
    matrix: dict[str, str] = Field(default_factory=dict)
    priority: int
    owner: str | None
    request: dict[str, float] = Field(description="cpu, memory (bytes) and gpu")
    since: Moment
    waiting_seconds: float
    why: str = Field(
        description="no-fit: no node has room; quota: its quota has none; behind: a "
        "stage of another project ranks higher"
    )
    detail: str = Field(description="the quota, the shortage or the stage it waits behind")


class QueueList(ListOf[Queued]):
    pass
