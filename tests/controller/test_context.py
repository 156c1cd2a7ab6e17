"""What a node offers in elections."""

from __future__ import annotations

from typing import Any

from winslow.controller.capacity import Capacity
from winslow.controller.context import NodeConfig, NodeContext
from winslow.resources.amount import Amount


def context(outside: Amount | None, *, asked: bool = True) -> NodeContext:
    none: Any = None  # what free() never touches
    ctx = NodeContext(
        config=NodeConfig("n1", capacity=Capacity(cpu=8, memory=16 << 30)),
        layout=none,
        events=none,
        leases=none,
        runtime=none,
        clock=lambda: 0.0,
        queue=none,
    )
    if asked:
        ctx.outside_free = lambda: outside
    return ctx


def test_a_node_offers_its_capacity_less_its_own_runs() -> None:
    ctx = context(None, asked=False)
    ctx.reservations.grant("p.1.a", Amount(2, 4 << 30), [])
    assert ctx.free() == Amount(6, 12 << 30, 0)


def test_a_slurm_node_offers_no_more_than_its_partition_has_free() -> None:
    """Other users' jobs take the partition too; the node's own runs count once either way."""
    ctx = context(Amount(3, 64 << 30, 2))
    ctx.reservations.grant("p.1.a", Amount(2, 4 << 30), [])
    assert ctx.free() == Amount(3, 12 << 30, 0)
    assert context(None).free() == Amount(8, 16 << 30, 0), "while sinfo does not answer: the capacity"
