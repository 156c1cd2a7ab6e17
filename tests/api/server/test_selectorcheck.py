"""api.selectorcheck: apply warns, and still applies, when no live node matches a stage's nodeSelector."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.api.conftest import Api
from tests.harness import pipeline, stage
from winslow.controller.layout import ShareLayout
from winslow.resources.amount import Amount
from winslow.resources.node import Node, NodeStatus
from winslow.resources.store import atomic_write, dump_yaml

pytestmark = pytest.mark.timeout(60)


def publish(layout: ShareLayout, name: str, labels: dict[str, str], *, age: float = 0.0) -> None:
    node = Node(
        metadata={"name": name, "labels": labels},  # type: ignore[arg-type]
        status=NodeStatus(
            capacity=Amount(4, 8 << 30, 0), heartbeat=datetime.fromtimestamp(time.time() - age, UTC)
        ),
    )
    atomic_write(layout.node_file(name), dump_yaml(node.to_wire()), durable=False)


def test_apply_warns_about_a_selector_no_live_node_matches(api: Api) -> None:
    publish(api.layout, "node-a", {"gpu": "t4"})
    publish(api.layout, "node-b", {})
    publish(api.layout, "gone", {"gpu": "a100"}, age=3600)
    doc = pipeline(
        "train",
        stage("any", "true"),
        stage("small", "true", nodeSelector={"gpu": "t4"}),
        stage("big", "true", nodeSelector={"gpu": "a100"}),
    )
    reply = api.as_("alice").post("/api/v1/apply", json={"documents": [doc]})
    assert reply.status_code == 200
    assert reply.json()["results"][0]["result"] == "created", "a warning, not a refusal"
    assert reply.json()["warnings"] == [
        "pipeline/train: stage big: no live node has labels gpu=a100: node-a has gpu=t4, node-b has no "
        "labels; the stage waits until a node with them runs (`winslow node --label`)"
    ]


def test_apply_says_nothing_when_a_live_node_matches(api: Api) -> None:
    publish(api.layout, "node-a", {"gpu": "a100", "disk": "ssd"})
    doc = pipeline("train", stage("big", "true", nodeSelector={"gpu": "a100"}))
    reply = api.as_("alice").post("/api/v1/apply", json={"documents": [doc]})
    assert reply.status_code == 200 and "warnings" not in reply.json()
