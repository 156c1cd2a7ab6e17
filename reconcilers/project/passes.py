"""The current pass through a project's pipeline graph, read from its history: each stage's
current run per unit (a sweep's combination, or the stage as a whole), and what that makes of
the stage (its state for the graph, what of it may start, what failed).

A run replaces its unit's earlier run and ends the pass of every stage after its own (they ran
on what it replaces); a run that began its stage again (`restart`, from `resume --from`) also
ends its own stage's pass. Pure: the planner (plan.py) and the API's checks read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from winslow.controller.records import RunRecord
from winslow.resources.graph import Graph, State
from winslow.resources.matrix import expand
from winslow.resources.pipeline import StageSpec
from winslow.resources.stagerun import StageRunPhase

Unit = frozenset[tuple[str, str]]
"""One combination of a sweep's variables (empty for a stage that is no sweep)."""

WHOLE: Unit = frozenset()
ENDED_BADLY = (StageRunPhase.FAILED, StageRunPhase.KILLED, StageRunPhase.LOST)


def unit_of(matrix: Mapping[str, str]) -> Unit:
    return frozenset(matrix.items())


@dataclass
class Pass:
    """The current pass through the graph: each stage's current run per unit, and the values a
    `resume --from --matrix` swept a stage over."""

    units: dict[str, dict[Unit, RunRecord]]
    sweeps: dict[str, dict[str, list[str]]]

    def runs(self, stage: str) -> list[RunRecord]:
        return list(self.units.get(stage, {}).values())


def current_pass(
    runs: list[RunRecord], shape: Graph, restart: str | None = None, sweep: dict[str, list[str]] | None = None
) -> Pass:
    """`restart`: a `resume --from` not yet taken: its stage's pass ends here as if it were."""
    units: dict[str, dict[Unit, RunRecord]] = {name: {} for name in shape.names}
    sweeps: dict[str, dict[str, list[str]]] = {}

    def begin_after(stage: str, itself: bool, values: dict[str, list[str]] | None) -> None:
        for later in shape.downstream(stage):
            units[later] = {}
            sweeps.pop(later, None)
        if itself:
            units[stage] = {}
            sweeps.pop(stage, None)
            if values is not None:
                sweeps[stage] = values

    for run in runs:
        if run.stage not in units:
            continue  # a stage since removed from the pipeline
        begin_after(run.stage, run.restart, run.sweep)
        units[run.stage][unit_of(run.matrix)] = run
    if restart is not None and restart in units:
        begin_after(restart, True, sweep)
    return Pass(units, sweeps)


def current_started(current: Pass) -> bool:
    return any(current.units.values())


def combinations(stage: StageSpec, current: Pass) -> list[dict[str, str]]:
    values = current.sweeps.get(stage.name)
    return expand(values) if values is not None else stage.combinations()


@dataclass(frozen=True)
class StageView:
    """One stage in the current pass: its state for the graph, and what of it may start."""

    state: State
    combos: list[dict[str, str]]
    todo: list[tuple[dict[str, str], RunRecord | None]]
    """Units that may start (never run, or to run again), with the run they replace."""
    failed: list[RunRecord]
    """Runs that ended badly and stay so until a resume."""
    active: list[RunRecord]
    done: list[RunRecord]


def stage_view(stage: StageSpec, current: Pass, superseded: int) -> StageView:
    units = current.units.get(stage.name, {})
    combos = combinations(stage, current)
    whole = units.get(WHOLE) if stage.matrix or current.sweeps.get(stage.name) else None
    if whole is not None and whole.number < superseded:
        units = {}  # its condition failed before a resume: it is decided again
    elif whole is not None:  # the stage was decided by its condition as a whole
        units = {WHOLE: whole}
        combos = [{}]
    todo: list[tuple[dict[str, str], RunRecord | None]] = []
    failed: list[RunRecord] = []
    active: list[RunRecord] = []
    done: list[RunRecord] = []
    for combo in combos:
        run = units.get(unit_of(combo))
        if run is None:
            todo.append((combo, None))
        elif run.phase.active:
            active.append(run)
        elif run.phase.done:
            done.append(run)
        elif run.number < superseded or retries(stage, run):
            todo.append((combo, run))
        else:
            failed.append(run)
    again = len(todo) == len(combos) and not any(b is not None and retries(stage, b) for _, b in todo)
    if not units or again:
        state = State.NOT_STARTED  # never started, or all of it to run again: its `when` and gate too
    elif len(done) == len(combos):
        state = State.SKIPPED if all(r.phase is StageRunPhase.SKIPPED for r in done) else State.FINISHED
    elif failed and not active and (stage.fail_fast or not todo):
        state = State.FAILED
    else:
        state = State.RUNNING
    return StageView(state, combos, todo, failed, active, done)


def retries(stage: StageSpec, run: RunRecord) -> bool:
    return run.phase is StageRunPhase.FAILED and stage.retry is not None and run.attempt <= stage.retry.count


def superseded(runs: list[RunRecord], pending: bool) -> int:
    """Runs numbered below this ended badly before the latest resume, which reruns them."""
    if pending:
        return max((r.number for r in runs), default=0) + 1
    latest = max((r.run_from for r in runs if r.run_from is not None), default=None)
    return min((r.number for r in runs if r.run_from == latest), default=0) if latest else 0


def results_of(stage: StageSpec, view: StageView) -> Any:
    """What a stage reported, as the stages after it and conditions see it."""
    if stage.matrix is not None or len(view.combos) > 1 or any(r.matrix for r in view.done):
        return [{"matrix": dict(r.matrix), "results": dict(r.results)} for r in view.done]
    return dict(view.done[-1].results) if view.done else {}
