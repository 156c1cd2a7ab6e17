"""The node daemon: the loop and the lease keeper around the reconcilers it is handed.

It knows none of them by name. Each reconciler says which events of the log wake which of its
keys (`wakes`), which keys a timer or a look at the share brings up (`due`), and which key a
lease belongs to (`lease_key`); the daemon only routes keys to the work queue.

Thread use: the loop thread runs reconcilers and the duties; the lease keeper thread renews
leases and publishes the node's status, and only adds keys to the queue; the event log calls
`_on_event` on whichever thread applied an event, and it too only adds keys.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from winslow.controller import probe
from winslow.controller.context import NodeContext
from winslow.controller.elector import perform
from winslow.controller.events import Event
from winslow.controller.loop import LoopRunner
from winslow.controller.monitor import NodeDirectory, node_status, publish, write_beat
from winslow.controller.reconciler import Key, Reconciler
from winslow.controller.skew import SkewWatch, offsets

log = logging.getLogger(__name__)


class Daemon:
    def __init__(
        self,
        ctx: NodeContext,
        reconcilers: Sequence[Reconciler],
        *,
        api: str | None = None,
        build: str = "",
        tick: float = 0.1,
        duties: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.ctx = ctx
        self.api = api
        self.build = build
        self.reconcilers = list(reconcilers)
        self.heartbeat_interval = max(0.5, min(5.0, ctx.config.lease_seconds / 6))
        self.nodes = NodeDirectory(ctx.layout.nodes, fresh=self.heartbeat_interval / 2)
        self.skew_watch = SkewWatch(ctx.name)
        self.started = datetime.now(UTC)
        self._last_heartbeat = float("-inf")
        self._status_failing = False
        self.runner = LoopRunner(
            ctx.queue,
            self.reconcilers,
            [self._poll, self._due, self._elect, *duties],
            tick=tick,
            after_each=self._elect_now,
        )
        ctx.events.listeners.append(self._on_event)
        ctx.events.listeners.append(lambda event: probe.on_event(ctx.events, ctx.layout.root, event))
        self.thread: threading.Thread | None = None
        self.keeper: threading.Thread | None = None

    # -- duties -----------------------------------------------------------------------------------

    def _poll(self) -> None:
        self.ctx.events.poll()

    def _due(self) -> None:
        now = self.ctx.clock()
        for reconciler in self.reconcilers:
            for key in reconciler.due(now):
                self.ctx.queue.add(key)

    def _on_event(self, event: Event) -> None:
        for reconciler in self.reconcilers:
            for key in reconciler.wakes(event):
                self.ctx.queue.add(key)

    def _heartbeat(self) -> None:
        now = self.ctx.clock()
        if now - self._last_heartbeat < self.heartbeat_interval:
            return
        self._last_heartbeat = now
        write_beat(self.ctx.layout.nodes / f"{self.ctx.name}.beat", now)
        status = node_status(self.ctx, self.api, self.started, self.build, self.heartbeat_interval)
        try:
            publish(self.ctx, status)
            self._status_failing = False
        except OSError as exc:  # a full share: the beat above still went in
            if not self._status_failing:
                self._status_failing = True
                log.warning("cannot publish this node's status (%s); its heartbeat goes on", exc)
        theirs = {n.metadata.name: n.status.clock_offsets for n in self.nodes.all()}
        found = offsets(self.ctx.name, self.ctx.events.skew.estimates(), theirs)
        for warn, message in self.skew_watch.check(found):
            (log.warning if warn else log.info)(message)

    def _keep(self) -> None:
        """Leases, the fence and heartbeats on their own thread: a long container start or
        workspace copy in the reconcile loop must never let this node's leases lapse."""
        period = max(0.1, min(1.0, self.ctx.config.lease_seconds / 12))
        while not self.runner.stopping.wait(period):
            for duty in (self._renew, self._fence, self._heartbeat):
                try:
                    duty()
                except Exception:
                    log.exception("lease keeper duty %s failed", duty.__name__)

    def _renew(self) -> None:
        """Only leases a reconciler keeps (a run's, with its container) are extended: a lock held
        for a moment (a project's) that was never released, because its holder was killed or the
        share refused the release, lapses by itself instead of being kept for good."""
        kept = [subject for subject in self.ctx.leases.mine() if self._lease_keys(subject)]
        for subject in self.ctx.leases.renew(kept):
            log.warning("lost the lease of %s; what it guarded is stopped here", subject)
            for key in self._lease_keys(subject):
                self.ctx.queue.add(key)

    def _fence(self) -> None:
        if self.ctx.fence is not None:
            self.ctx.fence.refresh()
            self.ctx.fence.ensure_watched()

    def _lease_keys(self, subject: str) -> list[Key]:
        return [key for r in self.reconcilers if (key := r.lease_key(subject)) is not None]

    def _elect_now(self) -> None:
        """An election this node just started gets its vote at once, not a tick later."""
        try:
            self._elect()
        except Exception:
            log.exception("election duties failed")

    def _elect(self) -> None:
        ctx = self.ctx
        if not ctx.events.view().elections.open:
            return
        live = self.nodes.live(ctx.clock(), ctx.config.lease_seconds + ctx.config.grace_seconds)
        perform(
            ctx.events,
            ctx.name,
            ctx.config.executes,
            ctx.free(),
            ctx.config.multipliers,
            live,
            ctx.config.grace_seconds,
            ctx.config.labels,
        )

    # -- lifecycle -------------------------------------------------------------------------------

    def release_leftovers(self) -> list[str]:
        """Locks in this node's name that no reconciler keeps (a project's is held for a moment)
        were left by its previous process, killed between taking and releasing one: this process
        holds none yet. Released at start; kept, the lease keeper would extend them for good, and
        the project would wait on a lock nobody acts under."""
        released = []
        for subject in self.ctx.leases.mine():
            if not self._lease_keys(subject):
                log.info("released %s, left by this node's previous process", subject)
                self.ctx.leases.release(subject)
                released.append(subject)
        return released

    def extend_kept(self) -> list[str]:
        """The leases of this node's stages, extended at once: a restarted process replays the log
        and takes each for just taken, so the lease keeper would wait half a lease before
        extending it, while the other nodes count from the last extension they saw, made before
        the restart; a restart of a few seconds would then lose the stages. Returns them."""
        kept = [subject for subject in self.ctx.leases.mine() if self._lease_keys(subject)]
        self.ctx.leases.renew(kept, now=True)
        return kept

    def start(self, adopt: list[Key]) -> None:
        self.release_leftovers()
        self.extend_kept()
        for key in adopt:
            self.ctx.queue.add(key)
        self._heartbeat()
        self.thread = threading.Thread(target=self.runner.run, name="reconcile", daemon=True)
        self.thread.start()
        self.keeper = threading.Thread(target=self._keep, name="leases", daemon=True)
        self.keeper.start()

    def stop(self) -> None:
        """A graceful stop is taken for a restart: the stages' containers go on, their leases are
        extended once more so the others wait the whole stage tolerance from now, and the node's
        file says it stopped (NotReady at once) instead of vanishing from `winsctl get nodes`."""
        self.runner.stopping.set()
        for thread in (self.thread, self.keeper):
            if thread is not None:
                thread.join(timeout=10)
        kept = [subject for subject in self.ctx.leases.mine() if self._lease_keys(subject)]
        for duty in (lambda: self.ctx.leases.renew(kept, now=True), self._fence, self._stopped):
            try:
                duty()
            except Exception as exc:  # the share may be gone; the leases then last as they are
                log.warning("at stop: %s", exc)

    def _stopped(self) -> None:
        now = datetime.fromtimestamp(self.ctx.clock(), UTC)
        status = node_status(self.ctx, self.api, self.started, self.build, self.heartbeat_interval, now)
        publish(self.ctx, status)
