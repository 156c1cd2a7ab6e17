"""Small builders for pure reconciler tests: specs, runs and observations without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from winslow.controller.election import Election
from winslow.controller.events import Ballot
from winslow.controller.records import RunRecord
from winslow.reconcilers.project.observe import Observation
from winslow.resources.amount import Amount
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project, ProjectStatus
from winslow.resources.stagerun import StageRunPhase

T0 = 1_800_000_000.0
MONO = 5_000.0
FREE = Amount(4, 8 << 30, 0)


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
    n: int,
    stage: str,
    index: int,
    phase: str,
    *,
    t: float = T0,
    attempt: int = 1,
    node: str = "a",
    observed: float = 0.0,
    **status: Any,
) -> RunRecord:
    """A run as the log records it; its RECORD events come at positions 10n.., in run order."""
    fields = {
        "matrix": "matrix",
        "restart": "restart",
        "sweep": "sweep",
        "results": "results",
        "run_from": "run_from",
        "exitCode": "exit_code",
        "message": "message",
        "finishTime": "finish_time",
        "startTime": "start_time",
        "containerId": "container_id",
    }
    extra = {fields[k]: v for k, v in status.items()}
    for key in ("finish_time", "start_time"):
        if isinstance(extra.get(key), str):
            extra[key] = datetime.fromisoformat(extra[key])
    return RunRecord(
        name=f"proj.{n}.{stage}",
        project="proj",
        number=n,
        stage=stage,
        index=index,
        node=node,
        created=ts(t + n),
        phase=StageRunPhase(phase),
        attempt=attempt,
        seq=10 * n,
        phase_seq=10 * n,
        observed=observed,
        **extra,
    )


def observation(
    project: Project,
    pipeline: Pipeline | None,
    runs: list[RunRecord] = (),  # type: ignore[assignment]
    *,
    status: ProjectStatus | None = None,
    now: float = T0 + 100,
    mono: float = MONO,
    lock_mine: bool = False,
    result: Election | None = None,
    election_open: bool = False,
    holders: dict[str, str | None] | None = None,
    free: Amount = FREE,
) -> Observation:
    runs = list(runs)
    return Observation(
        name="proj",
        project=project,
        pipeline=pipeline,
        status=status,
        runs=runs,
        now=now,
        mono=mono,
        node="a",
        executes=True,
        lock_mine=lock_mine,
        run_holders=holders if holders is not None else {r.name: "a" for r in runs if r.phase.active},
        election_open=election_open,
        result=result,
        free=free,
        free_gpus=[],
        global_env={"G": "global", "P": "global"},
        lease_seconds=6.0,
    )


def won(node: str = "a", *, seq: int = 1000, stopped_ago: float = 0.01) -> Election:
    """An election closed `stopped_ago` seconds ago on this node's clock, started at log
    position `seq` (after every run the builders make unless told otherwise)."""
    return Election(
        subject="project/proj",
        starter=node,
        seq=seq,
        started=T0 + 99,
        duration=1.0,
        request=Amount(1, 0, 0),
        ballots={node: Ballot(True, 0.1, 0.1)},
        winner=node,
        stopped=T0 + 99.01,
        stop_seq=seq + 2,
        observed=MONO - stopped_ago - 0.01,
        stop_observed=MONO - stopped_ago,
    )
