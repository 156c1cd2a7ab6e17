"""The StageRun reconciler, on the node that owns the run: start, watch, finish, fence.

Containers are found again by label, so a restarted node re-adopts what runs and records what
ended while it was down. The container's name is derived from the run, so the engine itself
refuses a second container for the same run. The run's state is its record on the event log
(`controller.records`); its file supplies the frozen spec (image, command, env) and is rewritten
from the record after every change (`reconcilers.runfiles`).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeGuard

from winslow.controller.capacity import stage_gpus
from winslow.controller.context import NodeContext
from winslow.controller.events import Event
from winslow.controller.records import RunRecord
from winslow.controller.runtime import (
    ContainerInfo,
    ContainerSpec,
    ContainerState,
    ImageNotFound,
    Mount,
    RuntimeFailure,
)
from winslow.controller.stagelogs import Streamer, append_system_line, tail
from winslow.controller.workspace import prepare
from winslow.reconcilers import runfiles
from winslow.reconcilers.subjects import lease_subject
from winslow.resources.errors import ManifestError, NotFoundError
from winslow.resources.stagerun import StageRun, StageRunPhase

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    name: str
    record: RunRecord | None
    """The run's state, from the log: the only one decisions read."""
    run: StageRun | None
    """Its file, for the frozen spec; None while this node cannot read it."""
    node: str
    now: float
    container: ContainerInfo | None
    lease_mine: bool
    kill: Event | None
    watching: bool


@dataclass(frozen=True)
class Start:
    pass


@dataclass(frozen=True)
class Watch:
    container_id: str


@dataclass(frozen=True)
class StartCreated:
    """The node died between `docker create` and `docker start`."""

    container_id: str


@dataclass(frozen=True)
class MarkRunning:
    container_id: str


@dataclass(frozen=True)
class Stop:
    container_id: str
    why: str


@dataclass(frozen=True)
class Finish:
    phase: StageRunPhase
    exit_code: int | None
    message: str


@dataclass(frozen=True)
class Forget:
    """Drop the reservation and the lease of a run that has ended."""


@dataclass(frozen=True)
class Requeue:
    after: float


Action = Start | StartCreated | Watch | MarkRunning | Stop | Finish | Forget | Requeue

CHECK_EVERY = 2.0


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
    if obs.kill is not None:
        who = obs.kill.message or f"a user on {obs.kill.issuer}"
        halt: list[Action] = [Stop(container.id, f"killed by {who}")] if _running(container) else []
        return [*halt, Finish(StageRunPhase.KILLED, None, f"killed by {who}")]
    if container is None:
        if record.phase is StageRunPhase.PENDING:
            return [Start()] if obs.run is not None else [Requeue(0.5)]  # its file is not visible yet
        return [Finish(StageRunPhase.FAILED, None, "its container disappeared")]
    if container.state is ContainerState.EXITED:
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
        actions.append(MarkRunning(container.id))
    if not obs.watching:
        actions.append(Watch(container.id))
    actions.append(Requeue(CHECK_EVERY))
    return actions


# -- applying ----------------------------------------------------------------------------------


def container_name(ctx: NodeContext, run: str) -> str:
    return f"winslow-{ctx.layout.uid[:8]}-{run}"


def labels(ctx: NodeContext, run: StageRun) -> dict[str, str]:
    return {
        "winslow.share": ctx.layout.uid,
        "winslow.project": run.spec.project,
        "winslow.stage": run.spec.stage,
        "winslow.stagerun": run.metadata.name,
        "winslow.node": ctx.name,
    }


def find_container(ctx: NodeContext, name: str) -> ContainerInfo | None:
    assert ctx.runtime is not None
    found = ctx.runtime.find(
        {"winslow.share": ctx.layout.uid, "winslow.stagerun": name, "winslow.node": ctx.name}
    )
    return found[0] if found else None


def observe(ctx: NodeContext, name: str) -> Observation:
    ctx.events.poll()
    record = ctx.events.state.runs.get(name)
    run: StageRun | None = None
    if record is not None and record.node == ctx.name and record.phase.active:
        try:
            run = ctx.layout.store.stagerun(name)
        except (NotFoundError, ManifestError, ValueError) as exc:
            log.info("cannot read the file of StageRun %s yet: %s", name, exc)
    kill = ctx.events.state.kills.get(lease_subject(name))
    watcher = ctx.watchers.get(name)
    return Observation(
        name=name,
        record=record,
        run=run,
        node=ctx.name,
        now=ctx.clock(),
        container=find_container(ctx, name),
        lease_mine=ctx.locks.held(lease_subject(name)),
        kill=kill,  # run names are never reused, and nodes' clocks may differ: no time check
        watching=watcher is not None and watcher.is_alive(),
    )


def reconcile(ctx: NodeContext, name: str) -> float | None:
    if ctx.runtime is None:
        return None
    if name in ctx.starting:
        return 0.5
    obs = observe(ctx, name)
    after: float | None = None
    for action in decide(obs):
        if isinstance(action, Requeue):
            after = action.after
        else:
            _apply(ctx, obs, action)
    return after


def _apply(ctx: NodeContext, obs: Observation, action: Action) -> None:
    assert ctx.runtime is not None
    record = obs.record
    now = datetime.fromtimestamp(ctx.clock(), UTC)
    if isinstance(action, Stop):
        log.info("stopping container %s of %s: %s", action.container_id[:12], obs.name, action.why)
        if record is not None:
            append_system_line(
                ctx.layout.log_file(record.project, obs.name), f"stopping the container: {action.why}"
            )
        ctx.runtime.stop(action.container_id, timeout=5)
        return
    if isinstance(action, Forget):
        _forget(ctx, obs.name)
        return
    assert record is not None
    logfile = ctx.layout.log_file(record.project, obs.name)
    if isinstance(action, Start):
        assert obs.run is not None
        start_soon(ctx, obs.run)
    elif isinstance(action, StartCreated):
        append_system_line(logfile, f"starting the container that {ctx.name} created before it restarted")
        try:
            ctx.runtime.start(action.container_id)
        except RuntimeFailure as exc:
            _record(ctx, obs.name, phase=StageRunPhase.FAILED, finish_time=now, message=str(exc))
            _forget(ctx, obs.name)
            ctx.queue.add(f"project:{record.project}")
    elif isinstance(action, MarkRunning):
        _record(ctx, obs.name, phase=StageRunPhase.RUNNING, container_id=action.container_id, start_time=now)
    elif isinstance(action, Watch):
        _watch(ctx, record.project, obs.name, action.container_id)
    elif isinstance(action, Finish):
        _drain_log(ctx, record.project, obs.name, obs.container)
        message = action.message
        if action.phase is StageRunPhase.FAILED and action.exit_code is not None:
            last = tail(logfile, 3)
            if last:
                message = (message + "; " if message else "") + "last log lines: " + " | ".join(last)
        _record(
            ctx, obs.name, phase=action.phase, exit_code=action.exit_code, finish_time=now, message=message
        )
        code = f" with exit code {action.exit_code}" if action.exit_code is not None else ""
        append_system_line(
            logfile,
            f"{action.phase.value}{code} on {ctx.name}{': ' + action.message if action.message else ''}",
        )
        log.info("StageRun %s %s%s", obs.name, action.phase.value, code)
        _forget(ctx, obs.name)
        ctx.queue.add(f"project:{record.project}")


def _drain_log(ctx: NodeContext, project: str, name: str, container: ContainerInfo | None) -> None:
    """The log must be whole before the result is recorded: wait for the streamer, or copy now."""
    watcher = ctx.watchers.pop(name, None)
    if watcher is not None:
        watcher.join(timeout=15)
    elif container is not None and ctx.runtime is not None:
        runtime, container_id = ctx.runtime, container.id
        Streamer(
            ctx.layout.log_file(project, name),
            lambda: runtime.logs(container_id),
            lambda: False,
            lambda: None,
        ).run()


def _forget(ctx: NodeContext, name: str) -> None:
    ctx.reservations.drop(name)
    watcher = ctx.watchers.pop(name, None)
    if watcher is not None:
        watcher.stopped.set()
    subject = lease_subject(name)
    if ctx.locks.holder(subject) == ctx.name:
        ctx.locks.release(subject)


def _record(ctx: NodeContext, name: str, **changes: Any) -> None:
    """Only while this node still holds the lease: after it, another node may have marked it Lost,
    and the log refuses a change to a run that has ended."""
    current = ctx.events.state.runs.get(name)
    if current is None or not ctx.locks.held(lease_subject(name)):
        raise RuntimeError(f"lost the lease of {name} before recording its state")
    new = replace(current, **changes)
    runfiles.record(ctx, new)
    runfiles.project(ctx, new)
    if new.phase is StageRunPhase.RUNNING and current.phase is StageRunPhase.PENDING:
        log.info("StageRun %s runs in container %s", name, (new.container_id or "?")[:12])


START_STALL_SECONDS = 60.0  # a start that makes no progress for this long is given up
CONTAINER_STALL_SECONDS = 600.0  # `docker run`, with a pull, reports no progress of its own
SHARE_RETRY_SECONDS = 5.0  # a start the share could not take (full, read-only) is tried again
SHARE_UNWRITABLE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


class _Attempt:
    """What one start is doing and since when, so that a stalled start can be told from a long
    one (a large workspace copy advances; a hung share or a pipe that never opens does not)."""

    def __init__(self) -> None:
        self.what = "preparing the workspace"
        self.since = time.monotonic()
        self.allowed = START_STALL_SECONDS
        self.abandoned = threading.Event()

    def step(self, what: str, allowed: float | None = None) -> None:
        self.what, self.since = what, time.monotonic()
        self.allowed = START_STALL_SECONDS if allowed is None else allowed

    def stalled(self) -> bool:
        return time.monotonic() - self.since > self.allowed


class _ShareUnwritable(Exception):
    """The share refused a write (full, quota, read-only) before the container started."""


def start_soon(ctx: NodeContext, run: StageRun) -> None:
    """Workspace copies and `docker run` happen on a thread of their own, so one slow start (a
    large workspace, a pull) never holds up the others; a supervisor gives up a start that makes
    no progress, with a line in the run's log, so a stalled one never holds anything for long.
    A share that cannot be written (full, read-only) leaves the run Pending with its lease: it
    starts when the share takes writes again."""
    name = run.metadata.name
    ctx.starting.add(name)
    attempt = _Attempt()
    done = threading.Event()
    retry = [0.0]

    def record_failure(message: str) -> None:
        try:
            retry[0] = _fail_start(ctx, run, message)
        except Exception:
            log.exception("could not record that %s did not start", name)

    def work() -> None:
        try:
            retry[0] = _start(ctx, run, attempt)
        except _ShareUnwritable as exc:
            if name not in _deferred:
                log.warning("not starting %s yet: %s; it starts when the share takes writes again", name, exc)
            _deferred.add(name)
            retry[0] = SHARE_RETRY_SECONDS
        except Exception as exc:
            if not attempt.abandoned.is_set():
                log.exception("starting %s failed", name)
                record_failure(f"could not start: {exc}")
        finally:
            done.set()

    def supervise() -> None:
        threading.Thread(target=work, name=f"start {name}", daemon=True).start()
        while not done.wait(0.5):
            if attempt.stalled():
                attempt.abandoned.set()
                message = (
                    f"could not start: no progress for {attempt.allowed:g}s while {attempt.what} "
                    "(a hung share or Docker engine?); resume the project to try again"
                )
                log.warning("giving up the start of %s: %s", name, message)
                record_failure(message)
                break
        if retry[0]:  # still "starting" meanwhile, so the reconciler does not start it again at once
            time.sleep(retry[0])
        ctx.starting.discard(name)
        ctx.queue.add(f"stagerun:{name}")

    threading.Thread(target=supervise, name=f"start-watch {name}", daemon=True).start()


_deferred: set[str] = set()  # runs whose start waits for a writable share (warned once each)


def _fail_start(ctx: NodeContext, run: StageRun, message: str) -> float:
    """A start that cannot succeed fails the run (the project pauses with the reason) instead of
    being retried in a loop. A share that cannot take that record yet (full, read-only) keeps
    the run Pending with its lease; returns how long to wait before the run is looked at again."""
    name = run.metadata.name
    now = datetime.fromtimestamp(ctx.clock(), UTC)
    try:
        append_system_line(ctx.layout.log_file(run.spec.project, name), message)
        _record(ctx, name, phase=StageRunPhase.FAILED, finish_time=now, message=message)
    except OSError as exc:
        if exc.errno not in SHARE_UNWRITABLE:
            _forget(ctx, name)
            raise
        if name not in _deferred:
            log.warning("cannot record that %s did not start (%s) yet: %s", name, message, exc)
        _deferred.add(name)
        return SHARE_RETRY_SECONDS
    except BaseException:
        _forget(ctx, name)
        raise
    _deferred.discard(name)
    _forget(ctx, name)
    ctx.queue.add(f"project:{run.spec.project}")
    return 0.0


def _start(ctx: NodeContext, run: StageRun, attempt: _Attempt | None = None) -> float:
    """Returns 0, or how long to wait before looking at a run whose failure could not be recorded."""
    assert ctx.runtime is not None
    attempt = attempt or _Attempt()
    layout = ctx.layout
    project, name = run.spec.project, run.metadata.name
    logfile = layout.log_file(project, name)
    source = run.spec.workspace.copy_of
    workspace = layout.stage_workspace(project, name)
    try:
        for folder in (layout.project_input(project), layout.project_output(project), layout.resources):
            folder.mkdir(parents=True, exist_ok=True)
        copying = f"copying the workspace of {source}" if source else "making the workspace"
        skipped = prepare(
            workspace,
            layout.stage_workspace(project, source) if source else None,
            lambda path: attempt.step(f"{copying} (at {path})"),
        )
        if skipped:
            shown = ", ".join(skipped[:20]) + (f" and {len(skipped) - 20} more" if len(skipped) > 20 else "")
            append_system_line(logfile, f"not copied into the workspace (special files): {shown}")
        devices, with_gpus = stage_gpus(ctx.config.capacity, run.status.gpus, run.spec.resources.gpu)
        append_system_line(
            logfile,
            f"starting {run.spec.image} on {ctx.name}{with_gpus} "
            f"(attempt {run.spec.attempt}, trigger {run.status.trigger.value})",
        )
    except OSError as exc:
        if exc.errno in SHARE_UNWRITABLE:
            raise _ShareUnwritable(f"{exc.strerror} ({exc.filename})") from None
        raise
    spec = ContainerSpec(
        name=container_name(ctx, name),
        image=run.spec.image,
        command=run.spec.command,
        args=run.spec.args,
        env=run.spec.env,
        mounts=[
            Mount(layout.resources, "/resources", read_only=True),
            Mount(layout.project_input(project), "/input", read_only=True),
            Mount(layout.project_output(project), "/output", read_only=False),
            Mount(workspace, "/workspace", read_only=False),
        ],
        labels=labels(ctx, run),
        cpu=run.spec.resources.cpu,
        memory=run.spec.resources.memory_bytes,
        gpus=devices,
    )
    if attempt.abandoned.is_set():
        return 0.0
    attempt.step(f"starting the container of {run.spec.image}", CONTAINER_STALL_SECONDS)
    try:
        container_id = ctx.runtime.run(spec)
    except (ImageNotFound, RuntimeFailure) as exc:
        return 0.0 if attempt.abandoned.is_set() else _fail_start(ctx, run, str(exc))
    if attempt.abandoned.is_set():  # given up meanwhile, and the run recorded as failed
        ctx.runtime.stop(container_id, timeout=5)
        return 0.0
    started = datetime.fromtimestamp(ctx.clock(), UTC)  # after any pull: the timeout counts the stage only
    try:
        _record(ctx, name, phase=StageRunPhase.RUNNING, container_id=container_id, start_time=started)
    except OSError as exc:
        # The container runs: never fail the run for a write. The reconciler sees a Pending run
        # with a running container and records it (MarkRunning) once the share takes writes.
        log.warning(
            "%s started in container %s, but its start could not be recorded (%s); "
            "it is recorded when the share takes writes again",
            name,
            container_id[:12],
            exc,
        )
    _deferred.discard(name)
    _watch(ctx, project, name, container_id)
    ctx.queue.add(f"project:{project}")
    return 0.0


def _watch(ctx: NodeContext, project: str, name: str, container_id: str) -> None:
    runtime = ctx.runtime
    assert runtime is not None

    def running() -> bool:
        info = runtime.inspect(container_id)
        return info is not None and info.state is not ContainerState.EXITED

    streamer = Streamer(
        ctx.layout.log_file(project, name),
        lambda: runtime.logs(container_id),
        running,
        lambda: ctx.queue.add(f"stagerun:{name}"),
    )
    ctx.watchers[name] = streamer
    streamer.start()


def adopt_all(ctx: NodeContext) -> list[str]:
    """At start: every active run the log says this node owns, to re-adopt or to record as ended
    (with the GPUs its record names), and every container of this node's, so that one whose run
    was marked Lost meanwhile is stopped."""
    assert ctx.runtime is not None
    names = [
        c.labels["winslow.stagerun"]
        for c in ctx.runtime.find({"winslow.share": ctx.layout.uid, "winslow.node": ctx.name})
        if c.state is not ContainerState.EXITED and "winslow.stagerun" in c.labels
    ]
    for record in list(ctx.events.state.runs.runs.values()):
        if record.node == ctx.name and record.phase.active:
            ctx.reservations.grant(record.name, record.request, list(record.gpus))
            names.append(record.name)
    return names
