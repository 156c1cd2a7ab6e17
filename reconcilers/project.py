"""The Project reconciler: elect a node for the next stage, create its StageRun, keep the status.

`decide` is pure. Anything that changes the share is decided twice: once without the project
lock, which can only ask for the lock (or start an election), and again on a fresh observation
taken under the lock, which is the decision that is applied.

The rule for a decision that must be right (docs/design.md, "The network share"): it depends
only on the event log and on files whose version the log states, read by exact path and checked
against that version. A project's StageRuns therefore come from the log (RECORD events), never
from a listing of their folder; the project's status and spec files are used only once their
version has caught up with the one the log names (a version not yet visible is waited for).
Elections and leases are aged on this node's monotonic clock, never by comparing wall clocks.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import yaml

from winslow.controller.context import NodeContext
from winslow.controller.election import Election
from winslow.controller.eventlog import Rejected
from winslow.controller.events import Command
from winslow.controller.records import RunRecord
from winslow.controller.stagelogs import append_system_line
from winslow.reconcilers import runfiles, stagerun
from winslow.reconcilers.plan import NextRun, Plan, plan, refs
from winslow.reconcilers.subjects import lease_subject, lock_subject
from winslow.resources.amount import Amount
from winslow.resources.errors import ManifestError, NotFoundError
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import PipelineSnapshot, Project, ProjectPhase, ProjectStatus
from winslow.resources.stagerun import (
    RunMetadata,
    StageRun,
    StageRunPhase,
    StageRunSpec,
    StageRunStatus,
    WorkspaceSource,
    stagerun_name,
)

log = logging.getLogger(__name__)

NO_FIT_RETRY = 5.0
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


@dataclass(frozen=True)
class AcquireLock:
    pass


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


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def request_of(next_run: NextRun) -> Amount:
    return next_run.stage.resources.amount


def merged_env(
    obs: Observation, snap: PipelineSnapshot, next_run: NextRun, name: str, gpus: list[int]
) -> dict[str, str]:
    """Lowest first: settings/env.yaml, pipeline env, stage env, project env; then Winslow's own."""
    assert obs.project is not None
    res = next_run.stage.resources
    return {
        **obs.global_env,
        **snap.env,
        **next_run.stage.env,
        **obs.project.spec.env,
        "WINSLOW_PROJECT": obs.name,
        "WINSLOW_STAGE": next_run.stage.name,
        "WINSLOW_STAGE_RUN": name,
        "WINSLOW_NODE": obs.node,
        "WINSLOW_CPUS": f"{res.cpu:g}",
        "WINSLOW_MEMORY": str(res.memory_bytes),
        "WINSLOW_GPUS": ",".join(str(g) for g in gpus),
    }


def build_run(obs: Observation, snap: PipelineSnapshot, next_run: NextRun) -> CreateRun:
    """The GPUs are chosen here, once: the run's record carries them to the reservation, to the
    container and, after a restart, back to the reservation."""
    number = max(obs.next_number, (obs.runs[-1].number + 1) if obs.runs else 1)
    name = stagerun_name(obs.name, number, next_run.stage.name)
    gpus = obs.free_gpus[: next_run.stage.resources.gpu]
    stage = next_run.stage
    created = _ts(obs.now)
    record = RunRecord(
        name=name,
        project=obs.name,
        number=number,
        stage=stage.name,
        index=next_run.index,
        node=obs.node,
        created=created,
        attempt=next_run.attempt,
        trigger=next_run.trigger,
        run_from=next_run.run_from,
        confirmed=next_run.confirm,
        copy_of=next_run.source,
        gpus=tuple(gpus),
        request=request_of(next_run),
    )
    run = StageRun(
        metadata=RunMetadata(name=name, uid=secrets.token_hex(8), creation_timestamp=created),
        spec=StageRunSpec(
            project=obs.name,
            stage=stage.name,
            index=next_run.index,
            image=stage.image,
            command=stage.command,
            args=stage.args,
            env=merged_env(obs, snap, next_run, name, gpus),
            resources=stage.resources,
            workspace=WorkspaceSource(mode=stage.workspace.mode, copy_of=next_run.source),
            attempt=next_run.attempt,
            timeout_seconds=stage.timeout_seconds,
            run_from=next_run.run_from,
            confirmed=next_run.confirm,
        ),
        status=StageRunStatus(
            phase=StageRunPhase.PENDING, node=obs.node, trigger=next_run.trigger, gpus=gpus
        ),
    )
    return CreateRun(run, record)


def _lost(obs: Observation) -> list[RunRecord]:
    return [
        replace(
            run,
            phase=StageRunPhase.LOST,
            finish_time=_ts(obs.now),
            message=f"node {run.node} stopped renewing its lease",
        )
        for run in obs.runs
        if run.phase.active and obs.run_holders.get(run.name) is None
    ]


def _fresh_result(obs: Observation, runs: list[RunRecord]) -> Election | None:
    """The last election counts only if it started after the project's last recorded change:
    positions in the log order them, whatever the nodes' clocks say."""
    result = obs.result
    if result is None:
        return None
    if runs and result.seq < max(r.seq for r in runs):
        return None
    return result


def _same(a: ProjectStatus | None, b: ProjectStatus) -> bool:
    return a is not None and a.model_dump(exclude={"updated", "version"}) == b.model_dump(
        exclude={"updated", "version"}
    )


def decide(obs: Observation) -> list[Action]:
    if obs.project is None:
        lost = _lost(obs)
        if lost:
            return [MarkLost(r) for r in lost] if obs.lock_mine else [AcquireLock()]
        active = [r.name for r in obs.runs if r.phase.active]
        kills: list[Action] = [Kill(name) for name in active if name not in obs.killed]
        return [*kills, Requeue(obs.lease_seconds)] if active else []
    old = obs.status
    if obs.spec_error:
        status = ProjectStatus(
            project=obs.name,
            phase=ProjectPhase.FAILED,
            reason=obs.spec_error,
            pipeline=old.pipeline if old else None,
            stage_runs=old.stage_runs if old else [],
        )
        return _write_or_lock(obs, old, status, [], None)

    lost = _lost(obs)
    lost_names = {r.name: r for r in lost}
    runs = [lost_names.get(r.name, r) for r in obs.runs]
    # The requests a run consumed are recorded on the run itself (authoritative), so a node that
    # died between writing the run and the status never replays a resume or a confirmation.
    observed_run_from = _latest(old.observed_run_from if old else None, *(r.run_from for r in runs))
    observed_confirm = _latest(old.observed_confirm if old else None, *(r.confirmed for r in runs))
    p: Plan = plan(
        obs.project,
        obs.pipeline,
        old.pipeline if old else None,
        runs,
        observed_run_from,
        observed_confirm,
        obs.pipeline_problem,
    )
    status = ProjectStatus(
        project=obs.name,
        phase=p.phase,
        reason=p.reason,
        current_stage=p.current_stage,
        pipeline=p.snapshot if runs else None,
        stage_runs=refs(runs),
        observed_run_from=observed_run_from,
        observed_confirm=observed_confirm,
    )
    create: CreateRun | None = None
    start: Amount | None = None
    # A stage running elsewhere is looked at again well within its lease: if its node dies,
    # the run is marked Lost about when the lease lapses, not at the next resync.
    wait: float | None = obs.lease_seconds / 3 if any(r.node != obs.node for r in p.active) else None
    nxt = p.next
    if nxt is not None and p.snapshot is not None:
        request = request_of(nxt)
        result = _fresh_result(obs, runs)
        since_stop = obs.mono - result.stop_observed if result is not None else 0.0
        if obs.mono < nxt.not_before:
            wait = nxt.not_before - obs.mono
        elif obs.election_open:
            wait = 0.2
            if (
                old is not None
                and old.phase is ProjectPhase.WAITING
                and old.reason.startswith("no node fits")
            ):
                status = status.model_copy(update={"phase": old.phase, "reason": old.reason})
        elif result is not None and result.winner is None and since_stop < NO_FIT_RETRY:
            status = status.model_copy(
                update={
                    "phase": ProjectPhase.WAITING,
                    "reason": f"no node fits stage {nxt.stage.name!r} now ({result.shortage()}); "
                    "it starts when one does",
                }
            )
            wait = NO_FIT_RETRY - since_stop
        elif result is not None and result.winner == obs.node and obs.executes and request.fits_in(obs.free):
            create = build_run(obs, p.snapshot, nxt)
            status = status.model_copy(
                update={
                    "phase": ProjectPhase.RUNNING,
                    "reason": f"stage {nxt.stage.name!r} is starting on {obs.node}",
                    "pipeline": p.snapshot,
                    "stage_runs": refs([*runs, create.record]),
                    "observed_run_from": nxt.run_from or status.observed_run_from,
                    "observed_confirm": nxt.confirm or status.observed_confirm,
                }
            )
        elif result is not None and result.winner not in (None, obs.node) and since_stop < obs.lease_seconds:
            wait = 0.5
        else:
            start = request
    return _write_or_lock(obs, old, status, lost, create, start, wait)


def _latest(*times: datetime | None) -> datetime | None:
    return max((t for t in times if t is not None), default=None)


def _status_is_mine(obs: Observation) -> bool:
    """Status-only updates fall to the node that ran the latest stage, so that every node does
    not race for the lock to write the same thing; anyone takes over once it looks abandoned."""
    if not obs.runs or obs.runs[-1].node == obs.node:
        return True
    updated = obs.status.updated if obs.status else None
    return updated is None or obs.now - updated.timestamp() > obs.lease_seconds


def _write_or_lock(
    obs: Observation,
    old: ProjectStatus | None,
    status: ProjectStatus,
    lost: list[RunRecord],
    create: CreateRun | None,
    start: Amount | None = None,
    wait: float | None = None,
) -> list[Action]:
    changed = not _same(old, status)
    if not obs.lock_mine:
        if lost or create:
            return [AcquireLock()]
        if start is not None:
            return [StartElection(start)]
        if changed and _status_is_mine(obs):
            return [AcquireLock()]
        if changed:
            return [Requeue(obs.lease_seconds)]
        return [Requeue(wait)] if wait is not None else []
    actions: list[Action] = [MarkLost(r) for r in lost]
    if create:
        actions.append(create)
    if changed:
        actions.append(WriteStatus(status))
    return actions


# -- observing ---------------------------------------------------------------------------------


class NotVisibleYet(Exception):
    """The log names a version of a file that this node's view of the share does not show yet."""


def observe(ctx: NodeContext, name: str) -> Observation:
    store = ctx.layout.store
    ctx.events.poll()
    state = ctx.events.state
    subject = lock_subject(name)
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
            _check_version(ctx, name, "spec", 0, logged)
    except ManifestError as exc:
        project, spec_error = _placeholder(name), f"{exc}; fix the file, nothing runs until then"
    if project is not None and spec_error is None:
        _check_version(ctx, name, "spec", project.metadata.generation or 0, logged)
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
    except (ValueError, yaml.YAMLError) as exc:  # half a file, as a network share may show one being replaced
        raise NotVisibleYet(f"the status of project {name} does not read whole yet ({exc})") from None
    _check_version(ctx, name, "status", status.version if status else 0, logged)
    runs = state.runs.of(name)
    mono = ctx.events.monotonic()
    lock_mine = ctx.locks.held(subject)
    election = state.elections.open.get(subject)
    return Observation(
        name=name,
        project=project,
        pipeline=pipeline,
        status=status,
        runs=runs,
        now=ctx.clock(),
        mono=mono,
        node=ctx.name,
        executes=ctx.config.executes,
        lock_mine=lock_mine,
        run_holders={r.name: ctx.locks.holder(lease_subject(r.name)) for r in runs if r.phase.active},
        election_open=election is not None and not _expired(ctx, election),
        result=state.elections.results.get(subject),
        free=ctx.free(),
        free_gpus=_free_gpus(ctx),
        global_env=ctx.layout.global_env(),
        lease_seconds=ctx.config.lease_seconds,
        spec_error=spec_error,
        pipeline_problem=pipeline_problem,
        killed=frozenset(s.removeprefix("stagerun/") for s in list(state.kills)),
        # a listing only ever raises the number: it skips names an older version left behind
        next_number=max(state.runs.last_number(name) + 1, store.next_run_number(name)) if lock_mine else 0,
    )


def _check_version(ctx: NodeContext, name: str, file: str, seen: int, logged: int) -> None:
    """Raise NotVisibleYet while the file is older than the log says it is, for a while."""
    key = f"{name}#{file}"
    if seen >= logged:
        ctx.stale_since.pop(key, None)
        return
    first = ctx.stale_since.setdefault(key, ctx.events.monotonic())
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


def _expired(ctx: NodeContext, election: Election) -> bool:
    """An election whose starter died expires; a new one then supersedes it."""
    return ctx.events.monotonic() > election.observed + election.duration + ctx.config.grace_seconds


def _free_gpus(ctx: NodeContext) -> list[int]:
    taken = ctx.reservations.taken_gpus()
    return [g.index for g in ctx.config.capacity.gpus if g.index not in taken]


def _placeholder(name: str) -> Project:
    return Project.model_validate(
        {"metadata": {"name": name}, "spec": {"stages": [{"name": "x", "image": "x"}]}}
    )


QUIET = (ProjectPhase.SUCCEEDED, ProjectPhase.PAUSED, ProjectPhase.FAILED)


def _stamps(ctx: NodeContext, name: str) -> tuple[object, ...]:
    """What a finished project's next move could come from that the log does not announce: a
    hand edit of its spec. Only saves work: the log wakes the project for everything else."""
    try:
        st = ctx.layout.store.spec_path("Project", name).stat()
        return (st.st_mtime_ns, st.st_size, st.st_ino, ctx.events.state.version(lock_subject(name), "spec"))
    except FileNotFoundError:
        return (None,)


# -- applying ----------------------------------------------------------------------------------


def reconcile(ctx: NodeContext, name: str) -> float | None:
    """Level-triggered, but a finished project whose spec has not changed is not re-read on
    every resync: a share with thousands of finished projects must idle cheaply."""
    stamps = _stamps(ctx, name)
    if ctx.quiet.get(name) == stamps:
        return None
    try:
        obs = observe(ctx, name)
    except NotVisibleYet as exc:
        log.debug("waiting: %s", exc)
        return 0.2
    actions = decide(obs)
    if not actions and obs.status is not None and obs.status.phase in QUIET:
        ctx.quiet[name] = stamps
    else:
        ctx.quiet.pop(name, None)
    for action in actions:
        if isinstance(action, AcquireLock):
            return _under_lock(ctx, name)
        if isinstance(action, StartElection):
            _start_election(ctx, name, action.request)
            return 0.2
        if isinstance(action, Requeue):
            return action.after
        if isinstance(action, Kill):
            ctx.events.publish(
                Command.KILL, lease_subject(action.run), message=f"{ctx.name}: its project was deleted"
            )
    return None


def _start_election(ctx: NodeContext, name: str, request: Amount) -> None:
    subject = lock_subject(name)
    current = ctx.events.state.elections.open.get(subject)
    supersedes = current.seq if current is not None and _expired(ctx, current) else None
    with suppress(Rejected):
        ctx.events.publish(
            Command.ELECTION_START,
            subject,
            duration=ctx.config.election_seconds,
            request=request,
            supersedes=supersedes,
        )
        log.info(
            "started an election for project %s (cpu %g, memory %d, gpu %d)%s",
            name,
            request.cpu,
            request.memory,
            request.gpu,
            " replacing one whose starter went silent" if supersedes is not None else "",
        )


def _under_lock(ctx: NodeContext, name: str) -> float | None:
    subject = lock_subject(name)
    if not ctx.locks.acquire(subject):
        return 0.1 + secrets.randbelow(200) / 1000
    try:
        try:
            obs = observe(ctx, name)
        except NotVisibleYet as exc:
            log.debug("waiting under the lock: %s", exc)
            return 0.2
        for action in decide(obs):
            if not apply(ctx, action):
                break  # the run was not created: its status (and the request it consumes) must not be written
    finally:
        ctx.locks.release(subject)
    return 0.0


def apply(ctx: NodeContext, action: Action) -> bool:
    """False when a StageRun could not be created after all."""
    if isinstance(action, WriteStatus):
        _write_status(ctx, action.status)
    elif isinstance(action, MarkLost):
        run = action.run
        runfiles.record(ctx, run)
        runfiles.project(ctx, run)
        append_system_line(
            ctx.layout.log_file(run.project, run.name), f"marked Lost by {ctx.name}: {run.message}"
        )
        log.warning("marked %s Lost: %s", run.name, run.message)
    elif isinstance(action, CreateRun):
        return _create(ctx, action)
    return True


def _write_status(ctx: NodeContext, status: ProjectStatus) -> None:
    """The file first, then its version on the log: a reader never waits for a version that was
    not written; a crash in between leaves a newer file than the log says, which is fine."""
    store = ctx.layout.store
    subject = lock_subject(status.project)
    version = ctx.events.state.version(subject, "status") + 1
    store.write_project_status(status.model_copy(update={"updated": _ts(ctx.clock()), "version": version}))
    ctx.events.publish(Command.VERSION, subject, payload={"file": "status", "version": version})


def _create(ctx: NodeContext, action: CreateRun) -> bool:
    run, record = action.run, action.record
    name = run.metadata.name
    if not ctx.locks.held(lock_subject(record.project)):
        log.warning("the project lock expired before StageRun %s was created; deciding again", name)
        return False
    if not ctx.locks.acquire(lease_subject(name)):
        log.warning("could not take the lease of new StageRun %s", name)
        return False
    if not ctx.layout.store.create_stagerun(run):
        log.error("a StageRun file %s exists already; not overwriting it, choosing another number", name)
        ctx.locks.release(lease_subject(name))
        return False
    try:
        runfiles.record(ctx, record, create=True)
    except Rejected as exc:
        log.warning("the log refused StageRun %s (%s); deciding again", name, exc)
        ctx.layout.store.stagerun_path(name).unlink(missing_ok=True)
        ctx.locks.release(lease_subject(name))
        return False
    ctx.reservations.grant(name, record.request, list(record.gpus))
    stagerun.start_soon(ctx, run)
    return True
