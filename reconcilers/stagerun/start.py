"""Starting a StageRun's container, off the loop thread: a workspace copy of tens of GB or an
image pull never holds up the other runs' transitions.

A start thread only does the slow work (workspace, `docker run`) and hands what it found to the
loop as an Outcome; it never records anything or touches the node's state, which only the loop
thread changes. A supervisor gives up a start that makes no progress, so a hung share or a pipe
that never opens never holds anything for long. A share that refuses a write before the
container starts (full, read-only) leaves the run Pending with its lease; the loop tries again.

Thread use: `begin`, `peek` and `take` on the loop thread; the start and supervisor threads post
outcomes through a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from winslow.controller.capacity import stage_gpus
from winslow.controller.context import NodeContext
from winslow.controller.reconciler import Key
from winslow.controller.runtime import ContainerSpec, ImageNotFound, Mount, RuntimeFailure
from winslow.controller.stagelogs import append_system_line
from winslow.controller.workspace import prepare
from winslow.reconcilers.stagerun.containers import container_name, labels
from winslow.resources.errors import SHARE_UNWRITABLE
from winslow.resources.stagerun import StageRun

log = logging.getLogger(__name__)

START_STALL_SECONDS = 60.0  # a start that makes no progress for this long is given up
CONTAINER_STALL_SECONDS = 600.0  # `docker run`, with a pull, reports no progress of its own


@dataclass(frozen=True)
class Outcome:
    """What a start found: a container, a failure to record, or a share to wait for."""

    container_id: str | None = None
    started: datetime | None = None
    failure: str | None = None
    deferred: str | None = None


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


class Starts:
    """The starts in progress and the outcomes they left for the loop."""

    def __init__(self, ctx: NodeContext, key: Callable[[str], Key]) -> None:
        self.ctx = ctx
        self.key = key
        self._busy: set[str] = set()
        self._outcomes: dict[str, Outcome] = {}
        self._lock = threading.Lock()

    def busy(self, name: str) -> bool:
        with self._lock:
            return name in self._busy

    def peek(self, name: str) -> Outcome | None:
        """The outcome waiting for the loop; it stays until `take` says it was recorded."""
        with self._lock:
            return self._outcomes.get(name)

    def take(self, name: str) -> Outcome | None:
        with self._lock:
            return self._outcomes.pop(name, None)

    def begin(self, run: StageRun) -> None:
        name = run.metadata.name
        with self._lock:
            self._busy.add(name)
        attempt = _Attempt()
        done = threading.Event()
        found: list[Outcome] = []

        def work() -> None:
            try:
                found.append(run_container(self.ctx, run, attempt))
            except _ShareUnwritable as exc:
                found.append(Outcome(deferred=str(exc)))
            except Exception as exc:
                log.exception("starting %s failed", name)
                found.append(Outcome(failure=f"could not start: {exc}"))
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
                    found.append(Outcome(failure=message))
                    break
            with self._lock:
                self._outcomes[name] = found[-1] if found else Outcome(failure="could not start")
                self._busy.discard(name)
            self.ctx.queue.add(self.key(name))

        threading.Thread(target=supervise, name=f"start-watch {name}", daemon=True).start()


def run_container(ctx: NodeContext, run: StageRun, attempt: _Attempt | None = None) -> Outcome:
    """The workspace, then the container; what it found, never recorded here."""
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
        pids=run.spec.resources.pids,
        time_limit=run.spec.timeout_seconds,
    )
    if attempt.abandoned.is_set():
        return Outcome(failure="given up")
    attempt.step(f"starting the container of {run.spec.image}", CONTAINER_STALL_SECONDS)
    if ctx.fence is not None:
        ctx.fence.refresh()  # the watchdog knows the run's lease before its container exists
    try:
        container_id = ctx.runtime.run(spec)
    except (ImageNotFound, RuntimeFailure) as exc:
        return Outcome(failure=str(exc))
    if attempt.abandoned.is_set():  # given up meanwhile, and its failure handed over
        ctx.runtime.stop(container_id, timeout=5)
        return Outcome(failure="given up")
    # after any pull: a timeout counts the stage only
    return Outcome(container_id=container_id, started=datetime.fromtimestamp(ctx.clock(), UTC))
