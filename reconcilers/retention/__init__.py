"""The retention reconciler: removes the workspaces of ended StageRuns that a project's retention
policy does not keep (`spec.retention` of the project, else of its pipeline; none keeps all).

One key per project. It wakes when this node records a run's end (the node that recorded it, so
not every node at once) and on a slow resync of every project (a changed policy, a node that
died half way). `observe` reads the log, the two specs and the listing of
`workspaces/<project>/stages/`; `decide` (pure, `decide.py`) says which workspaces go; `apply`
takes the project's lock and, under it, observes and decides again on the log as it is then and
renames each workspace to trash (`trash.py`), writes `<run>.removed` beside it, and releases the
lock. The trash is deleted afterwards on a thread of its own.

Why the project's lock: a StageRun is created, with the workspace it copies from (`copy_of`),
only by the holder of its project's lock, and its copy begins only after its record is on the
log. Deciding under the lock, on the log polled after taking it, therefore sees every run that
may copy: those that are Pending or Running are in the observation, and every later one copies
from a run that lineage keeps (`decide.protected`). So only one node removes a project's
workspaces at a time, and never one that a run needs. A project whose lock this node holds
already (its Project reconciler between two passes on the loop thread) is looked at again a
moment later rather than disturbed.

Thread use: `reconcile` and `due` on the loop thread; `wakes` on any thread; the deleting threads
only delete trash and touch `_deleting` under `_lock`.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from winslow.controller.context import NodeContext
from winslow.controller.eventlog import Rejected
from winslow.controller.events import Command, Event
from winslow.controller.reconciler import Key, Result
from winslow.controller.subjects import STAGERUN, lock_subject, subject_parts
from winslow.reconcilers.retention.decide import Observation, RemoveWorkspace, decide
from winslow.reconcilers.retention.trash import MARKER_SUFFIX, is_trash, remove_tree, set_aside
from winslow.resources.errors import ManifestError, NotFoundError
from winslow.resources.pipeline import Retention
from winslow.resources.project import Project
from winslow.resources.stagerun import StageRunPhase
from winslow.resources.store import atomic_write

log = logging.getLogger(__name__)

KIND = "workspaces"
ENDED = {p.value for p in StageRunPhase if not p.active}


@dataclass
class RetentionContext:
    node: NodeContext
    deleting: set[str] = field(default_factory=set)
    """Projects whose trash a thread deletes now (under `lock`)."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def policy_of(ctx: NodeContext, project: Project) -> Retention | None:
    """The project's own policy, else its pipeline's as the Pipeline file says now (not the
    snapshot: a policy tightened later applies without a resume); None keeps everything."""
    if project.spec.retention is not None or not project.spec.pipeline:
        return project.spec.retention
    try:
        return ctx.layout.store.pipeline(project.spec.pipeline).spec.retention
    except (NotFoundError, ManifestError):
        return None


def observe(ctx: RetentionContext, key: Key) -> tuple[Observation, tuple[str, ...]]:
    """The decision's observation, and the trash folders left under `stages/`."""
    node, name = ctx.node, key.name
    state = node.events.view()
    try:
        project = node.layout.store.project(name)
    except (NotFoundError, ManifestError):  # gone, or unreadable: nothing is decided on it
        return Observation(name, None, (), frozenset(), node.clock(), node.name), ()
    policy = policy_of(node, project)
    runs = tuple(state.runs.of(name, project.metadata.uid))
    folders: list[str] = []
    stages = node.layout.project_dir(name) / "stages"
    try:
        with os.scandir(stages) as it:
            folders = [e.name for e in it]
    except (FileNotFoundError, NotADirectoryError):
        pass
    workspaces = frozenset(f for f in folders if not f.startswith(".")) if policy is not None else frozenset()
    trash = tuple(f for f in folders if is_trash(f))
    return Observation(name, policy, runs, workspaces, node.clock(), node.name), trash


def apply(ctx: RetentionContext, key: Key, actions: list[RemoveWorkspace], trash: tuple[str, ...]) -> Result:
    node, name = ctx.node, key.name
    if actions:
        subject = lock_subject(name)
        if node.events.view().locks.holder(subject) == node.name:
            return Result.requeue(1.0)  # our Project reconciler holds it between two passes
        try:
            if not node.leases.acquire(subject):
                return Result.requeue(1.0 + secrets.randbelow(1000) / 1000)
        except OSError as exc:
            return Result.failed(f"retention of project {name}: could not take its lock: {exc}")
        try:
            obs, _ = observe(ctx, key)  # the log as it is under the lock (acquire polled it)
            actions = decide(obs)
            for action in actions:
                _remove(node, name, action, obs)
        except (OSError, Rejected) as exc:
            return Result.failed(f"retention of project {name}: {exc}")
        finally:
            try:
                node.leases.release(subject)
            except (OSError, Rejected) as exc:  # it lapses by itself: a project's lock is never extended
                log.warning("retention of project %s: could not release its lock: %s", name, exc)
    if trash or actions:
        _delete_trash(ctx, name)
    return Result.done()


def _remove(node: NodeContext, project: str, action: RemoveWorkspace, obs: Observation) -> None:
    workspace = node.layout.stage_workspace(project, action.run)
    set_aside(workspace)
    when = datetime.fromtimestamp(obs.now, UTC).isoformat(timespec="seconds")
    text = (
        f"The workspace of StageRun {action.run} (stage {action.stage}, {action.phase.value}) was removed "
        f"by {action.why} at {when} on node {obs.node}.\n"
        "Its StageRun, its log and its record stay.\n"
    )
    atomic_write(workspace.with_name(action.run + MARKER_SUFFIX), text.encode())
    log.info("project %s: removed the workspace of %s by %s", project, action.run, action.why)


def _delete_trash(ctx: RetentionContext, project: str) -> None:
    """Delete every trash folder of the project on a thread (one per project at a time)."""
    with ctx.lock:
        if project in ctx.deleting:
            return
        ctx.deleting.add(project)
    stages = ctx.node.layout.project_dir(project) / "stages"

    def work() -> None:
        try:
            with os.scandir(stages) as it:
                names = [e.name for e in it if is_trash(e.name)]
            for trash in names:
                try:
                    remove_tree(stages / trash)
                except OSError as exc:  # next resync tries again
                    log.warning("project %s: could not delete %s: %s", project, stages / trash, exc)
        except OSError as exc:
            log.warning("project %s: could not list %s: %s", project, stages, exc)
        finally:
            with ctx.lock:
                ctx.deleting.discard(project)

    threading.Thread(target=work, name=f"retention {project}", daemon=True).start()


class RetentionReconciler:
    kind = KIND

    def __init__(self, ctx: NodeContext, *, resync_interval: float = 600.0) -> None:
        self.ctx = ctx
        self.own = RetentionContext(ctx)
        self.resync_interval = resync_interval
        self._last = float("-inf")

    def wakes(self, event: Event) -> Iterable[Key]:
        """A run's end, recorded by this node."""
        kind, name = subject_parts(event.subject)
        if (
            kind == STAGERUN
            and event.command is Command.RECORD
            and event.issuer == self.ctx.name
            and (event.payload or {}).get("phase") in ENDED
        ):
            yield Key(KIND, name.partition(".")[0])

    def due(self, now: float) -> Iterable[Key]:
        if now - self._last < self.resync_interval:
            return []
        self._last = now
        return [Key(KIND, name) for name in self.ctx.layout.store.names("Project")]

    def lease_key(self, subject: str) -> Key | None:
        return None

    def reconcile(self, key: Key) -> Result:
        obs, trash = observe(self.own, key)
        return apply(self.own, key, decide(obs), trash)
