"""Clock skew between real node processes: one node's wall clock runs 3 s ahead under libfaketime
(its monotonic clock left alone, as NTP leaves it); the other two agree, being on one machine."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.harness import (
    NodeProcess,
    get_json,
    missing,
    pipeline,
    project,
    stage,
    wait_for,
    winsctl,
    write_yaml,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]

SKEW = 3.0
SETUP = "scripts/setup-host.sh --tests installs it"


@pytest.fixture
def faketime() -> str:
    return shutil.which("faketime") or missing(
        "faketime is missing: scripts/setup-host.sh --tests installs it"
    )


def _offsets(server: str) -> dict[str, float | None]:
    return {
        n["metadata"]["name"]: n["status"].get("clockOffsetSeconds")
        for n in get_json(server, "nodes")["items"]
    }


def test_a_skewed_node_is_named_the_others_are_not_and_work_goes_on(
    docker_engine, share, nodes, tmp_path, faketime
):
    skewed = ("env", "FAKETIME_DONT_FAKE_MONOTONIC=1", faketime, "-f", f"+{SKEW:g}s")
    a, b = (NodeProcess(share, name).start() for name in ("node-a", "node-b"))
    c = NodeProcess(share, "node-c", wrap=skewed).start()
    nodes.extend([a, b, c])
    stages = [stage(f"s{i}", "echo ran") for i in range(3)]
    manifests = [pipeline("steps", *stages), *(project(f"p{i}", "steps") for i in range(4))]
    winsctl(a.url, "apply", "-f", str(write_yaml(tmp_path / "p.yaml", *manifests)))

    def seen() -> bool:
        found = _offsets(a.url)
        return found.get("node-c") is not None and SKEW - 0.5 < found["node-c"] <= SKEW  # type: ignore[operator]

    wait_for(seen, 60, "node-a to measure node-c's clock about 3 s ahead")
    wait_for(
        lambda: all(get_json(a.url, "project", f"p{i}")["status"]["phase"] == "Succeeded" for i in range(4)),
        90,
        "every project to succeed",
    )

    from_a = _offsets(a.url)
    assert from_a["node-b"] is not None and abs(from_a["node-b"]) < 0.5, from_a
    from_c = _offsets(c.url)
    assert from_c["node-a"] is not None and -SKEW <= from_c["node-a"] < -(SKEW - 0.5), from_c
    listing = winsctl(a.url, "get", "nodes", "-o", "wide")
    assert "node node-c is" in listing.stderr and "ahead" in listing.stderr, listing.stderr
    assert "node-b" not in listing.stderr, listing.stderr
    logs = {n.name: n.logfile.read_text() for n in (a, b, c)}
    assert "the clock of node node-c is" in logs["node-a"] and "NTP" in logs["node-a"]
    assert re.search(
        r"the clock of node node-b is (2\.[5-9]|3\.0)s behind that of node node-c", logs["node-c"]
    )
    assert "the clock of node node-b" not in logs["node-a"]
    assert "the clock of node node-a" not in logs["node-b"]
