"""What the StageRun reconciler reads: the run's record on the log (its state), its file (its
frozen spec), its container (found by label), its lease, a kill, and what a start thread found."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from winslow.controller.context import NodeContext
from winslow.controller.events import Event
from winslow.controller.records import RunRecord
from winslow.controller.runtime import ContainerInfo
from winslow.reconcilers.stagerun.containers import find_container
from winslow.reconcilers.stagerun.start import Outcome
from winslow.reconcilers.subjects import lease_subject
from winslow.resources.errors import ManifestError, NotFoundError
from winslow.resources.stagerun import StageRun

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Observation:
    name: str
    record: RunRecord | None
    """The run's state, from the log: the only one decisions read."""
    run: StageRun | None
    """Its file, for the frozen spec; None while this node cannot read it."""
    node: str
    now: float
    container: ContainerInfo | None
    lease_mine: bool
    kill: Event | None
    watching: bool
    starting: bool = False
    """A start thread is at work on it."""
    outcome: Outcome | None = None
    """What a start thread found and nothing has recorded yet."""


def observe(
    ctx: NodeContext, name: str, *, watching: bool, starting: bool, outcome: Outcome | None
) -> Observation:
    ctx.events.poll()
    record = ctx.events.state.runs.get(name)
    run: StageRun | None = None
    if record is not None and record.node == ctx.name and record.phase.active:
        try:
            run = ctx.layout.store.stagerun(name)
        except (NotFoundError, ManifestError, ValueError) as exc:
            log.info("cannot read the file of StageRun %s yet: %s", name, exc)
    return Observation(
        name=name,
        record=record,
        run=run,
        node=ctx.name,
        now=ctx.clock(),
        container=find_container(ctx, name),
        lease_mine=ctx.leases.held(lease_subject(name)),
        # run names are never reused, and nodes' clocks may differ: no time check
        kill=ctx.events.state.kills.get(lease_subject(name)),
        watching=watching,
        starting=starting,
        outcome=outcome,
    )
