"""The Project reconciler: elect a node for the next stage, create its StageRun, keep the status.

Its parts: `observe` (what it reads, and the rule it reads by), `plan` and `decide` (pure: where
the project stands and what to do; every phase and reason is set there), `apply` (what it writes).
This module wires them for the loop and says what wakes a project: events of its lock, records
of its runs, a changed spec file, and a resync timer.

Thread use: `reconcile` and `due` on the loop thread only, which owns `quiet` and the
context's `stale_since`; `wakes` on any thread.
"""

from __future__ import annotations

from collections.abc import Iterable

from winslow.controller.context import NodeContext
from winslow.controller.events import Command, Event
from winslow.controller.reconciler import Key, Result
from winslow.controller.subjects import PROJECT, STAGERUN, lock_subject, subject_parts
from winslow.reconcilers.project.apply import apply
from winslow.reconcilers.project.decide import decide
from winslow.reconcilers.project.observe import ProjectContext, observe
from winslow.resources.project import ProjectPhase
from winslow.resources.store import FileStamp

KIND = PROJECT
QUIET = (ProjectPhase.SUCCEEDED, ProjectPhase.PAUSED, ProjectPhase.FAILED)


class ProjectReconciler:
    kind = KIND

    def __init__(
        self, ctx: NodeContext, *, scan_interval: float = 1.0, resync_interval: float = 10.0
    ) -> None:
        self.ctx = ctx
        self.own = ProjectContext(ctx)
        self.scan_interval = scan_interval
        self.resync_interval = resync_interval
        self.quiet: dict[str, tuple[object, ...]] = {}
        self._stamps: dict[str, dict[str, FileStamp]] = {"Pipeline": {}, "Project": {}}
        self._last_scan = self._last_resync = float("-inf")

    def wakes(self, event: Event) -> Iterable[Key]:
        kind, name = subject_parts(event.subject)
        if kind == KIND:
            # not on a LOCK: the holder is about to write; looking now could only find the old
            # file, or make a network share's client remember that a new one is absent
            mine = event.issuer == self.ctx.name
            if event.command not in (Command.LOCK, Command.EXTEND) and (
                not mine or event.command in (Command.ELECTION_STOP, Command.VERSION)
            ):
                yield Key(KIND, name)
        elif kind == STAGERUN:
            project = name.partition(".")[0]
            if event.command is Command.RELEASE or (
                event.command is Command.RECORD and event.issuer != self.ctx.name
            ):
                yield Key(KIND, project)

    def due(self, now: float) -> Iterable[Key]:
        """Users' edits are noticed by one listing of `pipelines/` and `projects/` per scan
        interval (NFS has no inotify; a listing only wakes, never decides); every known
        project is looked at again on the resync timer."""
        if now - self._last_scan < self.scan_interval:
            return []
        self._last_scan = now
        store = self.ctx.layout.store
        changed_pipelines = self._changed("Pipeline", store.stamps("Pipeline"))
        changed_projects = self._changed("Project", store.stamps("Project"))
        resync = now - self._last_resync >= self.resync_interval
        if resync:
            self._last_resync = now
        names = set(self._stamps["Project"]) if changed_pipelines or resync else changed_projects
        return [Key(KIND, name) for name in sorted(names)]

    def _changed(self, kind: str, stamps: dict[str, FileStamp]) -> set[str]:
        old = self._stamps[kind]
        self._stamps[kind] = stamps
        return {n for n in stamps.keys() | old.keys() if stamps.get(n) != old.get(n)}

    def lease_key(self, subject: str) -> Key | None:
        return None  # a project's lock is held for a moment, never kept

    def reconcile(self, key: Key) -> Result:
        """Level-triggered, but a finished project whose spec, status and runs have not changed
        is not read again on every resync: a share with thousands of them must idle cheaply."""
        name = key.name
        stamps = self._quiet_stamps(name)
        if self.quiet.get(name) == stamps:
            return Result.done()
        obs = observe(self.own, key)
        actions = decide(obs)
        if not actions and obs.status is not None and obs.status.phase in QUIET:
            self.quiet[name] = stamps
        else:
            self.quiet.pop(name, None)
        return apply(self.own, obs, actions)

    def _quiet_stamps(self, name: str) -> tuple[object, ...]:
        """What a finished project's next move could come from: its spec (a hand edit shows in
        its stamp, an API write on the log) and the log's versions and records of it."""
        state = self.ctx.events.view()
        subject = lock_subject(name)
        runs = state.runs.of(name)
        logged = (
            state.version(subject, "spec"),
            state.version(subject, "status"),
            max((r.seq for r in runs), default=-1),  # parallel runs: any of them may have changed
        )
        try:
            st = self.ctx.layout.store.spec_path("Project", name).stat()
        except FileNotFoundError:
            return (None, *logged)
        return (st.st_mtime_ns, st.st_size, st.st_ino, *logged)
