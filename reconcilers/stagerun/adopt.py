"""At a node's start: the runs it owns, found again so that nothing runs twice or is forgotten."""

from __future__ import annotations

from winslow.controller.context import NodeContext
from winslow.controller.reconciler import Key
from winslow.controller.runtime import ContainerState
from winslow.reconcilers.subjects import stagerun_key


def adopt_all(ctx: NodeContext) -> list[Key]:
    """Every active run the log says this node owns, to re-adopt or to record as ended (with the
    GPUs its record names), and every container of this node's, so that one whose run was
    marked Lost meanwhile is stopped. Runs before the loop thread starts."""
    assert ctx.runtime is not None
    names = [
        c.labels["winslow.stagerun"]
        for c in ctx.runtime.find({"winslow.share": ctx.layout.uid, "winslow.node": ctx.name})
        if c.state is not ContainerState.EXITED and "winslow.stagerun" in c.labels
    ]
    for record in list(ctx.events.state.runs.runs.values()):
        if record.node == ctx.name and record.phase.active:
            ctx.reservations.grant(record.name, record.request, list(record.gpus))
            names.append(record.name)
    return [stagerun_key(name) for name in dict.fromkeys(names)]
