"""At a node's start: the runs it owns, found again so that nothing runs twice or is forgotten."""

from __future__ import annotations

import logging

from winslow.controller.context import NodeContext
from winslow.controller.reconciler import Key
from winslow.controller.runtime import ContainerState
from winslow.controller.subjects import STAGERUN, stagerun_key, subject_parts

log = logging.getLogger(__name__)


def adopt_all(ctx: NodeContext) -> list[Key]:
    """Every active run the log says this node owns, to re-adopt or to record as ended (with the
    GPUs its record names), and every container of this node's, so that one whose run was
    marked Lost meanwhile is stopped. Runs before the loop thread starts."""
    assert ctx.runtime is not None
    _forget_unrecorded(ctx)
    names = [
        c.labels["winslow.stagerun"]
        for c in ctx.runtime.find({"winslow.share": ctx.layout.uid, "winslow.node": ctx.name})
        if c.state is not ContainerState.EXITED and "winslow.stagerun" in c.labels
    ]
    for record in ctx.events.view().runs.runs.values():
        if record.node == ctx.name and record.phase.active:
            ctx.reservations.grant(record.name, record.request, list(record.gpus))
            names.append(record.name)
    return [stagerun_key(name) for name in dict.fromkeys(names)]


def _forget_unrecorded(ctx: NodeContext) -> None:
    """A run whose lease this node holds but whose record the log never took was being created
    when the node's previous process was killed. The log says it does not exist (its project has
    chosen again, under another number), and no container of it was ever started: its lease is
    released and its file, which nothing refers to, removed, instead of kept for good."""
    for subject in ctx.leases.mine():
        kind, name = subject_parts(subject)
        if kind == STAGERUN and ctx.events.view().runs.get(name) is None:
            log.warning("StageRun %s was never recorded (this node stopped while creating it); removed", name)
            ctx.layout.store.stagerun_path(name).unlink(missing_ok=True)
            ctx.leases.release(subject)
