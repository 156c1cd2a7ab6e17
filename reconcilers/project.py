"""The Project reconciler: elect a node for the next stage, create its StageRun, keep the status.

`decide` is pure. Anything that changes the share is decided twice: once without the project
lock, which can only ask for the lock (or start an election), and again on a fresh observation
taken under the lock, which is the decision that is applied.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from winslow.controller.context import NodeContext
from winslow.controller.election import Election, ElectionTable
from winslow.controller.eventlog import Rejected
from winslow.controller.events import Command, Request
from winslow.controller.stagelogs import append_system_line
from winslow.reconcilers import stagerun
from winslow.reconcilers.plan import NextRun, Plan, plan, refs
from winslow.reconcilers.subjects import lease_subject, lock_subject
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


@dataclass(frozen=True)
class Observation:
    name: str
    project: Project | None
    pipeline: Pipeline | None
    status: ProjectStatus | None
    runs: list[StageRun]
    now: float
    node: str
    executes: bool
    lock_mine: bool
    run_holders: dict[str, str | None]
    election_open: bool
    result: Election | None
    free: Request
    free_gpus: list[int]
    global_env: dict[str, str]
    lease_seconds: float
    spec_error: str | None = None
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
    run: StageRun


@dataclass(frozen=True)
class CreateRun:
    run: StageRun
    gpus: list[int]


@dataclass(frozen=True)
class StartElection:
    request: Request


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


def request_of(next_run: NextRun) -> Request:
    res = next_run.stage.resources
    return Request(cpu=res.cpu, memory=res.memory_bytes, gpu=res.gpu)


def fits(free: Request, request: Request) -> bool:
    return request.cpu <= free.cpu + 1e-9 and request.memory <= free.memory and request.gpu <= free.gpu


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
    number = max(obs.next_number, len(obs.runs) + 1)
    name = stagerun_name(obs.name, number, next_run.stage.name)
    gpus = obs.free_gpus[: next_run.stage.resources.gpu]
    stage = next_run.stage
    run = StageRun(
        metadata=RunMetadata(name=name, uid=secrets.token_hex(8), creation_timestamp=_ts(obs.now)),
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
        status=StageRunStatus(phase=StageRunPhase.PENDING, node=obs.node, trigger=next_run.trigger),
    )
    return CreateRun(run, gpus)


def _lost(obs: Observation) -> list[StageRun]:
    lost = []
    for run in obs.runs:
        if run.status.phase.active and obs.run_holders.get(run.metadata.name) is None:
            status = replace_status(
                run,
                phase=StageRunPhase.LOST,
                finish_time=_ts(obs.now),
                message=f"node {run.status.node} stopped renewing its lease",
            )
            lost.append(status)
    return lost


def replace_status(run: StageRun, **changes: object) -> StageRun:
    return run.model_copy(update={"status": run.status.model_copy(update=changes)})


def _fresh_result(obs: Observation, runs: list[StageRun]) -> Election | None:
    """The last election counts only if it was started after the need for a new run arose."""
    result = obs.result
    if result is None:
        return None
    if runs:
        last = runs[-1]
        anchor = max(
            (t.timestamp() for t in (last.metadata.creation_timestamp, last.status.finish_time) if t),
            default=0.0,
        )
        if result.started < anchor:
            return None
    return result


def _same(a: ProjectStatus | None, b: ProjectStatus) -> bool:
    return a is not None and a.model_dump(exclude={"updated"}) == b.model_dump(exclude={"updated"})


def decide(obs: Observation) -> list[Action]:
    if obs.project is None:
        lost = _lost(obs)
        if lost:
            return [MarkLost(r) for r in lost] if obs.lock_mine else [AcquireLock()]
        active = [r.metadata.name for r in obs.runs if r.status.phase.active]
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
    lost_names = {r.metadata.name: r for r in lost}
    runs = [lost_names.get(r.metadata.name, r) for r in obs.runs]
    # The requests a run consumed are recorded on the run itself (authoritative), so a node that
    # died between writing the run and the status never replays a resume or a confirmation.
    observed_run_from = _latest(old.observed_run_from if old else None, *(r.spec.run_from for r in runs))
    observed_confirm = _latest(old.observed_confirm if old else None, *(r.spec.confirmed for r in runs))
    p: Plan = plan(
        obs.project, obs.pipeline, old.pipeline if old else None, runs, observed_run_from, observed_confirm
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
    start: Request | None = None
    wait: float | None = None
    nxt = p.next
    if nxt is not None and p.snapshot is not None:
        request = request_of(nxt)
        result = _fresh_result(obs, runs)
        if obs.now < nxt.not_before:
            wait = nxt.not_before - obs.now
        elif obs.election_open:
            wait = 0.2
            if (
                old is not None
                and old.phase is ProjectPhase.WAITING
                and old.reason.startswith("no node fits")
            ):
                status = status.model_copy(update={"phase": old.phase, "reason": old.reason})
        elif result is not None and result.winner is None and obs.now < (result.stopped or 0) + NO_FIT_RETRY:
            status = status.model_copy(
                update={
                    "phase": ProjectPhase.WAITING,
                    "reason": f"no node fits stage {nxt.stage.name!r} now ({result.shortage()}); "
                    "it starts when one does",
                }
            )
            wait = (result.stopped or 0) + NO_FIT_RETRY - obs.now
        elif result is not None and result.winner == obs.node and obs.executes and fits(obs.free, request):
            create = build_run(obs, p.snapshot, nxt)
            status = status.model_copy(
                update={
                    "phase": ProjectPhase.RUNNING,
                    "reason": f"stage {nxt.stage.name!r} is starting on {obs.node}",
                    "pipeline": p.snapshot,
                    "stage_runs": refs([*runs, create.run]),
                    "observed_run_from": nxt.run_from or status.observed_run_from,
                    "observed_confirm": nxt.confirm or status.observed_confirm,
                }
            )
        elif (
            result is not None
            and result.winner not in (None, obs.node)
            and obs.now < (result.stopped or 0) + obs.lease_seconds
        ):
            wait = 0.5
        else:
            start = request
    return _write_or_lock(obs, old, status, lost, create, start, wait)


def _latest(*times: datetime | None) -> datetime | None:
    return max((t for t in times if t is not None), default=None)


def _status_is_mine(obs: Observation) -> bool:
    """Status-only updates fall to the node that ran the latest stage, so that every node does
    not race for the lock to write the same thing; anyone takes over once it looks abandoned."""
    if not obs.runs or obs.runs[-1].status.node in (None, obs.node):
        return True
    updated = obs.status.updated if obs.status else None
    return updated is None or obs.now - updated.timestamp() > obs.lease_seconds


def _write_or_lock(
    obs: Observation,
    old: ProjectStatus | None,
    status: ProjectStatus,
    lost: list[StageRun],
    create: CreateRun | None,
    start: Request | None = None,
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


# -- applying ----------------------------------------------------------------------------------


def observe(ctx: NodeContext, name: str) -> Observation:
    store = ctx.layout.store
    ctx.events.poll()
    spec_error = None
    project: Project | None
    try:
        project = store.project(name)
    except NotFoundError:
        project = None
    except ManifestError as exc:
        project, spec_error = _placeholder(name), f"{exc}; fix the file, nothing runs until then"
    pipeline = None
    if project is not None and project.spec.pipeline:
        try:
            pipeline = store.pipeline(project.spec.pipeline)
        except (NotFoundError, ManifestError):
            pipeline = None
    runs = store.stageruns_of(name)
    now = ctx.clock()
    state = ctx.events.state
    subject = lock_subject(name)
    lock_mine = ctx.locks.held(subject)
    return Observation(
        name=name,
        project=project,
        pipeline=pipeline,
        status=store.project_status(name),
        runs=runs,
        now=now,
        node=ctx.name,
        executes=ctx.config.executes,
        lock_mine=lock_mine,
        run_holders={
            r.metadata.name: ctx.locks.holder(lease_subject(r.metadata.name))
            for r in runs
            if r.status.phase.active
        },
        election_open=_open_election(state.elections.open.get(subject), state.elections, now),
        result=state.elections.results.get(subject),
        free=ctx.free(),
        free_gpus=_free_gpus(ctx),
        global_env=ctx.layout.global_env(),
        lease_seconds=ctx.config.lease_seconds,
        spec_error=spec_error,
        killed=frozenset(s.removeprefix("stagerun/") for s in list(state.kills)),
        next_number=store.next_run_number(name) if lock_mine else 0,  # only a lock holder creates
    )


def _open_election(election: Election | None, table: ElectionTable, now: float) -> bool:
    """An election whose starter died expires; a new one may then start (ELECTION_START allows it)."""
    return election is not None and not table.expired(election, now)


def _free_gpus(ctx: NodeContext) -> list[int]:
    taken = ctx.reservations.taken_gpus()
    return [g.index for g in ctx.config.capacity.gpus if g.index not in taken]


def _placeholder(name: str) -> Project:
    return Project.model_validate(
        {"metadata": {"name": name}, "spec": {"stages": [{"name": "x", "image": "x"}]}}
    )


QUIET = (ProjectPhase.SUCCEEDED, ProjectPhase.PAUSED, ProjectPhase.FAILED)


def _stamps(ctx: NodeContext, name: str) -> tuple[object, ...]:
    """What a finished project's next move could come from: its spec (a resume, a run-from, a
    confirmation), its status and its StageRuns. Three stats instead of parsing them all."""
    store = ctx.layout.store
    found: list[object] = []
    for path in (store.spec_path("Project", name), store.status_dir / f"{name}.yaml", store.stageruns / name):
        try:
            st = path.stat()
            found.append((st.st_mtime_ns, st.st_size, st.st_ino))
        except FileNotFoundError:
            found.append(None)
    return tuple(found)


def reconcile(ctx: NodeContext, name: str) -> float | None:
    """Level-triggered, but a finished project whose files have not changed is not re-read on
    every resync: a share with thousands of finished projects must idle cheaply."""
    stamps = _stamps(ctx, name)
    if ctx.quiet.get(name) == stamps:
        return None
    obs = observe(ctx, name)
    actions = decide(obs)
    if not actions and obs.status is not None and obs.status.phase in QUIET:
        ctx.quiet[name] = stamps
    else:
        ctx.quiet.pop(name, None)
    for action in actions:
        if isinstance(action, AcquireLock):
            return _under_lock(ctx, name)
        if isinstance(action, StartElection):
            with suppress(Rejected):
                ctx.events.publish(
                    Command.ELECTION_START,
                    lock_subject(name),
                    duration=ctx.config.election_seconds,
                    request=action.request,
                )
            return 0.2
        if isinstance(action, Requeue):
            return action.after
        if isinstance(action, Kill):
            ctx.events.publish(
                Command.KILL, lease_subject(action.run), message=f"{ctx.name}: its project was deleted"
            )
    return None


def _under_lock(ctx: NodeContext, name: str) -> float | None:
    subject = lock_subject(name)
    if not ctx.locks.acquire(subject):
        return 0.1 + secrets.randbelow(200) / 1000
    try:
        for action in decide(observe(ctx, name)):
            if not apply(ctx, action):
                break  # the run was not created: its status (and the request it consumes) must not be written
    finally:
        ctx.locks.release(subject)
    return 0.0


def apply(ctx: NodeContext, action: Action) -> bool:
    """False when a StageRun could not be created after all."""
    store = ctx.layout.store
    if isinstance(action, WriteStatus):
        store.write_project_status(action.status.model_copy(update={"updated": _ts(ctx.clock())}))
    elif isinstance(action, MarkLost):
        run = action.run
        store.write_stagerun(run)
        append_system_line(
            ctx.layout.log_file(run.spec.project, run.metadata.name),
            f"marked Lost by {ctx.name}: {run.status.message}",
        )
    elif isinstance(action, CreateRun):
        run = action.run
        name = run.metadata.name
        if not ctx.locks.held(lock_subject(run.spec.project)):
            log.warning("the project lock expired before StageRun %s was created; deciding again", name)
            return False
        if store.stagerun_path(name).exists():
            log.error("StageRun %s exists already (an unreadable file?); not overwriting it", name)
            return False
        if not ctx.locks.acquire(lease_subject(name)):
            log.warning("could not take the lease of new StageRun %s", name)
            return False
        res = run.spec.resources
        ctx.reservations.grant(name, Request(res.cpu, res.memory_bytes, res.gpu), ctx.config.capacity)
        store.write_stagerun(run)
        stagerun.start_soon(ctx, run)
    return True
