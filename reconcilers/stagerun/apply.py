"""Carrying out what the StageRun reconciler decided; every path ends in a Result.

A change of state is recorded on the log first, then projected into the run's file
(`reconcilers.runfiles`), and only while this node holds the run's lease. A share that refuses
a write (full, read-only) leaves things as they are, to be done again once it takes writes:
a run whose container started is never failed for a status it could not write.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from winslow.controller.eventlog import Rejected
from winslow.controller.parsedlogs import ParsedLog
from winslow.controller.reconciler import Result
from winslow.controller.runtime import ContainerState, RuntimeFailure
from winslow.controller.stagelogs import Position, Streamer, append_system_line
from winslow.controller.subjects import lease_subject, project_key, stagerun_key
from winslow.reconcilers import runfiles
from winslow.reconcilers.stagerun.actions import (
    Action,
    Defer,
    Finish,
    Forget,
    MarkRunning,
    Report,
    Requeue,
    Start,
    StartCreated,
    Stop,
    Watch,
)
from winslow.reconcilers.stagerun.observe import Observation, Reported, StageRunContext
from winslow.resources.errors import SHARE_UNWRITABLE
from winslow.resources.parsedrows import compiled
from winslow.resources.stagerun import StageRunPhase

log = logging.getLogger(__name__)

SHARE_RETRY_SECONDS = 5.0  # a write the share refused (full, read-only) is tried again after this
STOP_TIMEOUT = 5.0  # seconds a stopped container has to end before it is killed
_STOPPERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="stop")


def apply(ctx: StageRunContext, obs: Observation, actions: list[Action]) -> Result:
    after: float | None = None
    for action in actions:
        if isinstance(action, Requeue):
            after = action.after
            continue
        try:
            done = _apply(ctx, obs, action)
        except OSError as exc:
            if exc.errno not in SHARE_UNWRITABLE:
                return Result.failed(f"StageRun {obs.name}: {type(action).__name__}: {exc}")
            _refused(ctx, obs.name, action, exc.strerror or str(exc))
            return Result.requeue(SHARE_RETRY_SECONDS)
        except (Rejected, RuntimeFailure, LeaseLost) as exc:
            return Result.failed(f"StageRun {obs.name}: {type(action).__name__}: {exc}")
        ctx.refused.discard(obs.name)
        if done is not None:
            return done
    return Result.done() if after is None else Result.requeue(after)


def _refused(ctx: StageRunContext, name: str, action: Action, why: str) -> None:
    if name in ctx.refused:
        return
    ctx.refused.add(name)
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


def _apply(ctx: StageRunContext, obs: Observation, action: Action) -> Result | None:
    """A Result ends the pass early."""
    assert ctx.node.runtime is not None
    record = obs.record
    if isinstance(action, Stop):
        stop(ctx, obs, action)
        return None
    if isinstance(action, Forget):
        forget(ctx, obs.name)
        return None
    assert record is not None
    now = datetime.fromtimestamp(ctx.node.clock(), UTC)
    if isinstance(action, Start):
        assert obs.run is not None
        ctx.known.add(obs.name)
        ctx.starts.begin(obs.run)
        return Result.requeue(0.5)
    if isinstance(action, Defer):
        if obs.name not in ctx.deferred:
            log.warning(
                "not starting %s yet: %s; it starts when the share takes writes again", obs.name, action.why
            )
        ctx.deferred.add(obs.name)
        ctx.starts.take(obs.name)
        return Result.requeue(SHARE_RETRY_SECONDS)
    if isinstance(action, StartCreated):
        append_system_line(
            ctx.node.layout.log_file(record.project, obs.name),
            f"starting the container that {ctx.node.name} created before it restarted",
        )
        try:
            ctx.node.runtime.start(action.container_id)
        except RuntimeFailure as exc:
            return _finish(ctx, obs, Finish(StageRunPhase.FAILED, None, str(exc)))
    elif isinstance(action, MarkRunning):
        ctx.deferred.discard(obs.name)
        _record(
            ctx,
            obs.name,
            phase=StageRunPhase.RUNNING,
            container_id=action.container_id,
            start_time=action.started or now,
        )
        ctx.starts.take(obs.name)
        ctx.node.queue.add(project_key(record.project))
    elif isinstance(action, Watch):
        watch(ctx, record.project, obs.name, action)
    elif isinstance(action, Report):
        _record(ctx, obs.name, results=action.results, progress=action.progress)
    elif isinstance(action, Finish):
        return _finish(ctx, obs, action)
    return None


def _finish(ctx: StageRunContext, obs: Observation, action: Finish) -> Result:
    assert obs.record is not None
    project = obs.record.project
    logfile = ctx.node.layout.log_file(project, obs.name)
    now = datetime.fromtimestamp(ctx.node.clock(), UTC)
    if action.note:
        log.warning("StageRun %s: %s", obs.name, action.note)
        append_system_line(logfile, action.note)
    reported = {} if action.results is None else {"results": action.results, "progress": action.progress}
    _record(
        ctx,
        obs.name,
        phase=action.phase,
        exit_code=action.exit_code,
        finish_time=now,
        message=action.message,
        **reported,
    )
    ctx.starts.take(obs.name)
    ctx.deferred.discard(obs.name)
    code = f" with exit code {action.exit_code}" if action.exit_code is not None else ""
    append_system_line(
        logfile,
        f"{action.phase.value}{code} on {ctx.node.name}{': ' + action.message if action.message else ''}",
    )
    log.info("StageRun %s %s%s", obs.name, action.phase.value, code)
    forget(ctx, obs.name)
    ctx.node.queue.add(project_key(project))
    return Result.done()


def stop(ctx: StageRunContext, obs: Observation, action: Stop) -> None:
    """On a thread of its own: a stop waits up to its timeout for the container to end, and the
    loop thread waits for nothing. The run is woken when the container has ended."""
    if action.container_id in ctx.stopping:
        return
    log.info("stopping container %s of %s: %s", action.container_id[:12], obs.name, action.why)
    if obs.record is not None:
        append_system_line(
            ctx.node.layout.log_file(obs.record.project, obs.name), f"stopping the container: {action.why}"
        )
    ctx.stopping.add(action.container_id)
    runtime = ctx.node.runtime
    assert runtime is not None

    def work() -> None:
        try:
            runtime.stop(action.container_id, timeout=STOP_TIMEOUT)
        except Exception as exc:  # the next pass sees it still running and stops it again
            log.warning("could not stop container %s of %s: %s", action.container_id[:12], obs.name, exc)
        finally:
            ctx.stopping.discard(action.container_id)
            ctx.node.queue.add(stagerun_key(obs.name))

    _STOPPERS.submit(work)


def forget(ctx: StageRunContext, name: str) -> None:
    ctx.node.reservations.drop(name)
    ctx.refused.discard(name)
    ctx.reported.pop(name, None)
    watcher = ctx.watchers.pop(name, None)
    if watcher is not None:
        watcher.stopped.set()
    subject = lease_subject(name)
    if ctx.node.leases.holder(subject) == ctx.node.name:
        ctx.node.leases.release(subject)


class LeaseLost(Exception):
    """The run's lease lapsed between the observation and the write."""


def _record(ctx: StageRunContext, name: str, **changes: Any) -> None:
    """Only while this node still holds the lease: after it, another node may have marked it Lost,
    and the log refuses a change to a run that has ended."""
    current = ctx.node.events.view().runs.get(name)
    if current is None or not ctx.node.leases.held(lease_subject(name)):
        raise LeaseLost(f"this node lost the lease of {name} before recording its state")
    new = replace(current, **changes)
    runfiles.record(ctx.node, new)
    runfiles.write_file(ctx.node, new)
    if new.phase is StageRunPhase.RUNNING and current.phase is StageRunPhase.PENDING:
        log.info("StageRun %s runs in container %s", name, (new.container_id or "?")[:12])


def watch(ctx: StageRunContext, project: str, name: str, action: Watch) -> None:
    """Copy the container's output into the run's log on a thread of its own, which only writes
    the log (and its position file) and the files of its log parsers, reads what the stage
    reports, and wakes the run once the log is complete."""
    container_id = action.container_id
    logfile = ctx.node.layout.log_file(project, name)
    parsed = _parsed_log(ctx, project, name, action, logfile)
    reported = ctx.reported[name] = Reported(action.progress, parsed)
    runtime = ctx.node.runtime
    assert runtime is not None

    def done() -> None:
        if parsed is not None:
            parsed.close()  # here, on the streamer's thread: no write of it can be under way
        ctx.node.queue.add(stagerun_key(name))

    def running() -> bool:
        info = runtime.inspect(container_id)
        return info is not None and info.state is not ContainerState.EXITED

    streamer = Streamer(
        logfile,
        lambda tail: runtime.logs(container_id, tail),
        running,
        done,
        limit=ctx.node.config.max_log_bytes,
        clock=ctx.node.clock,
        exited=lambda: runtime.wait(container_id),
        on_output=reported.feed,
        before=lambda: reported.recall(logfile) if _resumed(logfile) else None,
    )
    ctx.watchers[name] = streamer
    streamer.start()


def _resumed(logfile: Path) -> bool:
    """The log's position file says an earlier stream took output already (this node restarted)."""
    position = Position.read(logfile)
    return position is not None and position.counts.received > 0


def _parsed_log(
    ctx: StageRunContext, project: str, name: str, action: Watch, logfile: Path
) -> ParsedLog | None:
    """A streamer that reads the output from its start (no position, or nothing taken yet) begins
    the parser files anew: ones already there were copied with the workspace it continues."""
    if not action.parsers:
        return None
    fresh = not _resumed(logfile)
    workspace = ctx.node.layout.stage_workspace(project, name)
    return ParsedLog(workspace, compiled(action.parsers), fresh=fresh)
