"""The node daemon's loop: the periodic duties around the reconcilers it is handed.

Users' edits are noticed by one `scandir` of `pipelines/` and `projects/` per scan interval
(NFS has no inotify); only files whose stamp changed are re-read. Every key is also resynced on
a timer, so a missed wake-up only delays work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from winslow.controller import probe
from winslow.controller.context import NodeContext
from winslow.controller.elector import perform
from winslow.controller.events import Command, Event
from winslow.controller.housekeeping import expired
from winslow.controller.loop import Handler, LoopRunner
from winslow.controller.monitor import NodeDirectory, node_status, publish
from winslow.controller.skew import SkewWatch, offsets
from winslow.resources.store import FileStamp

log = logging.getLogger(__name__)


class Daemon:
    def __init__(
        self,
        ctx: NodeContext,
        handlers: dict[str, Handler],
        *,
        api: str | None = None,
        build: str = "",
        tick: float = 0.1,
        scan_interval: float = 1.0,
        resync_interval: float = 10.0,
        keep_containers: float = 24 * 3600.0,
        duties: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.ctx = ctx
        self.api = api
        self.build = build
        self.scan_interval = scan_interval
        self.resync_interval = resync_interval
        self.keep_containers = keep_containers
        self._last_sweep = float("-inf")
        self.heartbeat_interval = max(0.5, min(5.0, ctx.config.lease_seconds / 6))
        self.nodes = NodeDirectory(ctx.layout.nodes)
        self.skew_watch = SkewWatch(ctx.name)
        self.started = datetime.now(UTC)
        self._stamps: dict[str, dict[str, FileStamp]] = {"Pipeline": {}, "Project": {}}
        self._last_scan = self._last_resync = self._last_heartbeat = float("-inf")
        self.runner = LoopRunner(
            ctx.queue,
            handlers,
            [self._poll, self._scan, self._elect, self._sweep, *duties],
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

    def _scan(self) -> None:
        now = self.ctx.clock()
        if now - self._last_scan < self.scan_interval:
            return
        self._last_scan = now
        store = self.ctx.layout.store
        changed_pipelines = self._changed("Pipeline", store.stamps("Pipeline"))
        changed_projects = self._changed("Project", store.stamps("Project"))
        resync = now - self._last_resync >= self.resync_interval
        if resync:
            self._last_resync = now
        names = set(self._stamps["Project"]) if changed_pipelines or resync else changed_projects
        for name in names:
            self.ctx.queue.add(f"project:{name}")
        if resync:
            for run in list(self.ctx.reservations.requests):
                self.ctx.queue.add(f"stagerun:{run}")

    def _changed(self, kind: str, stamps: dict[str, FileStamp]) -> set[str]:
        old = self._stamps[kind]
        self._stamps[kind] = stamps
        return {n for n in stamps.keys() | old.keys() if stamps.get(n) != old.get(n)}

    def _heartbeat(self) -> None:
        now = self.ctx.clock()
        if now - self._last_heartbeat < self.heartbeat_interval:
            return
        self._last_heartbeat = now
        publish(self.ctx, node_status(self.ctx, self.api, self.started, self.build))
        theirs = {n.metadata.name: n.status.clock_offsets for n in self.nodes.all()}
        found = offsets(self.ctx.name, self.ctx.events.skew.estimates(), theirs)
        for warn, message in self.skew_watch.check(found):
            (log.warning if warn else log.info)(message)

    def _keep(self) -> None:
        """Leases and heartbeats on their own thread: a long container start or workspace copy
        in the reconcile loop must never let this node's leases lapse."""
        period = max(0.1, min(1.0, self.ctx.config.lease_seconds / 12))
        while not self.runner.stopping.wait(period):
            for duty in (self._renew, self._heartbeat):
                try:
                    duty()
                except Exception:
                    log.exception("lease keeper duty %s failed", duty.__name__)

    def _renew(self) -> None:
        mine = [s for s in self.ctx.locks.mine() if s.startswith("stagerun/")]
        for subject in self.ctx.locks.renew(mine):
            log.warning("lost the lease of %s; its container is stopped if it still runs", subject)
            self.ctx.queue.add(f"stagerun:{subject.removeprefix('stagerun/')}")

    def _elect_now(self) -> None:
        """An election this node just started gets its vote at once, not a tick later."""
        try:
            self._elect()
        except Exception:
            log.exception("election duties failed")

    def _elect(self) -> None:
        ctx = self.ctx
        if not ctx.events.state.elections.open:
            return
        now = ctx.clock()
        live = self.nodes.live(now, ctx.config.lease_seconds + ctx.config.grace_seconds)
        perform(
            ctx.events,
            ctx.name,
            ctx.config.executes,
            ctx.free(),
            ctx.config.multipliers,
            live,
            ctx.config.grace_seconds,
        )

    def _sweep(self) -> None:
        ctx = self.ctx
        now = ctx.clock()
        if ctx.runtime is None or now - self._last_sweep < min(600.0, self.keep_containers / 4):
            return
        self._last_sweep = now
        mine = ctx.runtime.find({"winslow.share": ctx.layout.uid, "winslow.node": ctx.name})
        for container_id in expired(mine, now, self.keep_containers, self._finished):
            ctx.runtime.remove(container_id)

    def _finished(self, run: str) -> bool:
        record = self.ctx.events.state.runs.get(run)
        return record is None or not record.phase.active

    def _on_event(self, event: Event) -> None:
        kind, _, name = event.subject.partition("/")
        if kind == "project":
            self.ctx.quiet.pop(name, None)
        if (
            kind == "project"
            and event.command not in (Command.LOCK, Command.EXTEND)
            and (event.issuer != self.ctx.name or event.command in (Command.ELECTION_STOP, Command.VERSION))
        ):
            # not on a LOCK: the holder is about to write; looking now could only find the old
            # file, or make a network share's client remember that a new one is absent
            self.ctx.queue.add(f"project:{name}")
        elif kind == "stagerun":
            project = name.partition(".")[0]
            if event.command is Command.KILL or name in self.ctx.reservations.requests:
                self.ctx.queue.add(f"stagerun:{name}")
            if event.command is Command.RECORD:
                self.ctx.quiet.pop(project, None)
                if event.issuer != self.ctx.name:
                    self.ctx.queue.add(f"project:{project}")
            if event.command is Command.RELEASE:
                self.ctx.queue.add(f"project:{project}")

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, adopt: list[str]) -> None:
        for run in adopt:
            self.ctx.queue.add(f"stagerun:{run}")
        self._heartbeat()
        self.thread = threading.Thread(target=self.runner.run, name="reconcile", daemon=True)
        self.thread.start()
        self.keeper = threading.Thread(target=self._keep, name="leases", daemon=True)
        self.keeper.start()

    def stop(self) -> None:
        self.runner.stopping.set()
        for thread in (self.thread, self.keeper):
            if thread is not None:
                thread.join(timeout=10)
        self.ctx.layout.node_file(self.ctx.name).unlink(missing_ok=True)
