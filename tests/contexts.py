"""One node's context on a real share folder, without a node process: for tests of what a node's
parts do (reconcilers, records, metrics) with the clock and the runtime injected."""

from __future__ import annotations

import time
from pathlib import Path

from winslow.controller.capacity import Capacity
from winslow.controller.context import NodeConfig, NodeContext
from winslow.controller.eventlog import EventLog
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Leases
from winslow.controller.loop import WorkQueue
from winslow.controller.runtime import Runtime


def node_context(
    share: Path | ShareLayout,
    name: str = "n1",
    *,
    capacity: Capacity | None = None,
    runtime: Runtime | None = None,
) -> NodeContext:
    """A share folder or the layout of one another context already uses (two nodes on one share)."""
    layout = share if isinstance(share, ShareLayout) else ShareLayout(share)
    layout.ensure()
    events = EventLog(layout.events, name, time.time)
    config = NodeConfig(name=name) if capacity is None else NodeConfig(name=name, capacity=capacity)
    return NodeContext(
        config=config,
        layout=layout,
        events=events,
        leases=Leases(events, 30),
        runtime=runtime,
        clock=time.time,
        queue=WorkQueue(time.monotonic),
    )
