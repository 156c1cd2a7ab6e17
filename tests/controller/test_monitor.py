"""controller.monitor.NodeDirectory: which nodes an election waits for."""

from __future__ import annotations

from pathlib import Path

from winslow.controller.monitor import NodeDirectory, read_beat, readiness, write_beat
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


def _status(**status: object) -> Node:
    base = {"capacity": {"cpu": 2}, "heartbeat": NOW, "heartbeatSeconds": 5.0, "stageTolerance": 300}
    return Node.model_validate({"metadata": {"name": "a"}, "status": {**base, **status}})


def test_a_node_is_not_ready_after_three_missed_heartbeats_and_says_since_when():
    assert readiness(_status(), NOW + 16.9).ready
    late = readiness(_status(), NOW + 17.1)
    assert not late.ready and late.since is not None and late.since.timestamp() == NOW + 5
    assert late.reason == "no heartbeat for 17s; its stages are kept for 300s"


def test_a_stopped_node_is_not_ready_at_once_and_waits_for_no_election(tmp_path):
    stopped = readiness(_status(stopped=NOW), NOW)
    assert not stopped.ready and stopped.reason.startswith("stopped (a restart adopts its stages)")
    node = _status(stopped=NOW)
    atomic_write(tmp_path / "a.yaml", dump_yaml(node.to_wire()), durable=False)
    assert NodeDirectory(tmp_path).live(NOW, 30) == set()


def test_the_fixed_size_beat_keeps_a_node_ready_while_its_status_file_cannot_be_replaced(tmp_path):
    beat = tmp_path / "a.beat"
    write_beat(beat, NOW + 100)
    size = beat.stat().st_size
    write_beat(beat, NOW + 1000)
    assert beat.stat().st_size == size and read_beat(beat) == NOW + 1000, "rewritten in place"
    assert readiness(_status(), NOW + 1010, read_beat(beat)).ready
    assert not readiness(_status(), NOW + 1010).ready
    beat.write_bytes(b"00000000001800000000.000000 00000000001800000001.000000\n")
    assert read_beat(beat) is None, "a torn write counts as no beat"
    assert read_beat(tmp_path / "missing.beat") is None
