"""Owners are who created them (issue 17): the applying user is the creator, recorded with the
time; only an admin names another owner, and that is recorded; a file cannot claim an author;
the user behind a resume or confirmation is recorded where people see it."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.harness import pipeline, project, stage
from winslow.api.server.spec_changes import CREATED_AT, CREATED_BY, OWNER_SET_BY

pytestmark = pytest.mark.timeout(60)


def apply(api: Api, who: str, *docs: dict) -> tuple[int, dict]:
    reply = api.as_(who).post("/api/v1/apply", json={"documents": list(docs)})
    return reply.status_code, reply.json()


def got(api: Api, kind: str, name: str) -> dict:
    return api.as_("admin").get(f"/api/v1/{kind}/{name}").json()


@pytest.fixture
def demo(api: Api) -> Api:
    assert apply(api, "alice", pipeline("demo", stage("one", "echo one")))[0] == 200
    return api


def test_the_creator_owns_a_project_and_is_recorded_with_the_time(demo: Api) -> None:
    assert apply(demo, "alice", project("p", "demo"))[0] == 200
    meta, spec = got(demo, "projects", "p")["metadata"], got(demo, "projects", "p")["spec"]
    assert spec["owner"] == "alice" and meta["annotations"][CREATED_BY] == "alice"
    assert meta["annotations"][CREATED_AT].startswith(meta["creationTimestamp"][:19])
    assert got(demo, "pipelines", "demo")["metadata"]["annotations"][CREATED_BY] == "alice"


def test_a_user_cannot_name_another_owner(demo: Api) -> None:
    status, body = apply(demo, "alice", project("p", "demo", owner="admin"))
    assert status == 403 and "spec.owner: only an admin may name 'admin'" in body["detail"]
    assert demo.as_("admin").get("/api/v1/projects/p").status_code == 404, "nothing was written"
    assert apply(demo, "alice", project("p", "demo", owner="alice"))[0] == 200
    status, body = apply(demo, "alice", project("p", "demo", owner="bob"))
    assert status == 403 and got(demo, "projects", "p")["spec"]["owner"] == "alice"


def test_an_admin_may_name_the_owner_and_that_is_recorded(demo: Api) -> None:
    assert apply(demo, "admin", project("q", "demo", owner="alice"))[0] == 200
    found = got(demo, "projects", "q")
    assert found["spec"]["owner"] == "alice"
    assert found["metadata"]["annotations"][CREATED_BY] == "admin"
    assert found["metadata"]["annotations"][OWNER_SET_BY] == "admin"
    assert demo.as_("alice").get("/api/v1/projects/q").status_code == 200


def test_a_file_cannot_claim_an_author(demo: Api) -> None:
    forged = project("p", "demo")
    forged["metadata"]["annotations"] = {CREATED_BY: "bob", CREATED_AT: "2001-01-01T00:00:00Z", "mine": "x"}
    assert apply(demo, "alice", forged)[0] == 200
    annotations = got(demo, "projects", "p")["metadata"]["annotations"]
    assert annotations[CREATED_BY] == "alice" and not annotations[CREATED_AT].startswith("2001")
    assert annotations["mine"] == "x"
    forged["metadata"]["annotations"] = {CREATED_BY: "carol"}
    assert apply(demo, "alice", forged)[0] == 200
    assert got(demo, "projects", "p")["metadata"]["annotations"][CREATED_BY] == "alice"


def test_reapplying_what_get_shows_changes_nothing(demo: Api) -> None:
    assert apply(demo, "alice", project("p", "demo"))[0] == 200
    shown = got(demo, "projects", "p")
    status, body = apply(demo, "alice", shown)
    assert status == 200 and body["results"][0]["result"] == "unchanged", body


def test_resume_and_confirm_name_the_user(demo: Api) -> None:
    assert apply(demo, "alice", project("p", "demo", members=["bob"]))[0] == 200
    assert demo.as_("bob").post("/api/v1/projects/p/resume", json={"from": "one"}).status_code == 200
    assert got(demo, "projects", "p")["spec"]["runFrom"]["by"] == "bob"
    assert demo.as_("alice").post("/api/v1/projects/p/confirm", json={"stage": "one"}).status_code == 200
    assert got(demo, "projects", "p")["spec"]["confirm"]["by"] == "alice"
    asked = got(demo, "projects", "p")
    asked["spec"]["runFrom"] = {"stage": "one", "requestedAt": "2030-01-01T00:00:00Z", "by": "carol"}
    assert apply(demo, "bob", asked)[0] == 200
    assert got(demo, "projects", "p")["spec"]["runFrom"]["by"] == "bob", "a file cannot name another"
