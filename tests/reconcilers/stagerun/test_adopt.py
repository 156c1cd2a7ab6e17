"""reconcilers.stagerun.adopt: what a restarted node finds of the runs its previous process left."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.contexts import node_context
from winslow.controller.records import RunRecord
from winslow.controller.runtime import ContainerInfo
from winslow.controller.subjects import lease_subject
from winslow.reconcilers import runfiles
from winslow.reconcilers.stagerun.adopt import adopt_all
from winslow.resources.stagerun import StageRun


class NoContainers:
    def find(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return []


def _run(name: str) -> StageRun:
    return StageRun.model_validate(
        {"metadata": {"name": name}, "spec": {"project": "p", "stage": "x", "index": 0, "image": "i"}}
    )


def test_a_run_killed_between_its_file_and_its_record_is_forgotten_and_a_recorded_one_adopted(tmp_path):
    """Before: the restarted node kept extending the lease of a run the log never recorded, and
    its file stayed, Pending, beside the run the project created instead (seen in the chaos test)."""
    killed = node_context(tmp_path / "share", "a")
    recorded = RunRecord(
        name="p.1.x", project="p", number=1, stage="x", index=0, node="a", created=datetime.now(UTC)
    )
    assert killed.leases.acquire("project/p") and killed.leases.acquire(lease_subject("p.1.x"))
    assert killed.layout.store.create_stagerun(_run("p.1.x"))
    runfiles.record(killed, recorded, create=True)
    assert killed.leases.acquire(lease_subject("p.2.x")) and killed.layout.store.create_stagerun(
        _run("p.2.x")
    )
    # SIGKILL here: p.2.x has its file and its lease, and no record

    ctx = node_context(killed.layout, "a", runtime=NoContainers())  # type: ignore[arg-type]
    ctx.events.catch_up()
    keys = adopt_all(ctx)

    ctx.events.poll()
    assert [k.name for k in keys] == ["p.1.x"]
    assert ctx.leases.holder(lease_subject("p.1.x")) == "a"
    assert ctx.leases.holder(lease_subject("p.2.x")) is None
    assert not ctx.layout.store.stagerun_path("p.2.x").exists()
    assert ctx.layout.store.stagerun_path("p.1.x").exists()
