"""Where a project stands and what it should run next: a pure function of spec and history.

History is the StageRuns as the event log records them (`controller.records`), never a listing
of their files; the project status is derived from them and is only a cache for readers, so a
node that dies between two writes leaves nothing inconsistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from winslow.controller.records import RunRecord
from winslow.resources.pipeline import Pipeline, StageSpec, WorkspaceMode
from winslow.resources.project import PipelineSnapshot, Project, ProjectPhase, StageRunRef
from winslow.resources.stagerun import StageRunPhase, Trigger


@dataclass(frozen=True)
class NextRun:
    index: int
    stage: StageSpec
    trigger: Trigger
    attempt: int
    source: str | None
    not_before: float = 0.0
    run_from: datetime | None = None
    confirm: datetime | None = None
    requested_by: str | None = None
    """The user whose resume or confirmation starts the run (None: automatic, or a hand edit)."""
    pipeline_changes: tuple[str, ...] = ()
    """What the resume that starts the run took over from the pipeline as it is now."""


@dataclass(frozen=True)
class Plan:
    phase: ProjectPhase
    reason: str
    current_stage: str | None = None
    snapshot: PipelineSnapshot | None = None
    next: NextRun | None = None
    gated: bool = False
    active: list[RunRecord] = field(default_factory=list)


def snapshot_for(
    project: Project, pipeline: Pipeline | None, existing: PipelineSnapshot | None
) -> PipelineSnapshot | None:
    """The started project's frozen pipeline; before the start, what it would freeze now.

    A project's own `stages:` list always wins: editing the project itself is deliberate,
    whereas editing a shared Pipeline must never reach projects that already started.
    """
    if project.spec.stages is not None:
        env = existing.env if existing else (pipeline.spec.env if pipeline else {})
        return PipelineSnapshot(name=project.spec.pipeline, env=env, stages=project.spec.stages)
    if existing is not None:
        return existing
    if pipeline is None or pipeline.metadata.name != project.spec.pipeline:
        return None
    return PipelineSnapshot.of(pipeline)


def refreshed(
    project: Project, pipeline: Pipeline | None, snapshot: PipelineSnapshot
) -> tuple[PipelineSnapshot, list[str]]:
    """The snapshot a resume runs and what it changed: the pipeline as it is now, so that a fix
    reaches a project that failed, unless the request keeps the old one."""
    request = project.spec.run_from
    if (
        (request is not None and request.keep_snapshot)
        or project.spec.stages is not None
        or pipeline is None
        or pipeline.metadata.name != project.spec.pipeline
    ):
        return snapshot, []
    fresh = PipelineSnapshot.of(pipeline)
    changes = snapshot.changes(fresh)
    return (fresh, changes) if changes else (snapshot, [])


def position(run: RunRecord, names: list[str]) -> int:
    """Where a run's stage stands in the current stage list: by name, since a project's own
    `stages:` may have been edited since the run (its recorded index is only a fallback)."""
    if run.stage in names:
        return names.index(run.stage)
    return min(run.index, len(names) - 1)


def current_line(runs: list[RunRecord], names: list[str]) -> dict[int, RunRecord]:
    """The latest successful run of each stage that no later rerun of an earlier stage superseded."""
    line: dict[int, RunRecord] = {}
    for run in runs:
        if run.stage not in names:
            continue
        index = position(run, names)
        for later in [i for i in line if i >= index]:
            del line[later]
        if run.phase is StageRunPhase.SUCCEEDED:
            line[index] = run
    return line


def _source(stages: list[StageSpec], index: int, line: dict[int, RunRecord]) -> tuple[str | None, str | None]:
    """(workspace source run, problem) for a new run of stage `index`."""
    stage = stages[index]
    mode = stage.workspace.mode
    if mode is WorkspaceMode.STANDALONE:
        return None, None
    if mode is WorkspaceMode.CONTINUATION:
        names = [s.name for s in stages]
        wanted = names.index(stage.workspace.from_stage or "")
        run = line.get(wanted)
        if run is None:
            return None, (
                f"stage {stage.name!r} continues {names[wanted]!r}, which has no successful run; "
                f"resume with --from {names[wanted]}"
            )
        return run.name, None
    if index == 0:
        return None, None
    previous = line.get(index - 1)
    if previous is None:
        before = stages[index - 1].name
        problem = f"stage {before!r} has no successful run to start {stage.name!r} from"
        return None, f"{problem}; resume with --from {before}"
    return previous.name, None


def ended_badly(runs: list[RunRecord]) -> bool:
    """The project's last run failed, was killed or lost: a plain resume reruns it."""
    return bool(runs) and runs[-1].phase in (StageRunPhase.FAILED, StageRunPhase.KILLED, StageRunPhase.LOST)


def _describe_end(run: RunRecord) -> str:
    detail = f": {run.message}" if run.message else ""
    if run.phase is StageRunPhase.FAILED:
        code = f" with exit code {run.exit_code}" if run.exit_code is not None else ""
        return f"stage {run.stage!r} failed{code}{detail}"
    if run.phase is StageRunPhase.KILLED:
        return f"stage {run.stage!r} was killed{detail}"
    return f"stage {run.stage!r} was lost{detail}"


def plan(
    project: Project,
    pipeline: Pipeline | None,
    snapshot: PipelineSnapshot | None,
    runs: list[RunRecord],
    observed_run_from: datetime | None,
    observed_confirm: datetime | None,
    pipeline_problem: str | None = None,
) -> Plan:
    """`pipeline_problem`: why the referenced pipeline cannot be used, when it exists but is invalid."""
    spec = project.spec
    snap = snapshot_for(project, pipeline, snapshot if runs else None)
    if snap is None:
        if pipeline_problem:
            return Plan(ProjectPhase.WAITING, f"{pipeline_problem}; it starts once the pipeline is fixed")
        return Plan(
            ProjectPhase.WAITING,
            f"pipeline {spec.pipeline!r} does not exist; apply it (winsctl apply -f PIPELINE.yaml)",
        )
    active = [r for r in runs if r.phase.active]
    if active:
        run = active[-1]
        reason = f"stage {run.stage!r} is running on {run.node}"
        if spec.paused:
            reason += "; the project pauses when it ends"
        return Plan(ProjectPhase.RUNNING, reason, run.stage, snap, active=active)

    request = spec.run_from
    pending_request = request is not None and (
        observed_run_from is None or request.requested_at > observed_run_from
    )
    changes: list[str] = []
    if pending_request and runs:
        snap, changes = refreshed(project, pipeline, snap)
    stages = snap.stages
    names = [s.name for s in stages]
    line = current_line(runs, names)
    last_index = position(runs[-1], names) if runs else 0
    last = runs[-1] if runs else None
    trigger, attempt, not_before = Trigger.AUTO, 1, 0.0
    requested_by: str | None = None
    index: int | None
    stopped_reason = ""

    if pending_request:
        assert request is not None
        if request.stage is not None:
            if request.stage not in names:
                return Plan(
                    ProjectPhase.FAILED,
                    f"spec.runFrom.stage: {request.stage!r} is not a stage of this project "
                    f"(stages: {', '.join(names)}); fix it, or resume with --from STAGE",
                    snapshot=snap,
                )
            index = names.index(request.stage)
        elif last is None or last.phase is not StageRunPhase.SUCCEEDED:
            index = last_index
        else:
            index = last_index + 1
        trigger, requested_by = Trigger.USER, request.by
    elif last is None:
        index, trigger = 0, Trigger.USER
    elif last.phase is StageRunPhase.SUCCEEDED:
        index = last_index + 1
    else:
        retry = stages[last_index].retry
        if last.phase is StageRunPhase.FAILED and retry and last.attempt <= retry.count:
            index, attempt = last_index, last.attempt + 1
            not_before = last.observed + retry.backoff_seconds  # this node's monotonic clock
        else:
            index = None
            stopped_reason = _describe_end(last)

    if index is None:
        assert last is not None
        # A kill pauses the project as well (api/server/routes/actions.kill): it then waits for a resume
        # as a paused project does, whereas a stage that failed or was lost fails the project.
        killed = spec.paused and last.phase is StageRunPhase.KILLED
        phase = ProjectPhase.PAUSED if killed else ProjectPhase.FAILED
        return Plan(
            phase,
            f"{stopped_reason}; resume with `winsctl resume {project.metadata.name}` "
            "(reruns it) or `--from STAGE`",
            last.stage,
            snapshot=snap,
        )
    if index >= len(stages):
        return Plan(ProjectPhase.SUCCEEDED, "all stages succeeded", snapshot=snap)

    stage = stages[index]
    source, problem = _source(stages, index, line)
    if problem:
        return Plan(ProjectPhase.FAILED, f"cannot start stage {stage.name!r}: {problem}", snapshot=snap)
    if spec.paused:
        return Plan(ProjectPhase.PAUSED, f"paused by the user before stage {stage.name!r}", stage.name, snap)

    confirm = spec.confirm
    confirmed_at = None
    confirmed_by_request = pending_request and request is not None and not request.by_token
    if stage.confirm and not confirmed_by_request and attempt == 1:
        fresh = confirm is not None and (observed_confirm is None or confirm.requested_at > observed_confirm)
        if not (fresh and confirm is not None and confirm.stage in (None, stage.name)):
            return Plan(
                ProjectPhase.WAITING,
                f"stage {stage.name!r} waits for confirmation: winsctl confirm {project.metadata.name}",
                stage.name,
                snap,
                gated=True,
            )
        confirmed_at, trigger = confirm.requested_at, Trigger.USER
        requested_by = confirm.by

    nxt = NextRun(
        index=index,
        stage=stage,
        trigger=trigger,
        attempt=attempt,
        source=source,
        not_before=not_before,
        run_from=request.requested_at if pending_request and request else None,
        confirm=confirmed_at,
        requested_by=requested_by,
        pipeline_changes=tuple(changes),
    )
    reason = f"starting stage {stage.name!r}"
    if attempt > 1:
        reason = f"retrying stage {stage.name!r} (attempt {attempt})"
    if changes:
        reason += f" with pipeline {snap.name!r} as it is now ({'; '.join(changes)})"
    return Plan(ProjectPhase.RUNNING, reason, stage.name, snap, next=nxt)


def refs(runs: list[RunRecord]) -> list[StageRunRef]:
    return [StageRunRef(name=r.name, stage=r.stage, phase=r.phase.value) for r in runs]


def run_from_problem(stages: list[StageSpec], runs: list[RunRecord], stage: str) -> str | None:
    """Why a rerun from `stage` cannot start now (the stage it copies its workspace from has no
    successful run), or None: asked before the request is accepted, not after it failed."""
    names = [s.name for s in stages]
    if stage not in names:
        return None
    _, problem = _source(stages, names.index(stage), current_line(runs, names))
    return problem
