"""Carrying out what the Project reconciler decided; every path ends in a Result.

Without the lock only an election, a kill or a requeue is applied; anything that writes the
share is decided again on a fresh observation under the project's lock (`under_lock`).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime

from winslow.controller import notify
from winslow.controller.context import NodeContext
from winslow.controller.eventlog import Rejected
from winslow.controller.events import Command
from winslow.controller.reconciler import Result
from winslow.controller.stagelogs import append_system_line
from winslow.controller.subjects import lease_subject, lock_subject, stagerun_key
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
from winslow.reconcilers.project.observe import NotVisibleYet, expired
from winslow.resources.amount import Amount
from winslow.resources.project import ProjectStatus

log = logging.getLogger(__name__)


def apply(
    ctx: NodeContext, name: str, actions: list[Action], decide_locked: Callable[[], list[Action]]
) -> Result:
    """`decide_locked` observes and decides again; it is called once the lock is held."""
    for action in actions:
        if isinstance(action, AcquireLock):
            return under_lock(ctx, name, decide_locked)
        if isinstance(action, StartElection):
            _start_election(ctx, name, action.request)
            return Result.requeue(0.2)
        if isinstance(action, Requeue):
            return Result.requeue(action.after)
        if isinstance(action, Kill):
            ctx.events.publish(
                Command.KILL, lease_subject(action.run), message=f"{ctx.name}: its project was deleted"
            )
    return Result.done()


def under_lock(ctx: NodeContext, name: str, decide_locked: Callable[[], list[Action]]) -> Result:
    subject = lock_subject(name)
    if not ctx.leases.acquire(subject):
        return Result.requeue(0.1 + secrets.randbelow(200) / 1000)
    try:
        try:
            actions = decide_locked()
        except NotVisibleYet as exc:
            log.debug("waiting under the lock: %s", exc)
            return Result.requeue(0.2)
        for action in actions:
            if not _apply_locked(ctx, name, action):
                break  # the run was not created: its status (and the request it consumes) must not be written
    finally:
        ctx.leases.release(subject)
    return Result.requeue(0.0)


def _apply_locked(ctx: NodeContext, name: str, action: Action) -> bool:
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
        _outbox(ctx, name, action)
    return True


def _outbox(ctx: NodeContext, name: str, action: Notify) -> None:
    """Named by the status version about to be written: a decision taken again after a crash
    before that write writes the same entries again, and after it there is no change to tell."""
    version = ctx.events.view().version(lock_subject(name), "status") + 1
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


def _start_election(ctx: NodeContext, name: str, request: Amount) -> None:
    subject = lock_subject(name)
    current = ctx.events.view().elections.open.get(subject)
    supersedes = current.seq if current is not None and expired(ctx, current) else None
    with suppress(Rejected):
        ctx.events.publish(
            Command.ELECTION_START,
            subject,
            duration=ctx.config.election_seconds,
            request=request,
            supersedes=supersedes,
        )
        log.info(
            "started an election for project %s (%s)%s",
            name,
            request,
            " replacing one whose starter went silent" if supersedes is not None else "",
        )


def _write_status(ctx: NodeContext, status: ProjectStatus) -> None:
    """The file first, then its version on the log: a reader never waits for a version that was
    not written; a crash in between leaves a newer file than the log says, which is fine."""
    subject = lock_subject(status.project)
    version = ctx.events.view().version(subject, "status") + 1
    updated = datetime.fromtimestamp(ctx.clock(), UTC)
    ctx.layout.store.write_project_status(status.model_copy(update={"updated": updated, "version": version}))
    ctx.events.publish(Command.VERSION, subject, payload={"file": "status", "version": version})


def _create(ctx: NodeContext, action: CreateRun) -> bool:
    """The run exists once the log took its record; the StageRun reconciler starts it."""
    run, record = action.run, action.record
    name = run.metadata.name
    if not ctx.leases.held(lock_subject(record.project)):
        log.warning("the project lock expired before StageRun %s was created; deciding again", name)
        return False
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
