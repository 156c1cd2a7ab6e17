"""The pruning reconciler: removes the containers of finished StageRuns once they are old enough.

Exited containers are kept for a while (users inspect them, and they are the ground truth of
what ran), but a busy workstation would otherwise pile up thousands of them. One key, this
node's containers, looked at on a timer; the same shape as every reconciler: `observe` reads
the engine and one snapshot of the log, `decide` is pure, `apply` removes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from winslow.controller.context import NodeContext
from winslow.controller.events import Event
from winslow.controller.reconciler import Key, Result
from winslow.controller.runtime import RuntimeFailure
from winslow.reconcilers.pruning.decide import Observation, Remove, decide

KIND = "containers"


@dataclass(frozen=True)
class PruneContext:
    node: NodeContext
    keep_seconds: float


def observe(ctx: PruneContext, key: Key) -> Observation:
    node = ctx.node
    assert node.runtime is not None
    mine = node.runtime.find({"winslow.share": node.layout.uid, "winslow.node": node.name})
    runs = node.events.view().runs
    named = {c.labels.get("winslow.stagerun", "") for c in mine}
    ended = frozenset(n for n in named if (r := runs.get(n)) is None or not r.phase.active)
    return Observation(tuple(mine), ended, node.clock(), ctx.keep_seconds)


def apply(ctx: PruneContext, obs: Observation, actions: list[Remove]) -> Result:
    assert ctx.node.runtime is not None
    failed = []
    for action in actions:
        try:
            ctx.node.runtime.remove(action.container_id)
        except RuntimeFailure as exc:  # removed by hand meanwhile, or the engine is busy: next round
            failed.append(f"{action.container_id[:12]}: {exc}")
    return Result.failed("could not remove " + "; ".join(failed)) if failed else Result.done()


class ContainerPruner:
    kind = KIND

    def __init__(self, ctx: NodeContext, keep_seconds: float) -> None:
        self.ctx = ctx
        self.own = PruneContext(ctx, keep_seconds)
        self.interval = min(600.0, keep_seconds / 4)
        self._last = float("-inf")

    def wakes(self, event: Event) -> Iterable[Key]:
        return ()

    def due(self, now: float) -> Iterable[Key]:
        if self.ctx.runtime is None or now - self._last < self.interval:
            return []
        self._last = now
        return [Key(KIND, self.ctx.name)]

    def lease_key(self, subject: str) -> Key | None:
        return None

    def reconcile(self, key: Key) -> Result:
        if self.ctx.runtime is None:
            return Result.done()
        obs = observe(self.own, key)
        return apply(self.own, obs, decide(obs))
