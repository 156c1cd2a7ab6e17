"""A node's published status names the StageRuns it runs; a user sees only those of projects they
may see, and how many others there are, while the node's resource totals stay whole."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.api.conftest import Api, write_run
from tests.harness import project

RUNNING = ["p.1.one", "q.1.one", "not-a-run-name"]


@pytest.fixture
def busy(seeded: Api) -> Api:
    """Besides alice's `p` (bob a member by group): carol's `q`, both running on `test-node`."""
    reply = seeded.as_("carol").post("/api/v1/apply", json={"documents": [project("q", "demo")]})
    assert reply.status_code == 200, reply.text
    write_run(seeded.layout, "q.1.one", phase="Running")
    node = {
        "kind": "Node",
        "metadata": {"name": "test-node"},
        "status": {
            "capacity": {"cpu": 8, "memory": 2**34},
            "reservations": {"cpu": 3, "memory": 2**31},
            "running": RUNNING,
            "history": {"start": "2026-01-01T00:00:00Z", "running": [2.0, 3.0]},
            "heartbeat": "2026-01-01T00:00:00Z",
        },
    }
    seeded.layout.node_file("test-node").write_text(yaml.safe_dump(node))
    return seeded


def statuses(api: Api, who: str) -> list[dict[str, Any]]:
    listed = api.as_(who).get("/api/v1/nodes")
    one = api.as_(who).get("/api/v1/nodes/test-node")
    assert listed.status_code == one.status_code == 200, (listed.text, one.text)
    return [listed.json()["items"][0]["status"], one.json()["status"]]


@pytest.mark.parametrize(
    ("who", "running", "hidden"),
    [
        ("alice", ["p.1.one"], 2),
        ("bob", ["p.1.one"], 2),
        ("carol", ["q.1.one"], 2),
        ("admin", RUNNING, 0),
    ],
)
def test_a_user_sees_only_the_runs_of_projects_they_may_see(
    busy: Api, who: str, running: list[str], hidden: int
) -> None:
    for status in statuses(busy, who):
        assert status["running"] == running
        assert status["runningHidden"] == hidden
        assert status["reservations"] == {"cpu": 3.0, "memory": 2**31, "gpu": 0}
        assert status["history"]["running"] == [2.0, 3.0]


def test_no_name_of_a_hidden_project_is_in_the_answer(busy: Api) -> None:
    for who, unseen in (("alice", "q.1.one"), ("carol", "p.1.one")):
        for url in ("/api/v1/nodes", "/api/v1/nodes/test-node"):
            body = busy.as_(who).get(url).text
            assert unseen not in body and "not-a-run-name" not in body


def test_a_run_of_a_project_whose_spec_is_gone_is_for_admins_only(busy: Api) -> None:
    assert busy.as_("carol").delete("/api/v1/projects/q").status_code == 200
    assert statuses(busy, "carol")[0]["running"] == []
    assert statuses(busy, "admin")[0]["running"] == RUNNING
