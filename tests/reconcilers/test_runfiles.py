"""StageRun files follow their records on the log, even when a node died between the two writes."""

from dataclasses import replace
from datetime import UTC, datetime

from tests.contexts import node_context
from winslow.controller.records import RunRecord
from winslow.reconcilers import runfiles
from winslow.resources.stagerun import StageRun, StageRunPhase


def node(tmp_path, name="a"):
    return node_context(tmp_path / "share", name)


def test_a_file_left_behind_by_a_node_that_died_is_caught_up_after_its_restart(tmp_path):
    ctx = node(tmp_path)
    created = RunRecord(
        name="p.1.x", project="p", number=1, stage="x", index=0, node="a", created=datetime.now(UTC)
    )
    run = StageRun.model_validate(
        {"metadata": {"name": "p.1.x"}, "spec": {"project": "p", "stage": "x", "index": 0, "image": "i"}}
    )
    assert ctx.leases.acquire("project/p")
    ctx.layout.store.create_stagerun(run)
    runfiles.record(ctx, created, create=True)
    runfiles.record(ctx, replace(created, phase=StageRunPhase.SUCCEEDED))  # ... and died before the file
    assert ctx.layout.store.stagerun("p.1.x").status.phase is StageRunPhase.PENDING

    restarted = node(tmp_path)
    restarted.events.catch_up()
    runfiles.check_recent(restarted)
    assert list(restarted.unprojected) == ["p.1.x"]
    runfiles.reproject(restarted)
    assert restarted.layout.store.stagerun("p.1.x").status.phase is StageRunPhase.SUCCEEDED
    assert restarted.unprojected == {}
    other = node(tmp_path, "b")
    other.events.catch_up()
    runfiles.check_recent(other)
    assert other.unprojected == {}, "only the node that recorded it looks"
