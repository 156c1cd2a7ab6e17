"""api.imagecheck: apply warns, and still applies, when no live node has a stage's image."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tests.api.conftest import Api
from tests.harness import pipeline, stage
from winslow.api.server import imagecheck
from winslow.controller.layout import ShareLayout
from winslow.resources.amount import Amount
from winslow.resources.node import LocalImage, Node, NodeStatus
from winslow.resources.store import atomic_write, dump_yaml

pytestmark = pytest.mark.timeout(60)


def publish(layout: ShareLayout, name: str, images: list[LocalImage] | None, *, age: float = 0.0) -> None:
    node = Node(
        metadata={"name": name},  # type: ignore[arg-type]
        status=NodeStatus(
            capacity=Amount(4, 8 << 30, 0),
            heartbeat=datetime.fromtimestamp(time.time() - age, UTC),
            images=images,
        ),
    )
    atomic_write(layout.node_file(name), dump_yaml(node.to_wire()), durable=False)


@pytest.mark.parametrize(
    ("image", "normal"),
    [
        ("busybox", "busybox:latest"),
        ("docker.io/library/busybox:1.36", "busybox:1.36"),
        ("ghcr.io/lab/detect:2", "ghcr.io/lab/detect:2"),
        ("localhost:5000/detect", "localhost:5000/detect:latest"),
        ("busybox@sha256:abc", "busybox@sha256:abc"),
    ],
)
def test_image_names_are_compared_as_docker_resolves_them(image: str, normal: str) -> None:
    assert imagecheck.normal(image) == normal


def test_apply_warns_about_an_image_no_live_node_has(api: Api) -> None:
    publish(api.layout, "gpu-box", [LocalImage(id="sha256:0123456789ab", tags=["busybox:latest"])])
    publish(api.layout, "gone", [LocalImage(id="sha256:ffffffffffff", tags=["detect:9"])], age=3600)
    doc = pipeline("traffic", stage("one", "true"), stage("two", "true"))
    doc["spec"]["stages"][0]["image"] = "busybox"
    doc["spec"]["stages"][1]["image"] = "detect:9"
    reply = api.as_("alice").post("/api/v1/apply", json={"documents": [doc]})
    assert reply.status_code == 200
    assert reply.json()["results"][0]["result"] == "created"
    assert reply.json()["warnings"] == [
        "pipeline/traffic: stage two: no live node has image 'detect:9' yet; the node that runs the stage "
        "will pull it when the stage starts (a failed pull fails the stage)"
    ]


def test_no_warning_when_no_node_reports_its_images(api: Api) -> None:
    publish(api.layout, "old-node", None)
    doc = pipeline("traffic", stage("one", "true"))
    doc["spec"]["stages"][0]["image"] = "nowhere:1"
    reply = api.as_("alice").post("/api/v1/apply", json={"documents": [doc]}).json()
    assert "warnings" not in reply


def test_schema_errors_change_nothing_on_the_share(api: Api) -> None:
    doc = pipeline("traffic", stage("one", "true"))
    doc["spec"]["stages"][0]["timeoutSecnds"] = 5
    reply = api.as_("alice").post("/api/v1/apply", json={"documents": [doc], "source": "traffic.yaml"})
    assert reply.status_code == 422
    assert reply.json()["problems"] == [
        {"field": "spec.stages[0].timeoutSecnds", "message": "unknown field; did you mean `timeoutSeconds`?"}
    ]
    assert not api.layout.store.spec_path("Pipeline", "traffic").exists()
