"""Where a project stands and what it should start now: a pure function of spec and history.

History is the StageRuns as the event log records them (`controller.records`), never a listing
of their files; the project status is derived from them and is only a cache for readers, so a
node that dies between two writes leaves nothing inconsistent.

The pipeline is a graph of stages (`resources.graph`); a stage that is a sweep has one unit per
combination of its matrix, any other stage one unit. The current pass through the graph is read
from the history (passes.py); from it come each stage's state,
the stages whose needs are done (each decided by its `when`, then held at its gate or started)
and the units to start now, in a stable order: every one of them is started by an election of
its own, one after the other, under the project's lock.

A failure stops new starts everywhere (the runs still going end as they will), except within a
sweep that says `failFast: false`, whose other combinations still all run. A resume reruns every
unit that failed, was killed or lost before it; `resume --from` begins a stage again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from winslow.controller.records import RunRecord
from winslow.reconcilers.project.passes import (
    ENDED_BADLY,
    Pass,
    StageView,
    combinations,
    current_pass,
    current_started,
    results_of,
    retries,
    stage_view,
    superseded,
)
from winslow.resources import conditions
from winslow.resources.graph import Graph, GraphError, State, readiness
from winslow.resources.matrix import label
from winslow.resources.pipeline import Pipeline, StageSpec, WorkspaceMode, stage_graph
from winslow.resources.project import PipelineSnapshot, Project, ProjectPhase, StageRequest, StageRunRef
from winslow.resources.stagerun import StageRunPhase, Trigger

_PHASE_WORDS = {
    State.NOT_STARTED: "Pending",
    State.RUNNING: "Running",
    State.FINISHED: "Succeeded",
    State.SKIPPED: "Skipped",
    State.FAILED: "Failed",
}


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
    matrix: Mapping[str, str] = field(default_factory=dict)
    restart: bool = False
    sweep: dict[str, list[str]] | None = None
    needs_results: Mapping[str, Any] = field(default_factory=dict)
    """WINSLOW_NEEDS_RESULTS: each needed stage's results (a sweep's: a list of {matrix, results})."""
    phase: StageRunPhase = StageRunPhase.PENDING
    """Skipped (its `when` is false) or Failed (its `when` could not be evaluated): recorded at
    once under the lock, without an election or a container."""
    message: str = ""

    @property
    def immediate(self) -> bool:
        return self.phase is not StageRunPhase.PENDING

    @property
    def what(self) -> str:
        combination = f" [{label(self.matrix)}]" if self.matrix else ""
        return f"stage {self.stage.name!r}{combination}"


@dataclass(frozen=True)
class Plan:
    phase: ProjectPhase
    reason: str
    current_stage: str | None = None
    snapshot: PipelineSnapshot | None = None
    starts: tuple[NextRun, ...] = ()
    """What may start now, in order; each pending one is elected for in turn."""
    gated: bool = False
    active: list[RunRecord] = field(default_factory=list)

    @property
    def next(self) -> NextRun | None:
        """The first to start: the one the next election is for."""
        return self.starts[0] if self.starts else None


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


def _describe_end(run: RunRecord) -> str:
    detail = f": {run.message}" if run.message else ""
    what = f"stage {run.stage!r}" + (f" [{label(run.matrix)}]" if run.matrix else "")
    if run.phase is StageRunPhase.FAILED:
        code = f" with exit code {run.exit_code}" if run.exit_code is not None else ""
        return f"{what} failed{code}{detail}"
    if run.phase is StageRunPhase.KILLED:
        return f"{what} was killed{detail}"
    return f"{what} was lost{detail}"


@dataclass(frozen=True)
class _Request:
    """The resume and confirmation a new run would take."""

    resume: StageRequest | None
    changes: tuple[str, ...]
    confirm: StageRequest | None


def plan(
    project: Project,
    pipeline: Pipeline | None,
    snapshot: PipelineSnapshot | None,
    runs: list[RunRecord],
    observed_run_from: datetime | None,
    observed_confirm: datetime | None,
    pipeline_problem: str | None = None,
    global_env: Mapping[str, str] | None = None,
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
    request = spec.run_from
    pending = request is not None and (observed_run_from is None or request.requested_at > observed_run_from)
    changes: list[str] = []
    if pending and runs:
        snap, changes = refreshed(project, pipeline, snap)
    try:
        shape = stage_graph(snap.stages)
    except GraphError as exc:
        return Plan(ProjectPhase.FAILED, f"the pipeline's stages are no valid graph: {exc}", snapshot=snap)
    stages = {s.name: s for s in snap.stages}
    if pending and request is not None and request.stage is not None and request.stage not in stages:
        return Plan(
            ProjectPhase.FAILED,
            f"spec.runFrom.stage: {request.stage!r} is not a stage of this project "
            f"(stages: {', '.join(stages)}); fix it, or resume with --from STAGE",
            snapshot=snap,
        )
    restart = request.stage if pending and request is not None else None
    if restart is not None:
        problem = run_from_problem(snap.stages, runs, restart)
        if problem:
            return Plan(ProjectPhase.FAILED, f"cannot rerun from stage {restart!r}: {problem}", restart, snap)
    current = current_pass(runs, shape, restart, request.matrix if restart and request else None)
    views = {name: stage_view(stages[name], current, superseded(runs, pending)) for name in shape.names}
    confirm = spec.confirm
    fresh_confirm = confirm is not None and (
        observed_confirm is None or confirm.requested_at > observed_confirm
    )
    asked = _Request(request if pending else None, tuple(changes), confirm if fresh_confirm else None)
    env = {**(global_env or {}), **snap.env}
    starts, gates = _starts(project, snap, shape, current, views, asked, env)
    active = [r for r in runs if r.phase.active]
    return _standing(project, snap, shape, views, starts, gates, active)


def _starts(
    project: Project,
    snap: PipelineSnapshot,
    shape: Graph,
    current: Pass,
    views: dict[str, StageView],
    asked: _Request,
    env: Mapping[str, str],
) -> tuple[list[NextRun], list[str]]:
    """The units to start now, in order, and the stages held at their gates."""
    stages = {s.name: s for s in snap.stages}
    ready = set(readiness(shape, {n: v.state for n, v in views.items()}).ready)
    halted = any(v.failed and (stages[n].fail_fast or v.state is State.FAILED) for n, v in views.items())
    if project.spec.paused or halted:
        return [], []
    starts: list[NextRun] = []
    gates: list[str] = []
    request, confirm = asked.resume, asked.confirm
    by_person = request is not None and not request.by_token
    for name in shape.order():
        stage, view = stages[name], views[name]
        if view.state not in (State.RUNNING, State.NOT_STARTED) or (
            view.state is State.NOT_STARTED and name not in ready
        ):
            continue
        index = shape.stage(name).index
        base = NextRun(index=index, stage=stage, trigger=Trigger.AUTO, attempt=1, source=None)
        if view.state is State.NOT_STARTED:
            decided = _condition(stage, current, views, stages, shape, env, project, base)
            if decided is not None:
                starts.append(decided)
                continue
            if stage.confirm and not by_person:
                if confirm is None or confirm.stage not in (None, name):
                    gates.append(name)
                    continue
                base = NextRun(
                    index=index,
                    stage=stage,
                    trigger=Trigger.USER,
                    attempt=1,
                    source=None,
                    confirm=confirm.requested_at,
                    requested_by=confirm.by,
                )
                confirm = None  # one confirmation opens one gate
        room = len(view.todo)
        if stage.max_parallel is not None:
            room = max(0, stage.max_parallel - len(view.active))
        for combo, before in view.todo[:room]:
            source, problem = _source(stage, shape, current, views, stages, combo)
            retry = before is not None and before.phase is StageRunPhase.FAILED and retries(stage, before)
            if problem:
                starts.append(_failed(base, combo, f"cannot start {base.what}: {problem}"))
                continue
            starts.append(
                NextRun(
                    index=index,
                    stage=stage,
                    trigger=base.trigger if before is None or retry else Trigger.USER,
                    attempt=before.attempt + 1 if retry and before is not None else 1,
                    source=source,
                    not_before=before.observed + stage.retry.backoff_seconds
                    if retry and before is not None and stage.retry
                    else 0.0,
                    confirm=base.confirm,
                    requested_by=base.requested_by,
                    matrix=combo,
                    needs_results=_needs_results(shape, name, views, stages),
                )
            )
            base = NextRun(index=index, stage=stage, trigger=base.trigger, attempt=1, source=None)
    if request is not None:
        return _consumer(starts, request, asked.changes), gates
    if not current_started(current) and starts:  # the first run of a project: its user's start
        starts[0] = replace(starts[0], trigger=Trigger.USER)
    return starts, gates


def _consumer(starts: list[NextRun], request: StageRequest, changes: tuple[str, ...]) -> list[NextRun]:
    """A resume is taken by one run: the first of the stage it names (none yet, while that stage
    waits at its gate), else the first of all; the runs after it follow from the history it begins."""
    if request.stage is not None:
        starts = [s for s in starts if s.stage.name == request.stage]
    if not starts:
        return []
    taking = replace(
        starts[0],
        trigger=Trigger.USER,
        requested_by=request.by,
        run_from=request.requested_at,
        pipeline_changes=changes,
        restart=request.stage is not None,
        sweep=request.matrix if request.stage is not None else None,
        not_before=0.0,
    )
    return [taking]


def _failed(base: NextRun, combo: dict[str, str], message: str) -> NextRun:
    return replace(base, matrix=combo, phase=StageRunPhase.FAILED, message=message)


def _condition(
    stage: StageSpec,
    current: Pass,
    views: dict[str, StageView],
    stages: dict[str, StageSpec],
    shape: Graph,
    env: Mapping[str, str],
    project: Project,
    base: NextRun,
) -> NextRun | None:
    """A record of the stage decided by its `when` (Skipped, or Failed with why), or None to run it."""
    if stage.when is None:
        return None
    results = {n: results_of(stages[n], v) for n, v in views.items() if v.state is State.FINISHED}
    phases = {n: _PHASE_WORDS[v.state] for n, v in views.items()}
    try:
        run = conditions.evaluate(stage.when, results, {**env, **stage.env, **project.spec.env}, phases)
    except conditions.ConditionError as exc:
        return _failed(base, {}, f"when: {exc}")
    if run:
        return None
    return replace(
        base,
        phase=StageRunPhase.SKIPPED,
        message=f"skipped: `{stage.when}` is false",
        needs_results=_needs_results(shape, stage.name, views, stages),
    )


def _needs_results(
    shape: Graph, name: str, views: dict[str, StageView], stages: dict[str, StageSpec]
) -> dict[str, Any]:
    """What the stages this one needs reported (a skipped need reported nothing)."""
    return {
        need: results_of(stages[need], views[need])
        for need in shape.stage(name).needs
        if views[need].state is State.FINISHED
    }


def _source(
    stage: StageSpec,
    shape: Graph,
    current: Pass,
    views: dict[str, StageView],
    stages: dict[str, StageSpec],
    combo: dict[str, str],
) -> tuple[str | None, str | None]:
    """(workspace source run, problem) for a new run of one unit of the stage."""
    mode = stage.workspace.mode
    if mode is WorkspaceMode.STANDALONE:
        return None, None
    if mode is WorkspaceMode.CONTINUATION:
        wanted = stage.workspace.from_stage or ""
    else:
        ran = [n for n in shape.stage(stage.name).needs if views[n].state is not State.SKIPPED]
        if not ran:
            return None, None  # it needs nothing, or only stages that were skipped: it starts empty
        wanted = ran[0]
    done = [r for r in current.runs(wanted) if r.phase is StageRunPhase.SUCCEEDED]
    same = [r for r in done if all(combo.get(k, v) == v for k, v in r.matrix.items())]
    if not done:
        verb = "continues" if mode is WorkspaceMode.CONTINUATION else "starts from"
        return None, (
            f"stage {stage.name!r} {verb} {wanted!r}, which has no successful run to copy; "
            f"resume with --from {wanted}"
        )
    return max(same or done, key=lambda r: r.seq).name, None


def _standing(
    project: Project,
    snap: PipelineSnapshot,
    shape: Graph,
    views: dict[str, StageView],
    starts: list[NextRun],
    gates: list[str],
    active: list[RunRecord],
) -> Plan:
    """The project's phase and reason, naming every stage that runs, waits or failed."""
    name = project.metadata.name
    order = shape.order()
    failed = [r for n in order for r in views[n].failed]
    running = [n for n in order if views[n].active]
    gate_words = [f"stage {g!r} waits for confirmation: winsctl confirm {name}" for g in gates]
    if active:
        parts = [_running_words(n, views[n]) for n in running] + gate_words
        if failed:
            parts.append("; ".join(_describe_end(r) for r in failed) + "; nothing new starts until a resume")
        elif starts and not project.spec.paused:
            parts.append(_starting_words(starts))
        reason = "; ".join(parts)
        if project.spec.paused:
            reason += (
                "; the project pauses when they end"
                if len(active) > 1
                else "; the project pauses when it ends"
            )
        current = running[0] if running else active[-1].stage
        return Plan(ProjectPhase.RUNNING, reason, current, snap, tuple(starts), bool(gates), active)
    if failed and not starts:  # (a sweep with failFast false still starts its other combinations)
        killed = project.spec.paused and all(r.phase is StageRunPhase.KILLED for r in failed)
        # A kill pauses the project as well (api/server/routes/actions.kill): it then waits for a
        # resume as a paused project does, whereas a stage that failed or was lost fails the project.
        return Plan(
            ProjectPhase.PAUSED if killed else ProjectPhase.FAILED,
            "; ".join(_describe_end(r) for r in failed)
            + f"; resume with `winsctl resume {name}` (reruns it) or `--from STAGE`",
            failed[0].stage,
            snap,
        )
    if project.spec.paused:
        pending = [n for n in order if views[n].state in (State.NOT_STARTED, State.RUNNING)]
        if pending:
            return Plan(
                ProjectPhase.PAUSED, f"paused by the user before stage {pending[0]!r}", pending[0], snap
            )
    if starts:
        ended = ["; ".join(_describe_end(r) for r in failed)] if failed else []
        reason = "; ".join([_starting_words(starts), *gate_words, *ended])
        return Plan(ProjectPhase.RUNNING, reason, starts[0].stage.name, snap, tuple(starts), bool(gates))
    if gates:
        return Plan(ProjectPhase.WAITING, "; ".join(gate_words), gates[0], snap, gated=True)
    if all(views[n].state in (State.FINISHED, State.SKIPPED) for n in order):
        skipped = [n for n in order if views[n].state is State.SKIPPED]
        tail = f" (skipped: {', '.join(skipped)})" if skipped else ""
        return Plan(ProjectPhase.SUCCEEDED, f"all stages succeeded{tail}", snapshot=snap)
    waiting = [n for n in order if views[n].state is State.NOT_STARTED]
    return Plan(ProjectPhase.WAITING, f"stages {', '.join(waiting)} wait for their needs", snapshot=snap)


def _running_words(name: str, view: StageView) -> str:
    nodes = ", ".join(dict.fromkeys(r.node for r in view.active))
    if len(view.combos) > 1:
        return (
            f"stage {name!r} runs {len(view.active)} of {len(view.combos)} combinations on {nodes} "
            f"({len(view.done)} done)"
        )
    return f"stage {name!r} is running on {nodes}"


def _starting_words(starts: list[NextRun]) -> str:
    first = starts[0]
    if first.attempt > 1:
        words = f"retrying {first.what} (attempt {first.attempt})"
    else:
        words = f"starting {first.what}"
    if len(starts) > 1:
        words += f" and {len(starts) - 1} more"
    if first.pipeline_changes:
        words += f" with the pipeline as it is now ({'; '.join(first.pipeline_changes)})"
    return words


def refs(runs: list[RunRecord]) -> list[StageRunRef]:
    return [StageRunRef(name=r.name, stage=r.stage, phase=r.phase.value) for r in runs]


def all_done(stages: list[StageSpec], runs: list[RunRecord]) -> bool:
    """Every stage of the current pass succeeded or was skipped: a plain trigger runs it again."""
    try:
        shape = stage_graph(stages)
    except GraphError:
        return False
    current = current_pass(runs, shape)
    by_name = {s.name: s for s in stages}
    return bool(runs) and all(
        stage_view(by_name[n], current, 0).state in (State.FINISHED, State.SKIPPED) for n in shape.names
    )


def ended_badly(stages: list[StageSpec], runs: list[RunRecord]) -> bool:
    """A unit of the current pass failed, was killed or lost: a plain resume reruns it."""
    try:
        shape = stage_graph(stages)
    except GraphError:
        return bool(runs) and runs[-1].phase in ENDED_BADLY
    current = current_pass(runs, shape)
    return any(r.phase in ENDED_BADLY for n in shape.names for r in current.runs(n))


def run_from_problem(stages: list[StageSpec], runs: list[RunRecord], stage: str) -> str | None:
    """Why a rerun from `stage` cannot start now (a stage it needs, or copies its workspace from,
    is not done), or None: asked before the request is accepted, not after it failed."""
    by_name = {s.name: s for s in stages}
    if stage not in by_name:
        return None
    try:
        shape = stage_graph(stages)
    except GraphError as exc:
        return str(exc)
    current = current_pass(runs, shape, restart=stage)
    views = {n: stage_view(by_name[n], current, 0) for n in shape.names}
    undone = [n for n in shape.stage(stage).needs if views[n].state not in (State.FINISHED, State.SKIPPED)]
    if undone:
        return f"it needs {', '.join(map(repr, undone))}, not done yet; resume with --from {undone[0]}"
    combos = combinations(by_name[stage], current)
    _, problem = _source(by_name[stage], shape, current, views, by_name, combos[0])
    return problem
