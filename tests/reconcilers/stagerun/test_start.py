"""Starting a StageRun (reconcilers.stagerun.start, driven by its reconciler): a start that
stalls is given up with a line in the run's log, a share that refuses writes never fails a run,
and a run whose container started is never marked failed because its status could not be
written."""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.contexts import node_context
from tests.harness import wait_for
from winslow.controller.context import NodeContext
from winslow.controller.records import RunRecord
from winslow.controller.runtime import ContainerInfo, ContainerSpec, ContainerState, LogEntry
from winslow.controller.subjects import lease_subject, stagerun_key
from winslow.reconcilers import runfiles
from winslow.reconcilers.stagerun import StageRunReconciler, start
from winslow.resources.stagerun import StageRun, StageRunPhase

pytestmark = pytest.mark.timeout(30)
NAME = "p.1.a"


class FakeRuntime:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []

    def run(self, spec: ContainerSpec) -> str:
        self.started.append(spec.name)
        return f"c{len(self.started)}"

    def inspect(self, container_id: str) -> ContainerInfo | None:
        return ContainerInfo(container_id, container_id, {}, ContainerState.RUNNING)

    def logs(self, container_id: str, tail: int | None = None) -> Iterator[LogEntry]:
        return iter(())

    def stop(self, container_id: str, timeout: float = 10) -> None:
        self.stopped.append(container_id)

    def find(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return []


@pytest.fixture
def ctx(tmp_path: Path) -> NodeContext:
    return node_context(tmp_path / "share", "n", runtime=FakeRuntime())  # type: ignore[arg-type]


def pending(ctx: NodeContext) -> StageRun:
    """A run as the project reconciler leaves it: file, record on the log, lease held."""
    run = StageRun.model_validate(
        {
            "metadata": {"name": NAME},
            "spec": {"project": "p", "stage": "a", "index": 0, "image": "busybox"},
            "status": {"phase": "Pending", "node": "n"},
        }
    )
    ctx.layout.store.write_stagerun(run)
    record = RunRecord(
        name=NAME, project="p", number=1, stage="a", index=0, node="n", created=datetime.now(UTC)
    )
    assert ctx.leases.acquire("project/p")
    runfiles.record(ctx, record, create=True)
    assert ctx.leases.acquire(lease_subject(NAME))
    return run


def phase(ctx: NodeContext) -> StageRunPhase:
    ctx.events.poll()
    record = ctx.events.view().runs.get(NAME)
    assert record is not None
    return record.phase


def drive(reconciler: StageRunReconciler, until: Callable[[], object], what: str) -> None:
    """The loop, for one key: reconcile whenever it is due, until `until()` holds."""
    key = stagerun_key(NAME)

    def step() -> object:
        reconciler.reconcile(key)
        return until()

    wait_for(step, 10, what, interval=0.05)


def test_a_start_that_stalls_is_given_up_with_a_line_in_the_runs_log(
    ctx: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = threading.Event()

    def prepare(*_: Any, **__: Any) -> list[str]:
        stuck.wait(20)  # a share that hangs: no progress at all
        return []

    monkeypatch.setattr(start, "prepare", prepare)
    monkeypatch.setattr(start, "START_STALL_SECONDS", 0.5)
    pending(ctx)
    reconciler = StageRunReconciler(ctx)
    drive(reconciler, lambda: phase(ctx) is StageRunPhase.FAILED, "the stalled start to be given up")
    log = ctx.layout.log_file("p", NAME).read_text()
    assert "could not start: no progress for 0.5s while preparing the workspace" in log
    assert not ctx.leases.held(lease_subject(NAME)) and not ctx.reservations.holds(NAME)
    stuck.set()
    time.sleep(0.3)
    assert ctx.runtime.started == [], "a start given up never starts its container later"  # type: ignore[union-attr]


def test_a_full_share_before_the_container_starts_leaves_the_run_pending(
    ctx: NodeContext, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def prepare(*_: Any, **__: Any) -> list[str]:
        calls.append(1)
        raise OSError(errno.ENOSPC, "No space left on device", "workspaces/p/stages/p.1.a")

    monkeypatch.setattr(start, "prepare", prepare)
    pending(ctx)
    reconciler = StageRunReconciler(ctx)
    drive(reconciler, lambda: len(calls) >= 1 and not reconciler.own.starts.busy(NAME), "the attempt to end")
    reconciler.reconcile(stagerun_key(NAME))
    assert phase(ctx) is StageRunPhase.PENDING
    assert ctx.leases.held(lease_subject(NAME)), "the run keeps its lease: it starts when the share can"
    assert "could not start" not in caplog.text
    assert "it starts when the share takes writes again" in caplog.text


def test_a_container_that_started_is_never_failed_for_a_status_write(
    ctx: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending(ctx)
    monkeypatch.setattr(start, "prepare", lambda *_, **__: [])

    def full(*_: Any, **__: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runfiles, "record", full)
    reconciler = StageRunReconciler(ctx)
    drive(reconciler, lambda: ctx.runtime.started, "the container to start")  # type: ignore[union-attr]
    for _ in range(5):
        reconciler.reconcile(stagerun_key(NAME))
    assert not ctx.runtime.stopped  # type: ignore[union-attr]
    assert phase(ctx) is StageRunPhase.PENDING, "nothing could be recorded, and nothing was failed"
    assert ctx.leases.held(lease_subject(NAME))
