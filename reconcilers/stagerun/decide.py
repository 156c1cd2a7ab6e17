"""The StageRun reconciler's decision, on the node that owns the run: a pure function."""

from __future__ import annotations

from typing import TypeGuard

from winslow.controller.runtime import ContainerInfo, ContainerState
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
from winslow.resources.stagerun import StageRunPhase

CHECK_EVERY = 2.0
STARTING_CHECK = 0.5


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
        halt: list[Action] = [Stop(container.id, f"killed by {who}")] if _running(container) else []
        return [*halt, Finish(StageRunPhase.KILLED, None, f"killed by {who}")]
    outcome = obs.outcome
    if outcome is not None and outcome.failure is not None:
        return [Finish(StageRunPhase.FAILED, None, outcome.failure)]
    if outcome is not None and outcome.deferred is not None:
        return [Defer(outcome.deferred)]
    if container is None:
        if record.phase is StageRunPhase.PENDING:
            return [Start()] if obs.run is not None else [Requeue(STARTING_CHECK)]  # file not visible yet
        return [Finish(StageRunPhase.FAILED, None, "its container disappeared")]
    if container.state is ContainerState.EXITED and record.phase is not StageRunPhase.PENDING:
        code = container.exit_code if container.exit_code is not None else -1
        if code == 0:
            return [Finish(StageRunPhase.SUCCEEDED, 0, "")]
        message = "out of memory (killed by the kernel)" if container.oom_killed else ""
        return [Finish(StageRunPhase.FAILED, code, message)]
    actions = []
    timeout = obs.run.spec.timeout_seconds if obs.run is not None else None
    started = record.start_time.timestamp() if record.start_time else obs.now
    if timeout is not None and obs.now - started > timeout:
        return [
            Stop(container.id, f"it ran past its timeout of {timeout:g}s"),
            Finish(StageRunPhase.FAILED, None, f"timed out after {timeout:g}s"),
        ]
    if container.state is ContainerState.CREATED:
        actions.append(StartCreated(container.id))
    if record.phase is StageRunPhase.PENDING:
        started_at = outcome.started if outcome is not None and outcome.container_id == container.id else None
        actions.append(MarkRunning(container.id, started_at))
    if not obs.watching:
        actions.append(Watch(container.id))
    actions.append(Requeue(0.0 if container.state is ContainerState.EXITED else CHECK_EVERY))
    return actions
