"""Trigger tokens: made, listed and revoked by those with rights on the project; a token starts
its own project's run through one route and is refused everywhere else."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import yaml

from tests.api.conftest import Api
from tests.harness import project
from winslow.api.identity import triggers

pytestmark = pytest.mark.timeout(60)
P = "/api/v1/projects/p"


def make(api: Api, who: str = "alice", name: str = "ci", target: str = "p") -> dict[str, str]:
    reply = api.as_(who).post(f"/api/v1/projects/{target}/tokens", json={"name": name})
    assert reply.status_code == 201, reply.text
    made: dict[str, str] = reply.json()
    return made


def fire(api: Api, secret: str | None, target: str = "p", **kw: Any) -> httpx.Response:
    api.client.headers.pop("Authorization", None)
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return api.client.post(f"/api/v1/projects/{target}/trigger", headers=headers, **kw)


def test_owner_members_and_admins_make_list_and_revoke_tokens_others_cannot(seeded: Api) -> None:
    made = {who: make(seeded, who, name=f"for {who}") for who in ("alice", "bob", "admin")}
    secret = made["alice"]["token"]
    assert secret.startswith("wst_") and len(secret) > 40
    assert set(made["alice"]) == {"id", "name", "created", "createdBy", "lastUsed", "token"}
    assert made["bob"]["createdBy"] == "bob" and made["alice"]["name"] == "for alice"

    text = seeded.layout.trigger_file("p").read_text()
    assert secret not in text and triggers.hash_secret(secret) in text, "only the hash is stored"

    listed = seeded.as_("bob").get(f"{P}/tokens")
    assert listed.status_code == 200, listed.text
    tokens = listed.json()["tokens"]
    assert [t["id"] for t in tokens] == [made[w]["id"] for w in ("alice", "bob", "admin")]
    assert all(set(t) == {"id", "name", "created", "createdBy", "lastUsed"} for t in tokens)
    assert "sha256" not in listed.text and secret not in listed.text

    for who in ("carol",):  # not hers: the same answer as for a project that does not exist
        assert seeded.as_(who).post(f"{P}/tokens").status_code == 404
        assert seeded.as_(who).get(f"{P}/tokens").status_code == 404
        assert seeded.as_(who).delete(f"{P}/tokens/{made['alice']['id']}").status_code == 404
    assert seeded.as_(None).get(f"{P}/tokens").status_code == 401

    gone = seeded.as_("bob").delete(f"{P}/tokens/{made['alice']['id']}")
    assert gone.status_code == 200 and gone.json() == {"project": "p", "revoked": made["alice"]["id"]}
    again = seeded.as_("alice").delete(f"{P}/tokens/{made['alice']['id']}")
    assert again.status_code == 404 and "winsctl token list p" in again.json()["detail"]
    left = [t["id"] for t in seeded.as_("admin").get(f"{P}/tokens").json()["tokens"]]
    assert left == [made["bob"]["id"], made["admin"]["id"]]


def test_a_label_is_checked(seeded: Api) -> None:
    reply = seeded.as_("alice").post(f"{P}/tokens", json={"name": "bad\nlabel"})
    assert reply.status_code == 422 and "name" in reply.json()["detail"]
    assert seeded.as_("alice").post(f"{P}/tokens").status_code == 201, "the label is optional"


def test_a_trigger_sets_env_and_reruns_from_a_stage_recorded_as_the_token(seeded: Api) -> None:
    made = make(seeded)
    reply = fire(seeded, made["token"], json={"env": {"MIN_TRACK_LENGTH": "40"}, "from": "one"})
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["token"] == made["id"] and answer["from"] == "one" and answer["env"] == ["MIN_TRACK_LENGTH"]
    assert answer["requested"] is True
    spec = seeded.layout.store.project("p").spec
    assert spec.env == {"MIN_TRACK_LENGTH": "40"}
    assert spec.run_from is not None and spec.run_from.stage == "one"
    assert spec.run_from.by == f"token:{made['id']}"
    assert not spec.paused
    listed = seeded.as_("alice").get(f"{P}/tokens").json()["tokens"]
    assert listed[0]["lastUsed"] is not None


def test_a_trigger_without_a_body_reruns_a_finished_project_with_no_cookie_and_no_csrf(seeded: Api) -> None:
    """A webhook sender: only the header. The one stage of `p` succeeded, so it runs again."""
    made = make(seeded)
    seeded.client.cookies.clear()
    reply = fire(seeded, made["token"])
    assert reply.status_code == 200, reply.text
    assert reply.json()["from"] == "one"
    run_from = seeded.layout.store.project("p").spec.run_from
    assert run_from is not None and run_from.by == f"token:{made['id']}"


def test_a_paused_project_is_resumed(seeded: Api) -> None:
    made = make(seeded)
    assert seeded.as_("alice").post(f"{P}/pause").status_code == 200
    reply = fire(seeded, made["token"], json={"env": {"A": "1"}})
    assert reply.status_code == 200, reply.text
    spec = seeded.layout.store.project("p").spec
    assert not spec.paused and spec.env == {"A": "1"}


def test_a_trigger_refuses_an_unknown_stage(seeded: Api) -> None:
    made = make(seeded)
    reply = fire(seeded, made["token"], json={"from": "onee"})
    assert reply.status_code == 422 and "'onee' is not a stage" in reply.json()["detail"]
    typo = fire(seeded, made["token"], json={"form": "one"})
    assert typo.status_code == 422, "a misspelt field is an error, not a silent resume"
    for env in ({"": "x"}, {"A=B": "x"}, {"A": "nul\x00"}, {"A": 1}):
        assert fire(seeded, made["token"], json={"env": env}).status_code == 422, env
    assert seeded.layout.store.project("p").spec.run_from is None


def test_a_trigger_token_opens_nothing_else(seeded: Api) -> None:
    secret = make(seeded)["token"]
    bearer = {"Authorization": f"Bearer {secret}"}
    seeded.client.headers.pop("Authorization", None)
    for method, path in (
        ("GET", P),
        ("GET", "/api/v1/projects"),
        ("POST", f"{P}/resume"),
        ("POST", f"{P}/pause"),
        ("POST", f"{P}/env"),
        ("GET", f"{P}/tokens"),
        ("POST", f"{P}/tokens"),
        ("GET", "/api/v1/whoami"),
        ("GET", "/api/v1/stageruns/p.1.one/log"),
        ("GET", "/api/v1/files/workspaces/p/input/clip.mp4"),
    ):
        reply = seeded.client.request(method, path, headers=bearer)
        assert reply.status_code == 401, f"{method} {path}: {reply.status_code} {reply.text}"
        assert "trigger token" in reply.json()["detail"], reply.text
    sign_in = seeded.client.post("/api/v1/session", json={"token": secret})
    assert sign_in.status_code == 401 and "trigger token" in sign_in.json()["detail"]
    assert not seeded.layout.store.project("p").spec.paused


def test_a_token_of_one_project_is_refused_for_another(seeded: Api) -> None:
    assert seeded.as_("alice").post("/api/v1/projects", json=project("q", "demo")).status_code == 201
    secret = make(seeded, target="p")["token"]
    reply = fire(seeded, secret, target="q")
    assert reply.status_code == 401 and "not a trigger token of project 'q'" in reply.json()["detail"]
    assert seeded.layout.store.project("q").spec.run_from is None


def test_wrong_missing_user_and_revoked_tokens_are_refused(seeded: Api) -> None:
    made = make(seeded)
    missing = fire(seeded, None)
    assert missing.status_code == 401 and "winsctl token create p" in missing.json()["detail"]
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    user = fire(seeded, seeded.tokens["alice"])
    assert user.status_code == 401 and "not a user's token" in user.json()["detail"]
    wrong = fire(seeded, made["token"][:-2] + "xx")
    assert wrong.status_code == 401 and "wrong, revoked" in wrong.json()["detail"]
    assert seeded.as_("alice").delete(f"{P}/tokens/{made['id']}").status_code == 200
    revoked = fire(seeded, made["token"])
    assert revoked.status_code == 401 and "wrong, revoked" in revoked.json()["detail"]
    assert seeded.layout.store.project("p").spec.run_from is None


def test_a_project_applied_again_under_the_same_name_is_not_started_by_old_tokens(seeded: Api) -> None:
    old = make(seeded)
    assert seeded.as_("alice").delete(P).status_code == 200
    assert seeded.as_("admin").post("/api/v1/projects", json=project("p", "demo")).status_code == 201
    reply = fire(seeded, old["token"])
    assert reply.status_code == 401 and "earlier project" in reply.json()["detail"]
    assert seeded.as_("admin").get(f"{P}/tokens").json()["tokens"] == []


@pytest.mark.parametrize(
    "content", [b"\xff\xfe not utf-8", b"tokens: [", b"x" * (triggers.LIMITS.max_bytes + 1), b"tokens: 3"]
)
def test_a_broken_tokens_file_gives_a_clear_error(seeded: Api, content: bytes) -> None:
    path = seeded.layout.trigger_file("p")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    listed = seeded.as_("alice").get(f"{P}/tokens")
    assert listed.status_code == 503, listed.text
    assert (
        "settings/triggers/p.yaml" in listed.json()["detail"] and "fix or remove" in listed.json()["detail"]
    )
    assert seeded.as_("alice").post(f"{P}/tokens").status_code == 503
    reply = fire(seeded, "wst_" + "a" * 43)
    assert reply.status_code == 503 and "try again" in reply.json()["detail"]
    assert "settings" not in reply.json()["detail"], "an anonymous caller learns nothing of the share"


def test_the_file_is_yaml_a_person_can_read(seeded: Api) -> None:
    made = make(seeded)
    data = yaml.safe_load(seeded.layout.trigger_file("p").read_text())
    (token,) = data["tokens"]
    assert token["id"] == made["id"] and token["createdBy"] == "alice" and token["name"] == "ci"
    assert token["projectUid"] == seeded.layout.store.project("p").metadata.uid


def test_winsctl_token_create_list_revoke(seeded: Api, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = seeded.winsctl("alice", "token", "create", "p", "--name", "ci", capsys=capsys)
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("wst_") and "\n" not in secret, "the secret alone on stdout"
    assert "shown this once" in err and "/api/v1/projects/p/trigger" in err
    assert fire(seeded, secret, json={"env": {"A": "1"}}).status_code == 200

    code, out, err = seeded.winsctl("bob", "token", "list", "p", capsys=capsys)
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["ID", "NAME", "CREATED", "CREATED-BY", "LAST-USED"]
    token_id = row.split()[0]
    assert row.split()[1] == "ci" and "alice" in row and "never" not in row and secret not in out

    code, _, err = seeded.winsctl("carol", "token", "list", "p", capsys=capsys)
    assert code == 1 and "not found" in err

    code, out, err = seeded.winsctl("alice", "token", "revoke", "p", token_id, capsys=capsys)
    assert code == 0 and f"trigger token {token_id} of project/p revoked" in out, err
    assert fire(seeded, secret).status_code == 401
    code, out, err = seeded.winsctl("alice", "token", "list", "p", "-o", "json", capsys=capsys)
    assert code == 0 and json.loads(out) == []
    code, _, err = seeded.winsctl("alice", "token", "revoke", "p", token_id, capsys=capsys)
    assert code == 1 and "no trigger token" in err
