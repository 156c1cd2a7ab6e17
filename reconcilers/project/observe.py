"""What the Project reconciler reads before it decides, and the rule it reads by.

A decision that must be right depends only on the event log and on files whose version the log
states, read by exact path and checked against that version (docs/design.md, section 5). So a
project's StageRuns come from the log's records, never from a listing of their folder, and its
status and spec files are used once the copy read here has the version the log names; one that
does not yet is waited for (NotVisibleYet), never taken for absent. Elections and leases are aged
on this node's monotonic clock, never by comparing wall clocks.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from winslow.controller.context import NodeContext
from winslow.controller.election import Election
from winslow.controller.logstate import LogState
from winslow.controller.reconciler import Key
from winslow.controller.records import RunRecord
from winslow.controller.subjects import lease_subject, lock_subject, subject_parts
from winslow.reconcilers.project.quotas import QuotaUse, covering, uses
from winslow.resources.amount import Amount
from winslow.resources.errors import InvalidFileError, ManifestError, NotFoundError
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import NotifyTarget, Project, ProjectStatus, QueueEntry
from winslow.resources.quota import Quota

log = logging.getLogger(__name__)

QUOTA_READ = 1.0  # seconds between listings of quotas/ and of the queue: what changed counts within it
STALE_WAIT = 30.0  # how long a file the log says is newer is waited for before using what is there


@dataclass(frozen=True)
class Observation:
    name: str
    project: Project | None
    pipeline: Pipeline | None
    status: ProjectStatus | None
    runs: list[RunRecord]
    now: float
    """Wall clock: only for the timestamps written into files."""
    mono: float
    """This node's monotonic clock: every age and deadline of a decision."""
    node: str
    executes: bool
    lock_mine: bool
    run_holders: dict[str, str | None]
    election_open: bool
    result: Election | None
    free: Amount
    free_gpus: list[int]
    global_env: dict[str, str]
    lease_seconds: float
    spec_error: str | None = None
    pipeline_problem: str | None = None
    killed: frozenset[str] = frozenset()
    next_number: int = 0
    new_uid: str = ""
    """A fresh uid for a StageRun this decision may create: drawn here, so that decide draws nothing."""
    remind_after: float = 12 * 3600.0
    """Seconds a gate waits before its `spec.notify` targets are reminded, and between reminders."""
    subscribed: tuple[NotifyTarget, ...] = ()
    """The targets its owner and members subscribed to all their projects with (read under the lock)."""
    status_version: int = 0
    """The status file's version the log names: a status written now is the next one."""
    stale_election: int | None = None
    """The number of an open election whose starter went silent: a new one supersedes it."""
    waiting: str | None = None
    """A file the log names is not visible here yet (NotVisibleYet): nothing is decided on it."""
    quotas: tuple[QuotaUse, ...] = ()
    """The quotas that cover the project, with what each holds now (from the log's records)."""
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Each user's groups: what a group's quota covers."""
    queue: tuple[tuple[str, QueueEntry], ...] = ()
    """The stages of other projects that wait for resources, in the order they start."""
    labels: dict[str, str] = field(default_factory=dict)
    """This node's labels: it creates a stage's run only if they match the stage's nodeSelector."""


def _subscribed(ctx: NodeContext, project: Project) -> tuple[NotifyTarget, ...]:
    try:
        subscriptions = ctx.layout.subscriptions()
    except InvalidFileError as exc:
        log.warning("settings/notify.yaml is not used: %s", exc)
        return ()
    users = [u for u in (project.spec.owner, *project.spec.members) if u and not u.startswith("group:")]
    return tuple(t for user in dict.fromkeys(users) for t in subscriptions.get(user, []))


class NotVisibleYet(Exception):
    """The log names a version of a file that this node's view of the share does not show yet."""


@dataclass
class ProjectContext:
    """What the Project reconciler works with: the node's services, and what it remembers
    between passes (on the loop thread only)."""

    node: NodeContext
    stale_since: dict[str, float] = field(default_factory=dict)
    """When each file was first seen older than the log says."""
    quota_cache: tuple[float, tuple[Quota, ...]] = (float("-inf"), ())
    """The quotas as last listed, and when (monotonic): listed at most every QUOTA_READ seconds."""

    queue_cache: tuple[float, tuple[tuple[str, QueueEntry], ...]] = (float("-inf"), ())

    def queue(self) -> tuple[tuple[str, QueueEntry], ...]:
        now = self.node.events.monotonic()
        if now - self.queue_cache[0] >= QUOTA_READ:
            self.queue_cache = (now, tuple(self.node.layout.store.queue()))
        return self.queue_cache[1]

    def quotas(self) -> tuple[Quota, ...]:
        now = self.node.events.monotonic()
        if now - self.quota_cache[0] >= QUOTA_READ:
            self.quota_cache = (now, tuple(self.node.layout.store.quotas()))
        return self.quota_cache[1]


@dataclass(frozen=True)
class Files:
    """The project's files, each read once the log says which version to expect."""

    project: Project | None
    pipeline: Pipeline | None
    status: ProjectStatus | None
    spec_error: str | None
    pipeline_problem: str | None


def observe(ctx: ProjectContext, key: Key) -> Observation:
    """One snapshot of the log, then the files it names; `waiting` says which file is not
    visible yet, in which case nothing else of the files is to be decided on."""
    node, name = ctx.node, key.name
    node.events.poll()
    state = node.events.view()
    subject = lock_subject(name)
    waiting = None
    try:
        files = _files(ctx, name, state)
    except NotVisibleYet as exc:
        waiting, files = str(exc), Files(None, None, None, None, None)
    project, status = files.project, files.status
    runs = state.runs.of(name, project.metadata.uid if project is not None else None)
    lock_mine = node.leases.held(subject, view=state)
    election = state.elections.open.get(subject)
    stale = election is not None and expired(node, election)
    groups, held = (
        _quotas(ctx, name, project, state) if project is not None and not files.spec_error else ({}, ())
    )
    return Observation(
        name=name,
        project=project,
        pipeline=files.pipeline,
        status=status,
        status_version=state.version(subject, "status"),
        runs=runs,
        now=node.clock(),
        mono=node.events.monotonic(),
        node=node.name,
        executes=node.config.executes,
        lock_mine=lock_mine,
        run_holders={
            r.name: node.leases.holder(lease_subject(r.name), state) for r in runs if r.phase.active
        },
        election_open=election is not None and not stale,
        stale_election=election.seq if election is not None and stale else None,
        result=state.elections.results.get(subject),
        free=node.free(),
        free_gpus=_free_gpus(node),
        labels=node.config.labels,
        global_env=node.layout.global_env(),
        lease_seconds=node.config.lease_seconds,
        spec_error=files.spec_error,
        pipeline_problem=files.pipeline_problem,
        killed=frozenset(subject_parts(s)[1] for s in state.kills),
        # a listing only ever raises the number: it skips names an older version left behind
        next_number=max(state.runs.last_number(name) + 1, node.layout.store.next_run_number(name))
        if lock_mine
        else 0,
        new_uid=secrets.token_hex(8) if lock_mine else "",
        remind_after=node.config.remind_after,
        subscribed=_subscribed(node, project)
        if lock_mine and project is not None and not files.spec_error
        else (),
        waiting=waiting,
        quotas=held,
        groups=groups,
        queue=tuple(q for q in ctx.queue() if q[0] != name) if project is not None else (),
    )


def _quotas(
    ctx: ProjectContext, name: str, project: Project, state: LogState
) -> tuple[Mapping[str, frozenset[str]], tuple[QuotaUse, ...]]:
    """The quotas that cover the project and what each holds; the users' groups if any does."""
    quotas = ctx.quotas()
    if not quotas:
        return {}, ()
    groups = ctx.node.layout.user_groups()
    mine = covering(quotas, name, project.spec.owner, groups)
    return (groups, uses(mine, state.runs.active(), groups)) if mine else ({}, ())


def _files(ctx: ProjectContext, name: str, state: LogState) -> Files:
    node, store, subject = ctx.node, ctx.node.layout.store, lock_subject(name)
    spec_error = None
    project: Project | None
    logged = state.version(subject, "spec")
    try:
        project = store.project(name)
    except NotFoundError:
        # Written through the API (the log says so) and not deleted through it: a share client
        # that once looked for this name may still say "no such file". Waited for, a while.
        project = None
        if logged > 0:
            _check_version(node, ctx.stale_since, name, "spec", 0, logged)
    except ManifestError as exc:
        project, spec_error = _placeholder(name), f"{exc}; fix the file, nothing runs until then"
    if project is not None and spec_error is None:
        _check_version(node, ctx.stale_since, name, "spec", project.metadata.generation or 0, logged)
    pipeline, pipeline_problem = None, None
    if project is not None and project.spec.pipeline:
        try:
            pipeline = store.pipeline(project.spec.pipeline)
        except NotFoundError:
            pipeline = None
        except ManifestError as exc:
            pipeline_problem = f"pipeline {project.spec.pipeline!r} is invalid ({exc})"
    # Read only once the log says it was written: asking for a name that does not exist yet
    # makes a network share's client answer "absent" for seconds after another node writes it.
    logged = state.version(subject, "status")
    try:
        status = store.project_status(name) if logged > 0 else None
    except ManifestError as exc:  # half a file, as a network share may show one being replaced
        raise NotVisibleYet(f"the status of project {name} does not read whole yet ({exc})") from None
    _check_version(node, ctx.stale_since, name, "status", status.version if status else 0, logged)
    return Files(project, pipeline, status, spec_error, pipeline_problem)


def _check_version(
    ctx: NodeContext, stale_since: dict[str, float], name: str, file: str, seen: int, logged: int
) -> None:
    """Raise NotVisibleYet while the file is older than the log says it is, for a while."""
    key = f"{name}#{file}"
    if seen >= logged:
        stale_since.pop(key, None)
        return
    first = stale_since.setdefault(key, ctx.events.monotonic())
    if ctx.events.monotonic() - first < STALE_WAIT:
        raise NotVisibleYet(f"{file} of project {name} is at version {seen}, the log says {logged}")
    if ctx.events.monotonic() - first < STALE_WAIT + 1:
        log.warning(
            "the %s file of project %s still shows version %d after %.0fs although version %d was "
            "written; using it as it is (is the share caching for that long?)",
            file,
            name,
            seen,
            STALE_WAIT,
            logged,
        )


def expired(ctx: NodeContext, election: Election) -> bool:
    """An election whose starter died expires; a new one then supersedes it."""
    return ctx.events.monotonic() > election.observed + election.duration + ctx.config.grace_seconds


def _free_gpus(ctx: NodeContext) -> list[int]:
    taken = ctx.reservations.taken_gpus()
    return [g.index for g in ctx.config.capacity.gpus if g.index not in taken]


def _placeholder(name: str) -> Project:
    return Project.model_validate(
        {"metadata": {"name": name}, "spec": {"stages": [{"name": "x", "image": "x"}]}}
    )
