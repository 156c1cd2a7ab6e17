"""The Project reconciler on a real share folder, without Docker: what a node does with the log
its previous process left behind."""

from __future__ import annotations

import time

from tests.reconcilers.builders import make_pipeline, make_project
from winslow.controller.capacity import Capacity
from winslow.controller.context import NodeConfig, NodeContext
from winslow.controller.eventlog import EventLog
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Leases
from winslow.controller.loop import WorkQueue
from winslow.controller.reconciler import Key
from winslow.reconcilers.project import ProjectReconciler
from winslow.reconcilers.subjects import PROJECT, lock_subject


def _node(layout: ShareLayout) -> NodeContext:
    events = EventLog(layout.events, "ws-01", time.time)
    events.poll()
    return NodeContext(
        config=NodeConfig(name="ws-01", capacity=Capacity(cpu=2, memory=4 << 30)),
        layout=layout,
        events=events,
        leases=Leases(events, 30),
        runtime=None,
        clock=time.time,
        queue=WorkQueue(time.time),
    )


def test_a_lock_left_by_this_nodes_killed_process_is_taken_over_and_released(tmp_path):
    """Before: the restarted node saw the lock as its own, decided to write the status, applied
    nothing (writes were applied only after taking the lock) and its lease keeper extended the
    lock for good: the project stayed Running although its last stage had succeeded."""
    layout = ShareLayout(tmp_path / "share")
    layout.ensure()
    layout.store.write_spec(make_pipeline("a"))
    layout.store.write_spec(make_project())
    killed = _node(layout)
    assert killed.leases.acquire(lock_subject("proj"))  # then SIGKILL, before its release

    ctx = _node(layout)
    assert ctx.leases.holder(lock_subject("proj")) == "ws-01"
    ProjectReconciler(ctx).reconcile(Key(PROJECT, "proj"))

    ctx.events.poll()
    assert ctx.leases.holder(lock_subject("proj")) is None
    status = layout.store.project_status("proj")
    assert status is not None and status.project == "proj"
