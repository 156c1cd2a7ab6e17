"""The loop thread never waits for a log: a stage whose output drains slowly (a loud container,
a slow share) is copied on its own thread while the loop goes on serving every other key."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.contexts import node_context
from tests.harness import wait_for
from winslow.controller.context import NodeContext
from winslow.controller.loop import LoopRunner
from winslow.controller.reconciler import Key, Result
from winslow.controller.records import RunRecord
from winslow.controller.runtime import ContainerInfo, ContainerSpec, ContainerState, LogEntry
from winslow.controller.subjects import lease_subject, lock_subject, stagerun_key
from winslow.reconcilers import runfiles
from winslow.reconcilers.stagerun import StageRunReconciler
from winslow.resources.stagerun import StageRun, StageRunPhase

pytestmark = pytest.mark.timeout(60)
SLOW, FAST = "slow.1.a", "fast.1.a"


class Runtime:
    """Containers that end as soon as they start; the slow one's output arrives only once the
    test lets it (`released`), as a log that takes minutes to copy would."""

    def __init__(self) -> None:
        self.containers: dict[str, ContainerInfo] = {}
        self.released = threading.Event()
        self.slow_reads = 0

    def run(self, spec: ContainerSpec) -> str:
        cid = f"c-{spec.labels['winslow.stagerun']}"
        self.containers[cid] = ContainerInfo(
            cid, spec.name, dict(spec.labels), ContainerState.EXITED, 0, False, time.time()
        )
        return cid

    def inspect(self, container_id: str) -> ContainerInfo | None:
        return self.containers.get(container_id)

    def find(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return [c for c in self.containers.values() if labels.items() <= c.labels.items()]

    def wait(self, container_id: str) -> None:
        return None

    def logs(self, container_id: str, tail: int | None = None) -> Iterator[LogEntry]:
        if container_id == f"c-{SLOW}":
            self.slow_reads += 1
            self.released.wait(30)
        yield LogEntry("2026-12-04T00:00:00.000000000Z", b"done\n")

    def stop(self, container_id: str, timeout: float = 10) -> None:
        return None

    def remove(self, container_id: str) -> None:
        self.containers.pop(container_id, None)


class Projects:
    """Stands in for the Project reconciler: what a finished run wakes is served, and counted."""

    kind = "project"

    def __init__(self) -> None:
        self.served: list[str] = []

    def wakes(self, event: object) -> list[Key]:
        return []

    def due(self, now: float) -> list[Key]:
        return []

    def lease_key(self, subject: str) -> Key | None:
        return None

    def reconcile(self, key: Key) -> Result:
        self.served.append(key.name)
        return Result.done()


def pending(ctx: NodeContext, name: str) -> None:
    """A run as the project reconciler leaves it: file, record on the log, lease held."""
    project = name.partition(".")[0]
    ctx.layout.store.write_stagerun(
        StageRun.model_validate(
            {
                "metadata": {"name": name},
                "spec": {"project": project, "stage": "a", "index": 0, "image": "busybox"},
                "status": {"phase": "Pending", "node": ctx.name},
            }
        )
    )
    record = RunRecord(
        name=name, project=project, number=1, stage="a", index=0, node=ctx.name, created=datetime.now(UTC)
    )
    assert ctx.leases.acquire(lock_subject(project))
    runfiles.record(ctx, record, create=True)
    ctx.leases.release(lock_subject(project))
    assert ctx.leases.acquire(lease_subject(name))


def phase(ctx: NodeContext, name: str) -> StageRunPhase | None:
    record = ctx.events.view().runs.get(name)
    return record.phase if record is not None else None


def test_the_loop_serves_other_keys_while_one_stages_log_drains_slowly(tmp_path: Path) -> None:
    runtime = Runtime()
    ctx = node_context(tmp_path / "share", "n", runtime=runtime)  # type: ignore[arg-type]
    pending(ctx, SLOW)
    pending(ctx, FAST)
    projects = Projects()
    loop = LoopRunner(ctx.queue, [StageRunReconciler(ctx), projects], duties=[ctx.events.poll], tick=0.05)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        ctx.queue.add(stagerun_key(SLOW))
        wait_for(lambda: runtime.slow_reads > 0, 10, "the slow stage's log copy to begin")
        ctx.queue.add(stagerun_key(FAST))
        wait_for(lambda: phase(ctx, FAST) is StageRunPhase.SUCCEEDED, 10, "the other stage to finish")
        assert phase(ctx, SLOW) is StageRunPhase.RUNNING, "still waiting for its log, and only it waits"
        wait_for(lambda: "fast" in projects.served, 10, "the project the finished stage woke to be served")
        assert not runtime.released.is_set()
        runtime.released.set()
        wait_for(
            lambda: phase(ctx, SLOW) is StageRunPhase.SUCCEEDED, 10, "the slow stage, once its log is in"
        )
        log = ctx.layout.log_file("slow", SLOW).read_text().splitlines()
        assert log[-2:] == ["done", log[-1]] and "Succeeded" in log[-1], "its whole log, then the result"
    finally:
        runtime.released.set()
        loop.stopping.set()
        thread.join(5)
