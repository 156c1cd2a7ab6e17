"""The Project reconciler's decision: a pure function of an Observation.

Without the project's lock it may only take the lock, start an election or kill; a pass that
took the lock is followed at once by one that observes and decides again under it, and only
that pass's decision writes the share (its apply releases the lock). Where
the project stands comes from its history (plan.py); what its next stage waits for is a Step;
the phase and reason the project shows are set in one place, `status`, from both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from winslow.controller.election import Election
from winslow.controller.records import RunRecord
from winslow.reconcilers.project.actions import (
    AcquireLock,
    Action,
    CreateRun,
    Kill,
    MarkLost,
    Requeue,
    StartElection,
    WriteStatus,
)
from winslow.reconcilers.project.newrun import build_run
from winslow.reconcilers.project.notify import gate_clock, notifications
from winslow.reconcilers.project.observe import Observation
from winslow.reconcilers.project.plan import NextRun, Plan, plan, refs
from winslow.reconcilers.project.quotas import refusal
from winslow.resources import labels
from winslow.resources.amount import Amount
from winslow.resources.project import ProjectPhase, ProjectStatus, QueueEntry, QueueReason
from winslow.resources.stagerun import StageRunPhase

NO_FIT_RETRY = 5.0
BEHIND_CHECK = 1.0  # a stage waiting behind another project's looks again after this
QUOTA_RETRY = 2.0  # a quota's room is looked for again after this (a run of another project may end)
WAIT_VISIBLE = 0.2  # a file the log names, not visible here yet, is looked for again after this


class StepKind(StrEnum):
    NONE = "none"  # nothing to start: a stage runs, a person decides, or the project is done
    BACKOFF = "backoff"  # a retry waits out its back-off
    ELECTING = "electing"  # an election for the next stage is open
    NO_FIT = "no-fit"  # the last election found no node that fits
    CREATE = "create"  # this node won: create the StageRun
    OTHER = "other"  # another node won and still has time to act
    ELECT = "elect"  # start an election
    QUOTA = "quota"  # a quota that covers the project has no room for it now
    BEHIND = "behind"  # a stage of another project that ranks higher waits for the same kind of node


@dataclass(frozen=True)
class Step:
    kind: StepKind
    after: float | None = None
    shortage: str = ""
    creates: tuple[CreateRun, ...] = ()
    request: Amount | None = None
    selector: dict[str, str] | None = None
    start: NextRun | None = None
    """What it is about: the unit whose start waits, for the queue."""


def decide(obs: Observation) -> list[Action]:
    if obs.waiting is not None:
        return [Requeue(WAIT_VISIBLE)]
    if obs.project is None:
        return _orphaned(obs)
    if obs.spec_error:
        return _write_or_lock(obs, _broken(obs), [], Step(StepKind.NONE))
    lost = _lost(obs)
    lost_names = {r.name: r for r in lost}
    runs = [lost_names.get(r.name, r) for r in obs.runs]
    old = _own_status(obs)
    # The requests a run consumed are recorded on the run itself (authoritative), so a node that
    # died between writing the run and the status never replays a resume or a confirmation.
    run_from = _latest(old.observed_run_from if old else None, *(r.run_from for r in runs))
    confirm = _latest(old.observed_confirm if old else None, *(r.confirmed for r in runs))
    p = plan(
        obs.project,
        obs.pipeline,
        old.pipeline if old else None,
        runs,
        run_from,
        confirm,
        obs.pipeline_problem,
        obs.global_env,
    )
    step = _step(obs, p, runs)
    if step.creates:
        # written with the new runs, the status already says what the next look will find
        records = [c.record for c in step.creates]
        after = [*runs, *records]
        run_from = _latest(run_from, *(r.run_from for r in records))
        confirm = _latest(confirm, *(r.confirmed for r in records))
        p = plan(
            obs.project,
            obs.pipeline,
            p.snapshot,
            after,
            run_from,
            confirm,
            obs.pipeline_problem,
            obs.global_env,
        )
        return _write_or_lock(obs, status(obs, p, step, after, run_from, confirm), lost, step)
    return _write_or_lock(obs, status(obs, p, step, runs, run_from, confirm), lost, step)


def _step(obs: Observation, p: Plan, runs: list[RunRecord]) -> Step:
    snap = p.snapshot
    # A stage running elsewhere is looked at again well within its lease: if its node dies,
    # the run is marked Lost about when the lease lapses, not at the next resync.
    elsewhere = obs.lease_seconds / 3 if any(r.node != obs.node for r in p.active) else None
    if not p.starts or snap is None:
        return Step(StepKind.NONE, after=elsewhere)
    number = max(obs.next_number, max((r.number for r in runs), default=0) + 1)
    decided = [s for s in p.starts if s.immediate]
    if decided:  # decided by their conditions: recorded at once, with no election and no node
        return Step(
            StepKind.CREATE,
            creates=tuple(build_run(obs, snap, s, number + i, i) for i, s in enumerate(decided)),
        )
    due = [s for s in p.starts if obs.mono >= s.not_before]
    if not due:
        return Step(StepKind.BACKOFF, after=min(s.not_before for s in p.starts) - obs.mono)
    nxt = due[0]
    request = nxt.stage.resources.amount
    refused = refusal(obs.quotas, request)
    if refused is not None:
        return Step(StepKind.QUOTA, after=QUOTA_RETRY, shortage=refused, start=nxt)
    ahead = _ahead(obs, nxt)
    if ahead is not None:
        return Step(StepKind.BEHIND, after=BEHIND_CHECK, shortage=ahead, start=nxt)
    result = _fresh_result(obs, runs)
    since_stop = obs.mono - result.stop_observed if result is not None else 0.0
    if obs.election_open:
        return Step(StepKind.ELECTING, after=0.2)
    if result is not None and result.winner is None and since_stop < NO_FIT_RETRY:
        return Step(StepKind.NO_FIT, after=NO_FIT_RETRY - since_stop, shortage=result.shortage(), start=nxt)
    fits = request.fits_in(obs.free) and labels.matches(nxt.stage.node_selector, obs.labels)
    if result is not None and result.winner == obs.node and obs.executes and fits:
        return Step(StepKind.CREATE, creates=(build_run(obs, snap, nxt, number),))
    if result is not None and result.winner not in (None, obs.node) and since_stop < obs.lease_seconds:
        return Step(StepKind.OTHER, after=0.5)
    return Step(StepKind.ELECT, request=request, selector=nxt.stage.node_selector or None, start=nxt)


def _ahead(obs: Observation, nxt: NextRun) -> str | None:
    """The stage of another project that this one waits behind, in words: one that waits for the
    same kind of node (with GPUs, or without) with a higher priority, or one of the same owner's
    projects with the same priority that waits longer (first come, first served), and that this
    node has room for now. One that fits nowhere here holds nothing back: a stage no node can
    take must not stop every stage after it."""
    assert obs.project is not None
    mine = _entry(obs, nxt, QueueReason.BEHIND)
    owner = obs.project.spec.owner
    for project, entry in obs.queue:
        if entry.why is QueueReason.QUOTA or entry.gpu != mine.gpu:
            continue  # a stage that waits for its quota holds nothing back
        if not Amount.from_wire(dict(entry.request)).fits_in(obs.free):
            continue
        if entry.priority > mine.priority or (
            entry.priority == mine.priority
            and entry.owner == owner
            and entry.rank(project) < mine.rank(obs.name)
        ):
            return (
                f"stage {entry.stage!r} of project {project} (priority {entry.priority}) waits for the same "
                f"kind of node since {entry.since:%Y-%m-%d %H:%M:%S} UTC"
            )
    return None


def _entry(obs: Observation, nxt: NextRun, why: QueueReason, detail: str = "") -> QueueEntry:
    """The unit's place in the queue; it keeps the time it began to wait while it waits."""
    assert obs.project is not None
    old = _own_status(obs)
    kept = old.queue if old is not None else None
    same = kept is not None and kept.stage == nxt.stage.name and kept.matrix == dict(nxt.matrix)
    since = kept.since if kept is not None and same else datetime.fromtimestamp(obs.now, UTC)
    return QueueEntry(
        stage=nxt.stage.name,
        matrix=dict(nxt.matrix),
        request=nxt.stage.resources.amount.wire(),
        priority=obs.project.spec.priority,
        owner=obs.project.spec.owner,
        since=since,
        why=why,
        detail=detail,
    )


_QUEUED = {
    StepKind.NO_FIT: QueueReason.NO_FIT,
    StepKind.QUOTA: QueueReason.QUOTA,
    StepKind.BEHIND: QueueReason.BEHIND,
}
_STILL = (StepKind.ELECTING, StepKind.ELECT, StepKind.OTHER, StepKind.BACKOFF)


def _queued(obs: Observation, step: Step) -> QueueEntry | None:
    """Its entry in the queue: while it waits for a node, a quota or another project, and while
    the next election for the same unit runs; none once it starts or has nothing to start."""
    if step.start is not None and step.kind in _QUEUED:
        return _entry(obs, step.start, _QUEUED[step.kind], step.shortage)
    old = _own_status(obs)
    kept = old.queue if old is not None else None
    if (
        step.kind in _STILL
        and kept is not None
        and step.start is not None
        and kept.stage == step.start.stage.name
    ):
        return kept
    return None


def status(
    obs: Observation,
    p: Plan,
    step: Step,
    runs: list[RunRecord],
    run_from: datetime | None,
    confirm: datetime | None,
) -> ProjectStatus:
    """The one place a project's phase and reason are set."""
    phase, reason, listed, snapshot = p.phase, p.reason, runs, p.snapshot if runs else None
    nxt, old = (p.starts[0] if p.starts else None), _own_status(obs)
    if step.kind in (StepKind.QUOTA, StepKind.BEHIND) and nxt is not None:
        words = (
            f"{nxt.what} waits for room in its quota ({step.shortage}); it starts when there is room"
            if step.kind is StepKind.QUOTA
            else f"{nxt.what} waits behind {step.shortage}"
        )
        phase, reason = (phase, f"{reason}; {words}") if p.active else (ProjectPhase.WAITING, words)
    elif step.kind is StepKind.NO_FIT and nxt is not None and not p.active:
        phase = ProjectPhase.WAITING
        reason = f"no node fits {nxt.what} now ({step.shortage}); it starts when one does"
    elif (
        step.kind is StepKind.ELECTING
        and old is not None
        and old.phase is ProjectPhase.WAITING
        and old.reason.startswith("no node fits")
    ):
        phase, reason = old.phase, old.reason  # still why, while the next election runs
    since, reminders = gate_clock(old, phase, reason, p.current_stage, obs.now, obs.remind_after)
    return ProjectStatus(
        project=obs.name,
        uid=obs.project.metadata.uid if obs.project else None,
        phase=phase,
        reason=reason,
        current_stage=p.current_stage,
        pipeline=snapshot,
        stage_runs=refs(listed),
        observed_run_from=run_from,
        observed_confirm=confirm,
        waiting_since=since,
        reminders=reminders,
        queue=_queued(obs, step),
    )


def _broken(obs: Observation) -> ProjectStatus:
    old = _own_status(obs)
    return ProjectStatus(
        project=obs.name,
        uid=obs.project.metadata.uid if obs.project else None,
        phase=ProjectPhase.FAILED,
        reason=obs.spec_error or "",
        pipeline=old.pipeline if old else None,
        stage_runs=old.stage_runs if old else [],
    )


def _own_status(obs: Observation) -> ProjectStatus | None:
    """The status as history only if it describes this project, not an earlier one of its name."""
    uid = obs.project.metadata.uid if obs.project else None
    status = obs.status
    if status is None or uid is None or status.uid in (None, uid):
        return status
    return None


def _orphaned(obs: Observation) -> list[Action]:
    """The spec is gone: runs of a dead node are marked Lost, live ones are killed."""
    lost = _lost(obs)
    if lost:
        return [MarkLost(r) for r in lost] if obs.lock_mine else [AcquireLock()]
    active = [r.name for r in obs.runs if r.phase.active]
    kills: list[Action] = [Kill(name) for name in active if name not in obs.killed]
    return [*kills, Requeue(obs.lease_seconds)] if active else []


def _lost(obs: Observation) -> list[RunRecord]:
    return [
        replace(
            run,
            phase=StageRunPhase.LOST,
            finish_time=datetime.fromtimestamp(obs.now, UTC),
            message=f"node {run.node} stopped renewing its lease",
        )
        for run in obs.runs
        if run.phase.active and obs.run_holders.get(run.name) is None
    ]


def _fresh_result(obs: Observation, runs: list[RunRecord]) -> Election | None:
    """The last election counts only if it started after the project's last change of phase (a
    report of progress is none): positions in the log order them, whatever the nodes' clocks say."""
    result = obs.result
    if result is None or (runs and result.seq < max(r.phase_seq for r in runs)):
        return None
    return result


def _latest(*times: datetime | None) -> datetime | None:
    return max((t for t in times if t is not None), default=None)


def _same(a: ProjectStatus | None, b: ProjectStatus) -> bool:
    ignored = {"updated", "version"}
    return a is not None and a.model_dump(exclude=ignored) == b.model_dump(exclude=ignored)


def _status_is_mine(obs: Observation) -> bool:
    """Status-only updates fall to the node that ran the latest stage, so that every node does
    not race for the lock to write the same thing; anyone takes over once it looks abandoned."""
    if not obs.runs or obs.runs[-1].node == obs.node:
        return True
    updated = obs.status.updated if obs.status else None
    return updated is None or obs.now - updated.timestamp() > obs.lease_seconds


def _write_or_lock(
    obs: Observation, status: ProjectStatus, lost: list[RunRecord], step: Step
) -> list[Action]:
    changed = not _same(obs.status, status)
    if not obs.lock_mine:
        if lost or step.creates:
            return [AcquireLock()]
        if step.kind is StepKind.ELECT and step.request is not None:
            return [StartElection(step.request, supersedes=obs.stale_election, selector=step.selector)]
        if changed and _status_is_mine(obs):
            return [AcquireLock()]
        if changed:
            return [Requeue(obs.lease_seconds)]
        return [Requeue(step.after)] if step.after is not None else []
    actions: list[Action] = [MarkLost(r) for r in lost]
    actions.extend(step.creates)
    if changed:
        own = obs.project.spec.notify if obs.project is not None and not obs.spec_error else []
        targets = [*own, *obs.subscribed]
        actions += notifications(targets, _own_status(obs), status, lost)
        updated = datetime.fromtimestamp(obs.now, UTC)
        actions.append(
            WriteStatus(status.model_copy(update={"updated": updated, "version": obs.status_version + 1}))
        )
    return actions
