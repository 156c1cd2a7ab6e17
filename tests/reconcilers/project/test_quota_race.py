"""Two nodes that decided at the same instant to start a run under one quota, each seeing it
with room: only the first creates; the second counts again under the quota's lock, finds the
first's run, and decides again (issue 22). On a real share folder with the real event log."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from tests.contexts import node_context
from tests.reconcilers.builders import make_project, observation
from winslow.controller.layout import ShareLayout
from winslow.controller.records import RunRecord
from winslow.controller.subjects import lock_subject, quota_subject
from winslow.reconcilers.project.actions import CreateRun
from winslow.reconcilers.project.apply import apply
from winslow.reconcilers.project.observe import ProjectContext
from winslow.resources.amount import Amount
from winslow.resources.quota import Quota
from winslow.resources.stagerun import RunMetadata, StageRun, StageRunSpec

QUOTA = Quota.model_validate(
    {"metadata": {"name": "gpu-alice"}, "spec": {"user": "alice", "hard": {"gpu": 1}}}
)


def creation(project: str) -> CreateRun:
    name = f"{project}.1.train"
    record = RunRecord(
        name=name,
        project=project,
        number=1,
        stage="train",
        index=0,
        node="",
        created=datetime.now(UTC),
        owner="alice",
        request=Amount(0.1, 32 << 20, 1),
    )
    run = StageRun(
        metadata=RunMetadata(name=name),
        spec=StageRunSpec(project=project, stage="train", index=0, image="img"),
        status=record.status(),
    )
    return CreateRun(run, record, (QUOTA,), {})


def test_the_second_of_two_nodes_that_decided_at_once_does_not_start_past_the_quota(tmp_path: Path) -> None:
    layout = ShareLayout(tmp_path)
    first, second = node_context(layout, "n1"), node_context(layout, "n2")
    decided = {}
    for ctx, project in ((first, "alice-1"), (second, "alice-2")):
        assert ctx.leases.acquire(lock_subject(project))
        action = creation(project)
        decided[project] = (ctx, replace(action, record=replace(action.record, node=ctx.name)))
    for project, (ctx, action) in decided.items():
        obs = replace(observation(make_project(), None, lock_mine=True), name=project, node=ctx.name)
        apply(ProjectContext(ctx), obs, [action])
    second.events.poll()
    active = second.events.view().runs.active()
    assert [r.project for r in active] == ["alice-1"], "one run: the quota of one GPU held"
    assert second.events.view().locks.holder(quota_subject("gpu-alice")) is None, "the quota's lock released"
