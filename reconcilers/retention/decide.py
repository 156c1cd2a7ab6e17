"""Which workspaces of a project's ended runs to remove: a pure function of its runs, the
workspace folders that are there and its retention policy.

The rule, in order (the first that applies wins):

1. No policy (neither the project nor its pipeline has `retention`): nothing is removed.
2. Lineage, whatever the policy says, is kept: the workspace of a run that is Pending or Running;
   of a run that a Pending or Running run copies from (`copy_of`: its copy may be under way); and
   of the newest succeeded run of each unit (a stage, or one combination of a sweep's stage), the
   one a next run, a `resume --from` or a `continuation` stage copies from (`plan._source` picks
   among the current pass's succeeded runs, each of which is its unit's newest).
3. Only runs that ended Succeeded, Failed, Killed or Lost are ever removed (a Skipped run has no
   workspace; a run the log does not name is not this decision's).
4. `keepLatest`: the newest run of each stage (Skipped runs left aside) is kept.
5. `keepSucceeded: N`: per stage, its N newest succeeded runs are kept, each combination of a sweep
   counting as one run; unset keeps them all.
6. `keepFailed`: Failed, Killed and Lost runs are kept; false removes them.

"Newest" is the run number: the order in which the project's runs were created.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from winslow.controller.records import RunRecord
from winslow.resources.pipeline import Retention
from winslow.resources.stagerun import StageRunPhase

BAD_ENDS = (StageRunPhase.FAILED, StageRunPhase.KILLED, StageRunPhase.LOST)
REMOVABLE = (StageRunPhase.SUCCEEDED, *BAD_ENDS)


@dataclass(frozen=True)
class Observation:
    project: str
    policy: Retention | None
    """The project's `retention`, else its pipeline's, else None (keep everything)."""
    runs: tuple[RunRecord, ...]
    """The project's runs as the log records them, in creation order."""
    workspaces: frozenset[str]
    """The run folders under `workspaces/<project>/stages/` (hidden and other names left out)."""
    now: float = 0.0
    """Wall clock: only for the marker file's words."""
    node: str = ""


@dataclass(frozen=True)
class RemoveWorkspace:
    run: str
    stage: str
    phase: StageRunPhase
    why: str


def protected(runs: Iterable[RunRecord]) -> set[str]:
    """The runs whose workspaces lineage needs, whatever the policy says (rule 2)."""
    runs = list(runs)
    keep = {r.name for r in runs if r.phase.active}
    keep |= {r.copy_of for r in runs if r.phase.active and r.copy_of}
    newest: dict[tuple[str, tuple[tuple[str, str], ...]], RunRecord] = {}
    for r in runs:
        if r.phase is StageRunPhase.SUCCEEDED:
            unit = (r.stage, tuple(sorted(r.matrix.items())))
            if unit not in newest or r.number > newest[unit].number:
                newest[unit] = r
    return keep | {r.name for r in newest.values()}


def kept_by_policy(runs: Iterable[RunRecord], policy: Retention) -> set[str]:
    """The runs the policy itself keeps (rules 4-6)."""
    by_stage: dict[str, list[RunRecord]] = {}
    for r in runs:
        by_stage.setdefault(r.stage, []).append(r)
    keep: set[str] = set()
    for stage_runs in by_stage.values():
        newest_first = sorted(stage_runs, key=lambda r: r.number, reverse=True)
        latest = next((r for r in newest_first if r.phase is not StageRunPhase.SKIPPED), None)
        if policy.keep_latest and latest is not None:
            keep.add(latest.name)
        succeeded = [r for r in newest_first if r.phase is StageRunPhase.SUCCEEDED]
        limit = len(succeeded) if policy.keep_succeeded is None else policy.keep_succeeded
        keep |= {r.name for r in succeeded[:limit]}
        if policy.keep_failed:
            keep |= {r.name for r in newest_first if r.phase in BAD_ENDS}
    return keep


def describe(policy: Retention) -> str:
    succeeded = "all" if policy.keep_succeeded is None else str(policy.keep_succeeded)
    return (
        f"keepSucceeded {succeeded}, keepFailed {str(policy.keep_failed).lower()}, "
        f"keepLatest {str(policy.keep_latest).lower()}"
    )


def decide(obs: Observation) -> list[RemoveWorkspace]:
    """The workspaces to remove, oldest run first."""
    if obs.policy is None:
        return []
    keep = protected(obs.runs) | kept_by_policy(obs.runs, obs.policy)
    why = f"retention ({describe(obs.policy)})"
    return [
        RemoveWorkspace(r.name, r.stage, r.phase, why)
        for r in sorted(obs.runs, key=lambda r: r.number)
        if r.phase in REMOVABLE and r.name in obs.workspaces and r.name not in keep
    ]
