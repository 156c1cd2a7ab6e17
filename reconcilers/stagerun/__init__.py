"""The StageRun reconciler, on the node that owns the run: start, watch, finish, fence.

Containers are found again by label, so a restarted node re-adopts what runs and records what
ended while it was down. The run's state is its record on the event log (`controller.records`);
its file supplies the frozen spec (image, command, env) and is rewritten from the record after
every change (`reconcilers.runfiles`). Its parts: `observe`, `decide` (pure), `apply`, and
`start` (the slow work, on threads that hand their outcome to the loop).

Thread use: `reconcile` and `due` on the loop thread only, which owns the context `own`; `wakes` and
`lease_key` on any thread.
"""

from __future__ import annotations

from collections.abc import Iterable

from winslow.controller.context import NodeContext
from winslow.controller.events import Command, Event
from winslow.controller.reconciler import Key, Result
from winslow.controller.subjects import STAGERUN, stagerun_key, subject_parts
from winslow.reconcilers.stagerun.apply import apply
from winslow.reconcilers.stagerun.decide import decide
from winslow.reconcilers.stagerun.observe import StageRunContext, observe
from winslow.reconcilers.stagerun.start import Starts

KIND = STAGERUN


class StageRunReconciler:
    kind = KIND

    def __init__(
        self, ctx: NodeContext, *, adopted: Iterable[Key] = (), resync_interval: float = 10.0
    ) -> None:
        """`adopted`: the keys found at the node's start (adopt.adopt_all)."""
        self.ctx = ctx
        self.resync_interval = resync_interval
        self.own = StageRunContext(ctx, Starts(ctx, stagerun_key), known={key.name for key in adopted})
        self._last_resync = float("-inf")

    def wakes(self, event: Event) -> Iterable[Key]:
        kind, name = subject_parts(event.subject)
        if kind == KIND and (event.command is Command.KILL or self.ctx.reservations.holds(name)):
            yield Key(KIND, name)

    def due(self, now: float) -> Iterable[Key]:
        """The runs this node holds, looked at again on the resync timer."""
        if now - self._last_resync < self.resync_interval:
            return []
        self._last_resync = now
        return [Key(KIND, name) for name in self.ctx.reservations.names()]

    def lease_key(self, subject: str) -> Key | None:
        kind, name = subject_parts(subject)
        return Key(KIND, name) if kind == KIND else None

    def reconcile(self, key: Key) -> Result:
        if self.ctx.runtime is None:
            return Result.done()
        obs = observe(self.own, key)
        return apply(self.own, obs, decide(obs))
