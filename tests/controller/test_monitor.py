"""controller.monitor.NodeDirectory: which nodes an election waits for."""

from __future__ import annotations

from pathlib import Path

from winslow.controller.monitor import NodeDirectory
from winslow.resources.node import Node
from winslow.resources.store import atomic_write, dump_yaml

NOW = 1_800_000_000.0


class Mono:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _node(folder: Path, name: str, heartbeat: float = NOW) -> None:
    node = Node.model_validate(
        {"metadata": {"name": name}, "status": {"capacity": {"cpu": 2}, "heartbeat": heartbeat}}
    )
    atomic_write(folder / f"{name}.yaml", dump_yaml(node.to_wire()), durable=False)


def test_live_nodes_are_those_with_a_recent_heartbeat(tmp_path):
    _node(tmp_path, "a")
    _node(tmp_path, "gone", heartbeat=NOW - 60)
    assert NodeDirectory(tmp_path).live(NOW, max_age=10) == {"a"}


def test_one_listing_serves_the_elections_of_its_freshness_window(tmp_path):
    """Before: every look at an open election read every node's file, after every reconcile;
    on a network share that was one of the reconcile loop's largest costs."""
    mono = Mono()
    nodes = NodeDirectory(tmp_path, fresh=0.5, monotonic=mono)
    _node(tmp_path, "a")
    assert nodes.live(NOW, max_age=10) == {"a"}
    _node(tmp_path, "b")
    mono.t = 0.4
    assert nodes.live(NOW, max_age=10) == {"a"}
    mono.t = 0.5
    assert nodes.live(NOW, max_age=10) == {"a", "b"}
