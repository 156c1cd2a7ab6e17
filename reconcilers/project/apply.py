"""Carrying out what the Project reconciler decided; every path ends in a Result.

Without the lock only an election, a kill or a requeue is applied, or the lock taken: the next
pass then observes and decides under it, and its apply writes what that decision says and
releases the lock, whatever happens. A write the log or the share refuses is a failed Result.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from winslow.controller import notify
from winslow.controller.context import NodeContext
from winslow.controller.eventlog import Rejected
from winslow.controller.events import Command
from winslow.controller.reconciler import Result
from winslow.controller.stagelogs import append_system_line
from winslow.controller.subjects import lease_subject, lock_subject, quota_subject, stagerun_key
from winslow.reconcilers import runfiles
from winslow.reconcilers.project.actions import (
    AcquireLock,
    Action,
    CreateRun,
    Kill,
    MarkLost,
    Notify,
    Requeue,
    StartElection,
    WriteStatus,
)
from winslow.reconcilers.project.observe import Observation, ProjectContext
from winslow.reconcilers.project.quotas import refusal, uses
from winslow.resources.project import ProjectStatus

log = logging.getLogger(__name__)


def apply(ctx: ProjectContext, obs: Observation, actions: list[Action]) -> Result:
    node = ctx.node
    if obs.lock_mine:
        try:
            return _under_lock(node, obs, actions)
        finally:
            node.leases.release(lock_subject(obs.name))
    try:
        for action in actions:
            if isinstance(action, AcquireLock):
                if node.leases.acquire(lock_subject(obs.name)):
                    return Result.requeue(0.0)  # decided again, under the lock, in the next pass
                return Result.requeue(0.1 + secrets.randbelow(200) / 1000)
            if isinstance(action, StartElection):
                _start_election(node, obs.name, action)
                return Result.requeue(0.2)
            if isinstance(action, Requeue):
                return Result.requeue(action.after)
            if isinstance(action, Kill):
                _kill(node, action)
    except Rejected as exc:
        return Result.failed(f"project {obs.name}: the log refused {type(action).__name__}: {exc}")
    return Result.done()


def _under_lock(node: NodeContext, obs: Observation, actions: list[Action]) -> Result:
    for action in actions:
        if isinstance(action, Requeue):
            return Result.requeue(action.after)
        try:
            created = _apply_locked(node, obs, action)
        except (Rejected, OSError) as exc:
            return Result.failed(f"project {obs.name}: {type(action).__name__} failed: {exc}")
        if not created:
            break  # the run was not created: its status (and the request it consumes) must not be written
    return Result.requeue(0.0)


def _apply_locked(ctx: NodeContext, obs: Observation, action: Action) -> bool:
    """False when a StageRun could not be created after all."""
    if isinstance(action, WriteStatus):
        _write_status(ctx, action.status)
    elif isinstance(action, MarkLost):
        run = action.run
        runfiles.record(ctx, run)
        runfiles.write_file(ctx, run)
        append_system_line(
            ctx.layout.log_file(run.project, run.name), f"marked Lost by {ctx.name}: {run.message}"
        )
        log.warning("marked %s Lost: %s", run.name, run.message)
    elif isinstance(action, CreateRun):
        return _create(ctx, action)
    elif isinstance(action, Notify):
        _outbox(ctx, obs, action)
    elif isinstance(action, Kill):
        _kill(ctx, action)
    return True


def _kill(ctx: NodeContext, action: Kill) -> None:
    ctx.events.publish(
        Command.KILL, lease_subject(action.run), message=f"{ctx.name}: its project was deleted"
    )


def _outbox(ctx: NodeContext, obs: Observation, action: Notify) -> None:
    """Named by the status version about to be written: a decision taken again after a crash
    before that write writes the same entries again, and after it there is no change to tell."""
    name, version = obs.name, obs.status_version + 1
    created = datetime.fromtimestamp(ctx.clock(), UTC)
    for index, target in enumerate(action.targets):
        entry = notify.Notification(
            event=action.event.value,
            project=name,
            stage=action.stage,
            phase=action.phase.value,
            reason=action.reason,
            node=ctx.name,
            channel="webhook" if target.webhook else "email",
            target=target.webhook or target.email or "",
            created=created,
        )
        notify.write(ctx.layout.outbox, notify.entry_name(name, version, action.event.value, index), entry)
    log.info("project %s: %s, %d notification(s) queued", name, action.event.value, len(action.targets))


def _start_election(ctx: NodeContext, name: str, action: StartElection) -> None:
    """Another node may have started one a moment ago: the log refuses ours, and the next pass
    finds theirs open."""
    try:
        ctx.events.publish(
            Command.ELECTION_START,
            lock_subject(name),
            duration=ctx.config.election_seconds,
            request=action.request,
            selector=action.selector,
            supersedes=action.supersedes,
        )
    except Rejected as exc:
        log.debug("election for project %s not started: %s", name, exc)
        return
    log.info(
        "started an election for project %s (%s)%s",
        name,
        action.request,
        " replacing one whose starter went silent" if action.supersedes is not None else "",
    )


def _write_status(ctx: NodeContext, status: ProjectStatus) -> None:
    """The file first, then its version on the log: a reader never waits for a version that was
    not written; a crash in between leaves a newer file than the log says, which is fine."""
    ctx.layout.store.write_project_status(status)
    ctx.events.publish(
        Command.VERSION, lock_subject(status.project), payload={"file": "status", "version": status.version}
    )


def _record_decided(ctx: NodeContext, action: CreateRun) -> bool:
    """A run its stage's condition decided (Skipped, or Failed): recorded, with its file, and
    never started; no lease, no reservation, no container."""
    run, record = action.run, action.record
    if not ctx.layout.store.create_stagerun(run):
        log.error(
            "a StageRun file %s exists already; not overwriting it, choosing another number",
            run.metadata.name,
        )
        return False
    try:
        runfiles.record(ctx, record, create=True)
    except Rejected as exc:
        log.warning("the log refused StageRun %s (%s); deciding again", run.metadata.name, exc)
        ctx.layout.store.stagerun_path(run.metadata.name).unlink(missing_ok=True)
        return False
    append_system_line(ctx.layout.log_file(record.project, run.metadata.name), record.message)
    log.info("StageRun %s recorded %s: %s", run.metadata.name, record.phase.value, record.message)
    return True


def _create(ctx: NodeContext, action: CreateRun) -> bool:
    """Under the lock of every quota that covers the run, their use is counted again from the
    log as it is now: another node may have started a run under one of them a moment ago."""
    taken: list[str] = []
    try:
        for quota in action.quotas:
            subject = quota_subject(quota.metadata.name)
            if not ctx.leases.acquire(subject):
                log.info("quota %s is being counted by another node; deciding again", quota.metadata.name)
                return False
            taken.append(subject)
        if taken:
            ctx.events.poll()
            why = refusal(
                uses(action.quotas, ctx.events.view().runs.active(), action.groups), action.record.request
            )
            if why is not None:
                log.info("not creating %s after all: %s", action.run.metadata.name, why)
                return False
        return _create_run(ctx, action)
    finally:
        for subject in taken:
            ctx.leases.release(subject)


def _create_run(ctx: NodeContext, action: CreateRun) -> bool:
    """The run exists once the log took its record; the StageRun reconciler starts it."""
    run, record = action.run, action.record
    name = run.metadata.name
    if not ctx.leases.held(lock_subject(record.project)):
        log.warning("the project lock expired before StageRun %s was created; deciding again", name)
        return False
    if not record.phase.active:
        return _record_decided(ctx, action)
    if not ctx.leases.acquire(lease_subject(name), ctx.config.stage_tolerance):
        log.warning("could not take the lease of new StageRun %s", name)
        return False
    if not ctx.layout.store.create_stagerun(run):
        log.error("a StageRun file %s exists already; not overwriting it, choosing another number", name)
        ctx.leases.release(lease_subject(name))
        return False
    try:
        runfiles.record(ctx, record, create=True)
    except Rejected as exc:
        log.warning("the log refused StageRun %s (%s); deciding again", name, exc)
        ctx.layout.store.stagerun_path(name).unlink(missing_ok=True)
        ctx.leases.release(lease_subject(name))
        return False
    ctx.reservations.grant(name, record.request, list(record.gpus))
    ctx.queue.add(stagerun_key(name))
    return True
