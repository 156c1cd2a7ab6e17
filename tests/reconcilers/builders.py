"""Small builders for pure reconciler tests: specs, runs and observations without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from winslow.controller.election import Election
from winslow.controller.events import Ballot, Request
from winslow.reconcilers import project as pr
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project, ProjectStatus
from winslow.resources.stagerun import StageRun

T0 = 1_800_000_000.0
FREE = Request(4, 8 << 30, 0)


def ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def make_pipeline(*names: str, **per_stage: dict[str, Any]) -> Pipeline:
    return Pipeline.model_validate(
        {
            "metadata": {"name": "pipe"},
            "spec": {
                "env": {"P": "pipeline"},
                "stages": [{"name": n, "image": "img", **per_stage.get(n, {})} for n in names],
            },
        }
    )


def make_project(**spec: Any) -> Project:
    return Project.model_validate({"metadata": {"name": "proj"}, "spec": {"pipeline": "pipe", **spec}})


def make_run(
    n: int, stage: str, index: int, phase: str, *, t: float = T0, attempt: int = 1, **status: Any
) -> StageRun:
    return StageRun.model_validate(
        {
            "metadata": {"name": f"proj.{n}.{stage}", "creationTimestamp": ts(t + n).isoformat()},
            "spec": {"project": "proj", "stage": stage, "index": index, "image": "img", "attempt": attempt},
            "status": {"phase": phase, "node": "a", **status},
        }
    )


def observation(
    project: Project,
    pipeline: Pipeline | None,
    runs: list[StageRun] = (),  # type: ignore[assignment]
    *,
    status: ProjectStatus | None = None,
    now: float = T0 + 100,
    lock_mine: bool = False,
    result: Election | None = None,
    election_open: bool = False,
    holders: dict[str, str | None] | None = None,
    free: Request = FREE,
) -> pr.Observation:
    runs = list(runs)
    return pr.Observation(
        name="proj",
        project=project,
        pipeline=pipeline,
        status=status,
        runs=runs,
        now=now,
        node="a",
        executes=True,
        lock_mine=lock_mine,
        run_holders=holders
        if holders is not None
        else {r.metadata.name: "a" for r in runs if r.status.phase.active},
        election_open=election_open,
        result=result,
        free=free,
        free_gpus=[],
        global_env={"G": "global", "P": "global"},
        lease_seconds=6.0,
    )


def won(node: str = "a", started: float = T0 + 99) -> Election:
    return Election(
        subject="project/proj",
        starter=node,
        started=started,
        deadline=started + 1,
        request=Request(1, 0, 0),
        ballots={node: Ballot(True, 0.1, 0.1)},
        winner=node,
        stopped=started + 0.01,
    )
