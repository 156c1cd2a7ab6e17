"""The pruning reconciler: removes the containers of finished StageRuns once they are old enough.

Exited containers are kept for a while (users inspect them, and they are the ground truth of
what ran), but a busy workstation would otherwise pile up thousands of them. One key, this
node's containers, looked at on a timer; `decide` is pure, and removing is all `reconcile` does.
"""

from __future__ import annotations

from collections.abc import Iterable

from winslow.controller.context import NodeContext
from winslow.controller.events import Event
from winslow.controller.reconciler import Key, Result
from winslow.reconcilers.pruning.decide import decide

KIND = "containers"


class ContainerPruner:
    kind = KIND

    def __init__(self, ctx: NodeContext, keep_seconds: float) -> None:
        self.ctx = ctx
        self.keep_seconds = keep_seconds
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
        runtime, runs = self.ctx.runtime, self.ctx.events.view().runs
        if runtime is None:
            return Result.done()
        mine = runtime.find({"winslow.share": self.ctx.layout.uid, "winslow.node": self.ctx.name})

        def finished(run: str) -> bool:
            record = runs.get(run)
            return record is None or not record.phase.active

        for container_id in decide(mine, self.ctx.clock(), self.keep_seconds, finished):
            runtime.remove(container_id)
        return Result.done()
