"""A new StageRun, as the node that won its election creates it: its record and its frozen spec.

A run has one model of its state, the record on the log (controller.records.RunRecord). The
StageRun file holds what the stage was started with (image, command, env, resources) and, as
its status, the record's projection (`RunRecord.status`); what both name (project, stage,
attempt, requests) is taken from the record."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from winslow.controller.records import RunRecord
from winslow.reconcilers.project.actions import CreateRun
from winslow.reconcilers.project.observe import Observation
from winslow.reconcilers.project.plan import NextRun
from winslow.resources.amount import Amount
from winslow.resources.project import PipelineSnapshot
from winslow.resources.stagerun import (
    RunMetadata,
    StageRun,
    StageRunSpec,
    WorkspaceSource,
    stagerun_name,
)


def merged_env(
    obs: Observation, snap: PipelineSnapshot, next_run: NextRun, name: str, gpus: list[int]
) -> dict[str, str]:
    """Lowest first: settings/env.yaml, pipeline env, stage env, project env, the combination of
    a sweep; then Winslow's own."""
    assert obs.project is not None
    res = next_run.stage.resources
    return {
        **obs.global_env,
        **snap.env,
        **next_run.stage.env,
        **obs.project.spec.env,
        **next_run.matrix,
        "WINSLOW_PROJECT": obs.name,
        "WINSLOW_STAGE": next_run.stage.name,
        "WINSLOW_STAGE_RUN": name,
        "WINSLOW_NODE": obs.node,
        "WINSLOW_CPUS": f"{res.cpu:g}",
        "WINSLOW_MEMORY": str(res.memory_bytes),
        "WINSLOW_GPUS": ",".join(str(g) for g in gpus),
        "WINSLOW_NEEDS_RESULTS": json.dumps(next_run.needs_results, sort_keys=True),
    }


def build_run(
    obs: Observation, snap: PipelineSnapshot, next_run: NextRun, number: int, nth: int = 0
) -> CreateRun:
    """The GPUs are chosen here, once: the run's record carries them to the reservation, to the
    container and, after a restart, back to the reservation. A run decided by its stage's
    condition (Skipped, or Failed) never runs: it is created ended, with no node's resources.
    `nth`: its place among the runs this decision creates, each of which needs its own uid."""
    name = stagerun_name(obs.name, number, next_run.stage.name)
    runs = not next_run.immediate
    gpus = obs.free_gpus[: next_run.stage.resources.gpu] if runs else []
    stage = next_run.stage
    created = datetime.fromtimestamp(obs.now, UTC)
    record = RunRecord(
        name=name,
        project=obs.name,
        number=number,
        stage=stage.name,
        index=next_run.index,
        node=obs.node,
        created=created,
        attempt=next_run.attempt,
        trigger=next_run.trigger,
        triggered_by=next_run.requested_by,
        run_from=next_run.run_from,
        confirmed=next_run.confirm,
        copy_of=next_run.source,
        gpus=tuple(gpus),
        request=stage.resources.amount if runs else Amount(),
        project_uid=obs.project.metadata.uid if obs.project else None,
        owner=obs.project.spec.owner if obs.project else None,
        matrix=dict(next_run.matrix),
        restart=next_run.restart,
        sweep=next_run.sweep,
        phase=next_run.phase,
        message=next_run.message,
        finish_time=None if runs else created,
    )
    run = StageRun(
        metadata=RunMetadata(name=name, uid=f"{obs.new_uid}{nth or ''}", creation_timestamp=created),
        spec=StageRunSpec(
            project=record.project,
            project_uid=record.project_uid,
            stage=record.stage,
            index=record.index,
            image=stage.image,
            command=stage.command,
            args=stage.args,
            env=merged_env(obs, snap, next_run, name, gpus),
            resources=stage.resources,
            workspace=WorkspaceSource(mode=stage.workspace.mode, copy_of=next_run.source),
            attempt=record.attempt,
            timeout_seconds=stage.timeout_seconds,
            progress=stage.progress,
            log_parsers=list(stage.log_parsers),
            run_from=record.run_from,
            confirmed=record.confirmed,
            pipeline_changes=list(next_run.pipeline_changes),
        ),
        status=record.status(),  # one model: the file's status is the record's projection
    )
    quotas = tuple(use.quota for use in obs.quotas) if runs else ()
    return CreateRun(run, record, quotas, obs.groups)
