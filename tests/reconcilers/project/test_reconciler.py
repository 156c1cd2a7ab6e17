"""The Project reconciler on a real share folder, without Docker: what a node does with the log
its previous process left behind."""

from __future__ import annotations

from collections.abc import Iterable

from tests.contexts import node_context
from tests.reconcilers.builders import make_pipeline, make_project
from winslow.controller.capacity import Capacity
from winslow.controller.context import NodeContext
from winslow.controller.daemon import Daemon
from winslow.controller.events import Event
from winslow.controller.layout import ShareLayout
from winslow.controller.reconciler import Key, Result
from winslow.controller.subjects import PROJECT, STAGERUN, lease_subject, lock_subject
from winslow.reconcilers.project import ProjectReconciler


def _node(layout: ShareLayout) -> NodeContext:
    ctx = node_context(layout, "ws-01", capacity=Capacity(cpu=2, memory=4 << 30))
    ctx.events.catch_up()
    return ctx


class KeepsRuns:
    """A StageRun reconciler as far as leases go: a run's lease is kept, with its container."""

    kind = STAGERUN

    def wakes(self, event: Event) -> Iterable[Key]:
        return []

    def due(self, now: float) -> Iterable[Key]:
        return []

    def lease_key(self, subject: str) -> Key | None:
        return Key(STAGERUN, subject.partition("/")[2]) if subject.startswith("stagerun/") else None

    def reconcile(self, key: Key) -> Result:
        return Result.done()


def test_a_lock_left_by_this_nodes_killed_process_is_released_at_start_and_the_project_goes_on(tmp_path):
    """Before: the restarted node saw the project's lock as its own; deciding under it, it found
    nothing to write (another node had won the election) or applied nothing, and its lease keeper
    extended the lock for good: the project stayed Running, the winner waiting for the lock."""
    layout = ShareLayout(tmp_path / "share")
    layout.ensure()
    layout.store.write_spec(make_pipeline("a"))
    layout.store.write_spec(make_project())
    killed = _node(layout)
    assert killed.leases.acquire(lock_subject("proj"))  # then SIGKILL, before its release
    assert killed.leases.acquire(lease_subject("proj.1.a"))

    ctx = _node(layout)
    project = ProjectReconciler(ctx)
    assert ctx.leases.holder(lock_subject("proj")) == "ws-01"
    assert Daemon(ctx, [project, KeepsRuns()]).release_leftovers() == [lock_subject("proj")]

    ctx.events.poll()
    assert ctx.leases.holder(lock_subject("proj")) is None
    assert ctx.leases.holder(lease_subject("proj.1.a")) == "ws-01", "a run's lease goes with its container"
    project.reconcile(Key(PROJECT, "proj"))
    ctx.events.poll()
    assert ctx.events.view().elections.open, "the project goes on: an election for its first stage"


def test_only_leases_a_reconciler_keeps_are_extended(tmp_path):
    """A project's lock whose release never landed (a full share, say) lapses by itself."""
    layout = ShareLayout(tmp_path / "share")
    layout.ensure()
    t = [1_000.0]
    ctx = _node(layout)
    ctx.events.monotonic = lambda: t[0]
    assert ctx.leases.acquire(lock_subject("proj")) and ctx.leases.acquire(lease_subject("proj.1.a"))
    t[0] += 20  # past half the lease
    Daemon(ctx, [ProjectReconciler(ctx), KeepsRuns()])._renew()
    t[0] += 15  # past the first lease, within the extension
    assert ctx.leases.mine() == [lease_subject("proj.1.a")]


def test_a_restarted_node_extends_its_stages_leases_at_once(tmp_path):
    """Before: the restarted process took each replayed lease for just taken and extended it half
    a lease later; the other nodes count from the last extension they saw, before the restart, and
    marked its stages Lost in between (the SIGKILL chaos test, with 6 s leases)."""
    layout = ShareLayout(tmp_path / "share")
    layout.ensure()
    killed = _node(layout)
    assert killed.leases.acquire(lease_subject("proj.1.a"))
    before = killed.events.view().seq
    ctx = _node(layout)
    assert Daemon(ctx, [ProjectReconciler(ctx), KeepsRuns()]).extend_kept() == [lease_subject("proj.1.a")]
    ctx.events.poll()
    assert ctx.events.view().seq > before, "an EXTEND on the log at once"
    assert ctx.leases.holder(lease_subject("proj.1.a")) == "ws-01"
