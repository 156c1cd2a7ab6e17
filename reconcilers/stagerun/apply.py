"""Carrying out what the StageRun reconciler decided; every path ends in a Result.

A change of state is recorded on the log first, then projected into the run's file
(`reconcilers.runfiles`), and only while this node holds the run's lease. A share that refuses
a write (full, read-only) leaves things as they are, to be done again once it takes writes:
a run whose container started is never failed for a status it could not write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from winslow.controller.context import NodeContext
from winslow.controller.reconciler import Result
from winslow.controller.runtime import ContainerState, RuntimeFailure
from winslow.controller.stagelogs import Streamer, append_system_line, tail
from winslow.controller.subjects import lease_subject, project_key, stagerun_key
from winslow.reconcilers import runfiles
from winslow.reconcilers.stagerun.actions import (
    Action,
    Defer,
    Finish,
    Forget,
    MarkRunning,
    Requeue,
    Start,
    StartCreated,
    Stop,
    Watch,
)
from winslow.reconcilers.stagerun.observe import Observation
from winslow.reconcilers.stagerun.start import Starts
from winslow.resources.errors import SHARE_UNWRITABLE
from winslow.resources.stagerun import StageRunPhase

log = logging.getLogger(__name__)

SHARE_RETRY_SECONDS = 5.0  # a write the share refused (full, read-only) is tried again after this


@dataclass
class RunState:
    """What the StageRun reconciler keeps between passes; the loop thread's alone."""

    starts: Starts
    watchers: dict[str, Streamer] = field(default_factory=dict)
    deferred: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    """Runs a write of which the share refused, said once until one goes through."""
    known: set[str] = field(default_factory=set)
    """Runs whose container may exist: found at the node's start, or started since."""


def apply(ctx: NodeContext, state: RunState, obs: Observation, actions: list[Action]) -> Result:
    after: float | None = None
    for action in actions:
        if isinstance(action, Requeue):
            after = action.after
            continue
        try:
            done = _apply(ctx, state, obs, action)
        except OSError as exc:
            if exc.errno not in SHARE_UNWRITABLE:
                raise
            _refused(state, obs.name, action, exc.strerror or str(exc))
            return Result.requeue(SHARE_RETRY_SECONDS)
        state.refused.discard(obs.name)
        if done is not None:
            return done
    return Result.done() if after is None else Result.requeue(after)


def _refused(state: RunState, name: str, action: Action, why: str) -> None:
    if name in state.refused:
        return
    state.refused.add(name)
    if isinstance(action, MarkRunning):
        log.warning(
            "%s started in container %s, but its start could not be recorded (%s); "
            "it is recorded when the share takes writes again",
            name,
            action.container_id[:12],
            why,
        )
    else:
        log.warning("the share refused a write for %s (%s); trying again", name, why)


def _apply(ctx: NodeContext, state: RunState, obs: Observation, action: Action) -> Result | None:
    """A Result ends the pass early."""
    assert ctx.runtime is not None
    record = obs.record
    if isinstance(action, Stop):
        log.info("stopping container %s of %s: %s", action.container_id[:12], obs.name, action.why)
        if record is not None:
            append_system_line(
                ctx.layout.log_file(record.project, obs.name), f"stopping the container: {action.why}"
            )
        ctx.runtime.stop(action.container_id, timeout=5)
        return None
    if isinstance(action, Forget):
        forget(ctx, state, obs.name)
        return None
    assert record is not None
    now = datetime.fromtimestamp(ctx.clock(), UTC)
    if isinstance(action, Start):
        assert obs.run is not None
        state.known.add(obs.name)
        state.starts.begin(obs.run)
        return Result.requeue(0.5)
    if isinstance(action, Defer):
        if obs.name not in state.deferred:
            log.warning(
                "not starting %s yet: %s; it starts when the share takes writes again", obs.name, action.why
            )
        state.deferred.add(obs.name)
        state.starts.take(obs.name)
        return Result.requeue(SHARE_RETRY_SECONDS)
    if isinstance(action, StartCreated):
        append_system_line(
            ctx.layout.log_file(record.project, obs.name),
            f"starting the container that {ctx.name} created before it restarted",
        )
        try:
            ctx.runtime.start(action.container_id)
        except RuntimeFailure as exc:
            return _finish(ctx, state, obs, Finish(StageRunPhase.FAILED, None, str(exc)))
    elif isinstance(action, MarkRunning):
        state.deferred.discard(obs.name)
        _record(
            ctx,
            obs.name,
            phase=StageRunPhase.RUNNING,
            container_id=action.container_id,
            start_time=action.started or now,
        )
        state.starts.take(obs.name)
        ctx.queue.add(project_key(record.project))
    elif isinstance(action, Watch):
        watch(ctx, state, record.project, obs.name, action.container_id)
    elif isinstance(action, Finish):
        return _finish(ctx, state, obs, action)
    return None


def _finish(ctx: NodeContext, state: RunState, obs: Observation, action: Finish) -> Result:
    assert obs.record is not None
    project = obs.record.project
    logfile = ctx.layout.log_file(project, obs.name)
    now = datetime.fromtimestamp(ctx.clock(), UTC)
    if action.note:
        log.warning("StageRun %s: %s", obs.name, action.note)
        append_system_line(logfile, action.note)
    message = action.message
    if action.phase is StageRunPhase.FAILED and action.exit_code is not None:
        last = tail(logfile, 3)
        if last:
            message = (message + "; " if message else "") + "last log lines: " + " | ".join(last)
    _record(ctx, obs.name, phase=action.phase, exit_code=action.exit_code, finish_time=now, message=message)
    state.starts.take(obs.name)
    state.deferred.discard(obs.name)
    code = f" with exit code {action.exit_code}" if action.exit_code is not None else ""
    append_system_line(
        logfile, f"{action.phase.value}{code} on {ctx.name}{': ' + action.message if action.message else ''}"
    )
    log.info("StageRun %s %s%s", obs.name, action.phase.value, code)
    forget(ctx, state, obs.name)
    ctx.queue.add(project_key(project))
    return Result.done()


def forget(ctx: NodeContext, state: RunState, name: str) -> None:
    ctx.reservations.drop(name)
    state.refused.discard(name)
    watcher = state.watchers.pop(name, None)
    if watcher is not None:
        watcher.stopped.set()
    subject = lease_subject(name)
    if ctx.leases.holder(subject) == ctx.name:
        ctx.leases.release(subject)


def _record(ctx: NodeContext, name: str, **changes: Any) -> None:
    """Only while this node still holds the lease: after it, another node may have marked it Lost,
    and the log refuses a change to a run that has ended."""
    current = ctx.events.view().runs.get(name)
    if current is None or not ctx.leases.held(lease_subject(name)):
        raise RuntimeError(f"lost the lease of {name} before recording its state")
    new = replace(current, **changes)
    runfiles.record(ctx, new)
    runfiles.write_file(ctx, new)
    if new.phase is StageRunPhase.RUNNING and current.phase is StageRunPhase.PENDING:
        log.info("StageRun %s runs in container %s", name, (new.container_id or "?")[:12])


def watch(ctx: NodeContext, state: RunState, project: str, name: str, container_id: str) -> None:
    """Copy the container's output into the run's log on a thread of its own, which only writes
    the log (and its position file) and wakes the run once the log is complete."""
    runtime = ctx.runtime
    assert runtime is not None

    def running() -> bool:
        info = runtime.inspect(container_id)
        return info is not None and info.state is not ContainerState.EXITED

    streamer = Streamer(
        ctx.layout.log_file(project, name),
        lambda tail: runtime.logs(container_id, tail),
        running,
        lambda: ctx.queue.add(stagerun_key(name)),
        limit=ctx.config.max_log_bytes,
        clock=ctx.clock,
        exited=lambda: runtime.wait(container_id),
    )
    state.watchers[name] = streamer
    streamer.start()
