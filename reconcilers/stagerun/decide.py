"""The StageRun reconciler's decision, on the node that owns the run: a pure function."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeGuard

from winslow.controller.runtime import ContainerInfo, ContainerState
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
from winslow.reconcilers.stagerun.observe import Observation
from winslow.resources.stagerun import StageRunPhase

CHECK_EVERY = 2.0
STARTING_CHECK = 0.5
STOP_CHECK = 0.5  # after a stop: the container ends within seconds, then its log drains
DRAIN_CHECK = 1.0  # the streamer wakes the run when the log is complete; this is the fallback
DRAIN_LIMIT = 300.0
REPORT_EVERY = 5.0  # seconds between records of what a running stage reports (its end records the rest)
RUNTIME_LIMIT_SLACK = 120.0
"""How long past a runtime's own time limit the node waits before it stops the container itself
(Slurm checks its limits every 30 s or so, then gives the job KillWait to end)."""


def _running(container: ContainerInfo | None) -> TypeGuard[ContainerInfo]:
    return container is not None and container.state is not ContainerState.EXITED


def decide(obs: Observation) -> list[Action]:
    record, container = obs.record, obs.container
    if record is None or record.node != obs.node:
        stop: list[Action] = (
            [Stop(container.id, "its StageRun is not on the log or belongs to another node")]
            if _running(container)
            else []
        )
        return [*stop, Forget()] if record is None else stop
    if not record.phase.active:
        actions: list[Action] = [Forget()]
        if _running(container):
            actions.insert(0, Stop(container.id, f"its StageRun is {record.phase.value}"))
        return actions
    if not obs.lease_mine:
        if _running(container):
            return [Stop(container.id, "this node lost the StageRun's lease (fencing)"), Requeue(CHECK_EVERY)]
        return [Requeue(CHECK_EVERY)]
    if obs.starting:
        return [Requeue(STARTING_CHECK)]  # a start thread is at work; it hands over its outcome
    if obs.kill is not None:
        who = obs.kill.message or f"a user on {obs.kill.issuer}"
        killed = Finish(StageRunPhase.KILLED, None, f"killed by {who}")
        if container is not None and container.state is ContainerState.RUNNING:
            return [Stop(container.id, f"killed by {who}"), Requeue(STOP_CHECK)]
        if container is not None and container.state is ContainerState.EXITED:
            return _once_drained(obs, container, killed)
        halt: list[Action] = [Stop(container.id, f"killed by {who}")] if _running(container) else []
        return [*halt, killed]  # never started: no output to wait for
    outcome = obs.outcome
    if outcome is not None and outcome.failure is not None:
        return [Finish(StageRunPhase.FAILED, None, outcome.failure)]
    if outcome is not None and outcome.deferred is not None:
        return [Defer(outcome.deferred)]
    if container is None:
        if record.phase is StageRunPhase.PENDING:
            return [Start()] if obs.run is not None else [Requeue(STARTING_CHECK)]  # file not visible yet
        return [Finish(StageRunPhase.FAILED, None, "its container disappeared")]
    if container.state is ContainerState.QUEUED:  # Pending until it runs; its log says why it waits
        return [*([] if obs.watching else [_watch(obs, container)]), Requeue(CHECK_EVERY)]
    timeout = obs.run.spec.timeout_seconds if obs.run is not None else None
    started = record.start_time.timestamp() if record.start_time else obs.now
    if container.state is ContainerState.EXITED and record.phase is not StageRunPhase.PENDING:
        return _once_drained(obs, container, _result(container, timeout, started, obs))
    actions = []
    deadline = timeout
    if timeout is not None and container.time_limit is not None:  # the runtime's to enforce
        deadline = max(timeout, container.time_limit + RUNTIME_LIMIT_SLACK)
    if deadline is not None and obs.now - started > deadline and _running(container):
        overdue = Stop(container.id, f"it ran past its timeout of {timeout:g}s")
        if container.state is ContainerState.CREATED:  # never started: no output to wait for
            return [overdue, Finish(StageRunPhase.FAILED, None, f"timed out after {timeout:g}s")]
        return [overdue, Requeue(STOP_CHECK)]  # the result follows once it ended and its log is in
    if container.state is ContainerState.CREATED:
        actions.append(StartCreated(container.id))
    if record.phase is StageRunPhase.PENDING:
        started_at = outcome.started if outcome is not None and outcome.container_id == container.id else None
        actions.append(MarkRunning(container.id, started_at))
    if not obs.watching:
        actions.append(_watch(obs, container))
    report = _reported(obs)
    if (
        report is not None
        and record.phase is StageRunPhase.RUNNING
        and obs.now - record.recorded_at >= REPORT_EVERY
    ):
        actions.append(report)
    actions.append(Requeue(0.0 if container.state is ContainerState.EXITED else CHECK_EVERY))
    return actions


def _watch(obs: Observation, container: ContainerInfo) -> Watch:
    if obs.run is None:
        return Watch(container.id)
    spec = obs.run.spec
    return Watch(container.id, spec.progress, tuple((p.name, p.pattern) for p in spec.log_parsers))


def _reported(obs: Observation) -> Report | None:
    """What the stage reported beyond what its record holds; None when the record has it all.
    Results a restarted node's streamer did not read again are kept from the record."""
    record, seen = obs.record, obs.seen
    if record is None or seen is None:
        return None
    results = {**record.results, **seen.results}
    progress = seen.progress if seen.progress is not None else record.progress
    if results == record.results and progress == record.progress:
        return None
    return Report(results, progress)


def _with_report(obs: Observation, finish: Finish) -> Finish:
    report = _reported(obs)
    return finish if report is None else replace(finish, results=report.results, progress=report.progress)


def _result(container: ContainerInfo, timeout: float | None, started: float, obs: Observation) -> Finish:
    """A failure the runtime explains (Slurm's TIMEOUT) is the runtime's; otherwise a failure
    after the timeout is the timeout's: this node stopped it (or was about to). A failure's
    message quotes the end of its log, which is where people look first."""
    code = container.exit_code if container.exit_code is not None else -1
    ended = container.finished_at if container.finished_at is not None else obs.now
    if code != 0 and container.ended_by is None and timeout is not None and ended - started > timeout:
        return Finish(StageRunPhase.FAILED, None, f"timed out after {timeout:g}s")
    if code == 0:
        return Finish(StageRunPhase.SUCCEEDED, 0, "")
    parts = [container.ended_by] if container.ended_by else []
    if container.oom_killed and container.ended_by is None:
        parts.append("out of memory (killed by the kernel)")
    if obs.last_lines:
        parts.append("last log lines: " + " | ".join(obs.last_lines))
    return Finish(StageRunPhase.FAILED, code, "; ".join(parts))


def _once_drained(obs: Observation, container: ContainerInfo, finish: Finish) -> list[Action]:
    """A run is recorded as ended only once its log is complete, so that its result line is the
    log's last and a reader that sees the result has all of it. The streamer copies on a thread
    of its own and wakes the run when done; this only waits, and never longer than DRAIN_LIMIT
    after the container ended or the streamer began, whichever was later."""
    if obs.drained:
        return [_with_report(obs, finish)]
    if not obs.watching:  # none at work in this process (it restarted): one must finish the copy
        return [_watch(obs, container), Requeue(DRAIN_CHECK)]
    began = max((t for t in (container.finished_at, obs.drain_since) if t is not None), default=None)
    if began is not None and obs.now - began > DRAIN_LIMIT:
        note = (
            f"the log was still being copied {DRAIN_LIMIT:g}s after the container ended; "
            "what it had not copied by then is missing"
        )
        return [replace(_with_report(obs, finish), note=note)]
    return [Requeue(DRAIN_CHECK)]
