"""Every route in the OpenAPI document against every kind of caller.

The parametrization comes from the OpenAPI document itself: a route without an entry in CASES
fails here, so a new route cannot ship without deciding who may use it.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.api.conftest import Api
from tests.harness import pipeline, project, stage
from winslow.api.app import create_app
from winslow.api.identity import triggers
from winslow.api.server.deps import ApiContext
from winslow.controller.eventlog import EventLog
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Leases

ROLES = (None, "carol", "bob", "alice", "admin")  # anonymous, other user, member, owner, admin
ALLOWED = {
    "public": {None, "carol", "bob", "alice", "admin"},
    "user": {"carol", "bob", "alice", "admin"},
    "project": {"bob", "alice", "admin"},
    "admin": {"admin"},
    "creator": {"alice", "admin"},  # pipeline `demo` was created by alice
}


@dataclass
class Case:
    path: str
    rule: str
    ok: int = 200
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    lists: str | None = None  # for listings: the item only those with access to `p` see


P = "/api/v1/projects/p"
QUOTA = {
    "apiVersion": "winslow/v1",
    "kind": "Quota",
    "metadata": {"name": "gpu-alice"},
    "spec": {"user": "alice", "hard": {"gpu": 1}},
}
FILES = "/api/v1/files"
SEEDED_TRIGGER = "5eed5eed"  # the id of the trigger token `seeded` (below) gives project p
CASES: dict[tuple[str, str], list[Case]] = {
    ("GET", "/healthz"): [Case("/healthz", "public")],
    ("GET", "/metrics"): [Case("/metrics", "user")],
    ("POST", "/api/v1/apply"): [
        Case(
            "/api/v1/apply", "project", json={"documents": [project("p", "demo", members=["group:vision"])]}
        ),
        Case("/api/v1/apply", "creator", json={"documents": [pipeline("demo", stage("one", "echo 1"))]}),
        Case("/api/v1/apply", "user", json={"documents": [pipeline("mine", stage("one", "echo 1"))]}),
    ],
    ("GET", "/api/v1/pipelines"): [Case("/api/v1/pipelines", "user")],
    ("POST", "/api/v1/pipelines"): [
        Case("/api/v1/pipelines", "user", 201, json=pipeline("new", stage("a", "x")))
    ],
    ("GET", "/api/v1/pipelines/{name}"): [Case("/api/v1/pipelines/demo", "user")],
    ("PUT", "/api/v1/pipelines/{name}"): [
        Case("/api/v1/pipelines/demo", "creator", json=pipeline("demo", stage("one", "echo 2")))
    ],
    ("DELETE", "/api/v1/pipelines/{name}"): [Case("/api/v1/pipelines/demo", "admin")],
    ("GET", "/api/v1/projects"): [Case("/api/v1/projects", "user", lists="p")],
    ("GET", "/api/v1/quotas"): [Case("/api/v1/quotas", "user")],
    ("POST", "/api/v1/quotas"): [Case("/api/v1/quotas", "admin", 201, json=QUOTA)],
    ("GET", "/api/v1/quotas/{name}"): [Case("/api/v1/quotas/gpu-alice", "user", 404)],
    ("PUT", "/api/v1/quotas/{name}"): [Case("/api/v1/quotas/gpu-alice", "admin", json=QUOTA)],
    ("DELETE", "/api/v1/quotas/{name}"): [Case("/api/v1/quotas/gpu-alice", "admin", 404)],
    ("GET", "/api/v1/queue"): [Case("/api/v1/queue", "user")],
    ("POST", "/api/v1/projects"): [Case("/api/v1/projects", "user", 201, json=project("q", "demo"))],
    ("GET", "/api/v1/projects/{name}"): [Case(P, "project")],
    ("PUT", "/api/v1/projects/{name}"): [Case(P, "project", json=project("p", "demo", tags=["x"]))],
    ("DELETE", "/api/v1/projects/{name}"): [Case(P, "project")],
    ("POST", "/api/v1/projects/{name}/pause"): [Case(f"{P}/pause", "project")],
    ("POST", "/api/v1/projects/{name}/resume"): [Case(f"{P}/resume", "project", json={"from": "one"})],
    ("POST", "/api/v1/projects/{name}/confirm"): [Case(f"{P}/confirm", "project", json={"stage": "one"})],
    ("POST", "/api/v1/projects/{name}/env"): [Case(f"{P}/env", "project", json={"set": {"A": "1"}})],
    ("POST", "/api/v1/projects/{name}/kill"): [Case(f"{P}/kill", "project")],
    ("POST", "/api/v1/projects/{name}/tokens"): [Case(f"{P}/tokens", "project", 201)],
    ("GET", "/api/v1/projects/{name}/tokens"): [Case(f"{P}/tokens", "project")],
    ("DELETE", "/api/v1/projects/{name}/tokens/{token_id}"): [
        Case(f"{P}/tokens/{SEEDED_TRIGGER}", "project")
    ],
    # a trigger token's one route takes no user (server/test_triggers.py): every user's token is refused
    ("POST", "/api/v1/projects/{name}/trigger"): [Case(f"{P}/trigger", "public", 401)],
    ("GET", "/api/v1/stageruns"): [
        Case("/api/v1/stageruns", "user", lists="p.1.one"),
        Case("/api/v1/stageruns?project=p", "project"),
    ],
    ("GET", "/api/v1/stageruns/{name}"): [Case("/api/v1/stageruns/p.1.one", "project")],
    ("POST", "/api/v1/stageruns/{name}/kill"): [Case("/api/v1/stageruns/p.1.one/kill", "project")],
    ("GET", "/api/v1/stageruns/{name}/log"): [Case("/api/v1/stageruns/p.1.one/log", "project")],
    ("GET", "/api/v1/nodes"): [Case("/api/v1/nodes", "user")],
    ("GET", "/api/v1/nodes/{name}"): [Case("/api/v1/nodes/test-node", "user")],
    ("DELETE", "/api/v1/nodes/{name}"): [Case("/api/v1/nodes/test-node", "admin")],  # silent since 2026-01-01
    ("GET", "/api/v1/files/{path}"): [
        Case(f"{FILES}/resources/pool.bin", "user"),
        Case(f"{FILES}/resources", "user"),
        Case(f"{FILES}/workspaces", "user", lists="p"),
        Case(f"{FILES}/workspaces/p/input/clip.mp4", "project"),
        Case(f"{FILES}/workspaces/p/input", "project"),
    ],
    ("HEAD", "/api/v1/files/{path}"): [
        Case(f"{FILES}/resources/pool.bin", "user"),
        Case(f"{FILES}/resources/pool.bin?upload=true", "user"),
        Case(f"{FILES}/workspaces/p/input/clip.mp4", "project"),
        Case(f"{FILES}/workspaces/p/input/clip.mp4?upload=true", "project"),
    ],
    ("PUT", "/api/v1/files/{path}"): [
        Case(f"{FILES}/resources/new.bin", "user", 201, content=b"new"),
        Case(f"{FILES}/workspaces/p/input/new.bin", "project", 201, content=b"new"),
    ],
    ("POST", "/api/v1/files/{path}"): [
        Case(f"{FILES}/resources/new-dir", "user", 201),
        Case(f"{FILES}/workspaces/p/output/new-dir", "project", 201),
    ],
    ("DELETE", "/api/v1/files/{path}"): [
        Case(f"{FILES}/resources/pool.bin", "user"),
        Case(f"{FILES}/workspaces/p/input/clip.mp4", "project"),
    ],
    ("GET", "/api/v1/settings/env"): [Case("/api/v1/settings/env", "admin")],
    ("PUT", "/api/v1/settings/env"): [Case("/api/v1/settings/env", "admin", json={"A": "1"})],
    ("GET", "/api/v1/settings/users"): [Case("/api/v1/settings/users", "admin")],
    ("GET", "/api/v1/whoami"): [Case("/api/v1/whoami", "user")],
    ("GET", "/api/v1/reports/utilisation"): [Case("/api/v1/reports/utilisation", "user")],
    ("GET", "/api/v1/disk/projects"): [
        Case("/api/v1/disk/projects", "user", lists="p"),
        Case("/api/v1/disk/projects?project=p", "project"),
    ],
    # signing in checks the token in the body, whoever asks; signing out ends the cookie's session, if any
    ("POST", "/api/v1/session"): [Case("/api/v1/session", "public", 401, json={"token": "wsl_not-valid"})],
    ("DELETE", "/api/v1/session"): [Case("/api/v1/session", "public")],
}


@pytest.fixture
def seeded(seeded: Api) -> Api:
    """conftest's `seeded`, and a trigger token of `p` with a known id."""
    token = {
        "id": SEEDED_TRIGGER,
        "hash": triggers.hash_secret("wst_seeded"),
        "created": "2026-01-01T00:00:00Z",
        "createdBy": "alice",
        "projectUid": seeded.layout.store.project("p").metadata.uid,
    }
    seeded.layout.trigger_file("p").parent.mkdir(parents=True, exist_ok=True)
    seeded.layout.trigger_file("p").write_text(yaml.safe_dump({"tokens": [token]}))
    return seeded


def operations() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as folder:
        layout = ShareLayout(Path(folder))
        leases = Leases(EventLog(layout.events, "x", time.time), 30)
        ctx = ApiContext(layout=layout, leases=leases, node="x", clock=time.time)
        document = create_app(ctx).openapi()
    return sorted((method.upper(), path) for path, item in document["paths"].items() for method in item)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
@pytest.mark.parametrize(("method", "template"), operations(), ids=lambda v: v)
def test_route_honours_the_access_matrix(seeded: Api, method: str, template: str, role: str | None) -> None:
    cases = CASES.get((method, template))
    assert cases, f"{method} {template} is not in the access matrix: add it to CASES in {__file__}"
    for case in cases:
        client = seeded.as_(role)
        reply = client.request(method, case.path, json=case.json, content=case.content, headers=case.headers)
        where = f"{role or 'anonymous'}: {method} {case.path}"
        if role not in ALLOWED[case.rule]:
            # A project's routes answer as if it did not exist (tests/hostile: case 9); applying
            # one creates it when it does not, so that refusal can say what it is.
            applies = case.path == "/api/v1/apply" or (method == "PUT" and case.path == P)
            refused = 404 if case.rule == "project" and not applies else 403
            assert reply.status_code == (401 if role is None else refused), (
                f"{where}: {reply.status_code} {reply.text}"
            )
            if method != "HEAD":
                assert reply.json()["detail"], where
            continue
        assert reply.status_code == case.ok, f"{where}: {reply.status_code} {reply.text}"
        if case.lists is not None:
            assert (case.lists in listed(reply.json())) == (role in ALLOWED["project"]), where


def listed(body: dict[str, Any]) -> set[str]:
    if "entries" in body:
        return {e["name"] for e in body["entries"]}
    return {i["project"] if "project" in i else i["metadata"]["name"] for i in body["items"]}


def test_every_case_names_a_route_that_exists() -> None:
    assert set(CASES) <= set(operations()), set(CASES) - set(operations())


def test_a_project_created_by_a_user_is_owned_by_them(api: Api) -> None:
    api.as_("admin").post("/api/v1/pipelines", json=pipeline("demo", stage("one", "x")))
    reply = api.as_("carol").post("/api/v1/projects", json=project("mine", "demo"))
    assert reply.status_code == 201, reply.text
    assert reply.json()["spec"]["owner"] == "carol"
    assert api.as_("alice").get("/api/v1/projects/mine").status_code == 404
    assert [i["metadata"]["name"] for i in api.as_("alice").get("/api/v1/projects").json()["items"]] == []


def test_a_user_cannot_take_over_a_project_by_applying_it(seeded: Api) -> None:
    hijack = project("p", "demo", owner="carol", members=["carol"])
    reply = seeded.as_("carol").put("/api/v1/projects/p", json=hijack)
    assert reply.status_code == 403
    assert seeded.layout.store.project("p").spec.owner == "alice"


def test_a_deleted_project_name_with_history_is_not_handed_to_another_user(seeded: Api) -> None:
    assert seeded.as_("alice").delete("/api/v1/projects/p").status_code == 200
    reply = seeded.as_("carol").post("/api/v1/projects", json=project("p", "demo"))
    assert reply.status_code == 409 and "history" in reply.json()["detail"]
    assert seeded.as_("admin").post("/api/v1/projects", json=project("p", "demo")).status_code == 201


def test_a_member_by_name_has_access_and_others_lose_it_when_removed(seeded: Api) -> None:
    change = project("p", "demo", members=["carol"])
    assert seeded.as_("alice").put("/api/v1/projects/p", json=change).status_code == 200
    assert seeded.as_("carol").get("/api/v1/projects/p").status_code == 200
    assert seeded.as_("bob").get("/api/v1/projects/p").status_code == 404


def test_an_invalid_token_is_401_and_says_what_to_do(api: Api) -> None:
    reply = api.client.get("/api/v1/pipelines", headers={"Authorization": "Bearer nope"})
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert "winslow user add" in reply.json()["detail"]


def test_the_users_file_is_reread_when_it_changes(api: Api) -> None:
    from winslow.api.identity import users

    token = users.add(api.layout.users_file, "dave")
    assert (
        api.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"}).json()["name"]
        == "dave"
    )
