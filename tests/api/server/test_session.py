"""Browser sign-in: a session id (never the token) in an HttpOnly, SameSite=Strict cookie, checked
on the share on every request, and CSRF protection bound to the session."""

from __future__ import annotations

import errno
import time

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Api
from winslow.api.app import create_app
from winslow.api.identity import sessions
from winslow.api.node import cli as node_cli
from winslow.api.server.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from winslow.api.server.deps import ApiContext
from winslow.controller.eventlog import EventLog
from winslow.controller.leases import Leases


def sign_in(api: Api, who: str, **extra: str):
    api.client.headers.pop("Authorization", None)
    return api.client.post("/api/v1/session", json={"token": api.tokens[who], **extra})


def test_sign_in_sets_an_httponly_strict_cookie_the_api_accepts(seeded: Api) -> None:
    reply = sign_in(seeded, "alice")
    assert reply.status_code == 200 and reply.json()["name"] == "alice"
    cookies = reply.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    csrf = next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
    assert "HttpOnly" not in csrf and "SameSite=strict" in csrf
    assert seeded.client.get("/api/v1/whoami").json()["name"] == "alice"
    assert seeded.client.get("/api/v1/projects").json()["items"][0]["metadata"]["name"] == "p"


def test_a_state_change_by_cookie_needs_the_csrf_header(seeded: Api) -> None:
    sign_in(seeded, "alice")
    refused = seeded.client.post("/api/v1/projects/p/pause")
    assert refused.status_code == 403 and CSRF_HEADER in refused.json()["detail"]
    wrong = seeded.client.post("/api/v1/projects/p/pause", headers={CSRF_HEADER: "guess"})
    assert wrong.status_code == 403
    token = seeded.client.cookies[CSRF_COOKIE]
    done = seeded.client.post("/api/v1/projects/p/pause", headers={CSRF_HEADER: token})
    assert done.status_code == 200 and done.json()["spec"]["paused"] is True
    upload = seeded.client.put("/api/v1/files/resources/x.txt", content=b"x", headers={CSRF_HEADER: token})
    assert upload.status_code == 201


def test_bearer_requests_need_no_csrf_header_even_with_a_cookie(seeded: Api) -> None:
    sign_in(seeded, "carol")
    reply = seeded.client.post("/api/v1/projects/p/pause", headers=seeded.headers("alice"))
    assert reply.status_code == 200


def test_the_cookie_grants_what_its_user_may_and_no_more(seeded: Api) -> None:
    sign_in(seeded, "carol")
    assert seeded.client.get("/api/v1/projects").json()["items"] == []
    # as if p did not exist (tests/hostile: case 9)
    assert seeded.client.get("/api/v1/files/workspaces/p/input").status_code == 404
    token = seeded.client.cookies[CSRF_COOKIE]
    assert seeded.client.post("/api/v1/projects/p/pause", headers={CSRF_HEADER: token}).status_code == 404


def test_wrong_token_wrong_user_and_foreign_origin_are_refused(seeded: Api) -> None:
    seeded.client.headers.pop("Authorization", None)
    assert seeded.client.post("/api/v1/session", json={"token": "wsl_nope"}).status_code == 401
    assert sign_in(seeded, "alice", user="bob").status_code == 401
    assert sign_in(seeded, "alice", user="alice").status_code == 200
    seeded.client.cookies.clear()
    foreign = seeded.client.post(
        "/api/v1/session", json={"token": seeded.tokens["alice"]}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and SESSION_COOKIE not in foreign.cookies


def test_sign_out_removes_the_cookies(seeded: Api) -> None:
    sign_in(seeded, "alice")
    assert seeded.client.delete("/api/v1/session").status_code == 200
    assert seeded.client.get("/api/v1/whoami").status_code == 401


def whoami_with(client: TestClient, cookie: str) -> int:
    """With this cookie alone (an explicit Cookie header replaces the client's jar)."""
    return client.get("/api/v1/whoami", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}).status_code


def test_the_cookie_holds_a_session_never_the_token_nor_anything_on_the_share(seeded: Api) -> None:
    sign_in(seeded, "alice")
    cookie = seeded.client.cookies[SESSION_COOKIE]
    assert cookie.startswith("wss_") and cookie != seeded.tokens["alice"]
    assert seeded.client.get("/api/v1/whoami").json() == {
        "name": "alice",
        "admin": False,
        "groups": [],
        "authenticatedBy": "session",
    }
    assert (
        seeded.client.get("/api/v1/whoami", headers=seeded.headers("bob")).json()["authenticatedBy"]
        == "token"
    )
    for path in seeded.layout.root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert cookie.encode() not in content and seeded.tokens["alice"].encode() not in content
    assert whoami_with(seeded.client, seeded.tokens["alice"]) == 401  # the token is no cookie


def test_a_cookie_is_refused_after_sign_out(seeded: Api) -> None:
    sign_in(seeded, "alice")
    cookie = seeded.client.cookies[SESSION_COOKIE]
    assert seeded.client.delete("/api/v1/session").status_code == 200
    assert list(seeded.layout.sessions.glob("*.yaml")) == []
    reply = seeded.client.get("/api/v1/whoami", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert reply.status_code == 401 and "sign in again" in reply.json()["detail"]


def other_node(api: Api) -> TestClient:
    """Another node's API on the same share."""
    events = EventLog(api.layout.events, "n2", time.time)
    ctx = ApiContext(layout=api.layout, leases=Leases(events, 30), node="n2", clock=time.time)
    return TestClient(create_app(ctx), raise_server_exceptions=False)


def test_a_session_ended_on_another_node_is_refused_here(seeded: Api) -> None:
    sign_in(seeded, "alice")
    cookie = seeded.client.cookies[SESSION_COOKIE]
    with other_node(seeded) as there:
        assert whoami_with(there, cookie) == 200  # one session, every node
        ended = there.delete("/api/v1/session", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
        assert ended.status_code == 200
    assert whoami_with(seeded.client, cookie) == 401
    seeded.client.cookies.clear()
    sign_in(seeded, "alice")
    cookie = seeded.client.cookies[SESSION_COOKIE]
    for path in seeded.layout.sessions.iterdir():
        path.unlink()  # as another node's sign-out, or an admin, would
    assert whoami_with(seeded.client, cookie) == 401


def test_signing_in_again_ends_the_browsers_previous_session(seeded: Api) -> None:
    sign_in(seeded, "alice")
    first = seeded.client.cookies[SESSION_COOKIE]
    sign_in(seeded, "alice")
    assert seeded.client.cookies[SESSION_COOKIE] != first
    assert len(list(seeded.layout.sessions.glob("*.yaml"))) == 1
    assert whoami_with(seeded.client, first) == 401


def test_sessions_expire_on_the_api_clock(seeded: Api) -> None:
    ctx: ApiContext = seeded.app.state.ctx
    now = [2_000_000_000.0]
    ctx.sessions.clock = lambda: now[0]
    sign_in(seeded, "alice")
    cookie = seeded.client.cookies[SESSION_COOKIE]
    now[0] += sessions.IDLE_SECONDS - 1
    assert whoami_with(seeded.client, cookie) == 200
    now[0] += sessions.IDLE_SECONDS
    assert whoami_with(seeded.client, cookie) == 401


def test_the_csrf_header_must_carry_the_sessions_value_not_just_the_cookies(seeded: Api) -> None:
    sign_in(seeded, "alice")
    cookie = seeded.client.cookies[SESSION_COOKIE]

    def pause(csrf_cookie: str, header: str) -> int:
        jar = f"{SESSION_COOKIE}={cookie}; {CSRF_COOKIE}={csrf_cookie}"
        return seeded.client.post(
            "/api/v1/projects/p/pause", headers={"Cookie": jar, CSRF_HEADER: header}
        ).status_code

    assert pause("forged", "forged") == 403  # a planted cookie with a matching header
    assert pause("", "") == 403
    right = seeded.client.cookies[CSRF_COOKIE]
    assert right == sessions.csrf_value(cookie)
    assert pause("whatever", right) == 200  # the session's value counts, not the cookie's
    sign_in(seeded, "alice")  # another session: the old value is worth nothing with it
    cookie = seeded.client.cookies[SESSION_COOKIE]
    assert pause(right, right) == 403


def test_revoking_a_user_ends_its_sessions_everywhere(
    seeded: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_in(seeded, "alice")
    alice = seeded.client.cookies[SESSION_COOKIE]
    seeded.client.cookies.clear()  # another browser
    sign_in(seeded, "bob")
    bob = seeded.client.cookies[SESSION_COOKIE]
    share = str(seeded.layout.root)
    assert node_cli.main(["user", "revoke", "alice", "--share", share]) == 0
    assert "ended 1 web UI session(s) of alice" in capsys.readouterr().err
    assert whoami_with(seeded.client, alice) == 401 and whoami_with(seeded.client, bob) == 200
    seeded.client.cookies.clear()
    assert seeded.client.get("/api/v1/whoami", headers=seeded.headers("alice")).status_code == 200
    assert node_cli.main(["user", "revoke", "nobody", "--share", share]) == 1


def test_revoking_tokens_fails_the_token_and_its_sessions(
    seeded: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_in(seeded, "alice")
    cookie = seeded.client.cookies[SESSION_COOKIE]
    share = str(seeded.layout.root)
    assert node_cli.main(["user", "token", "list", "alice", "--share", share]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[1].split()[2] == "1"  # one live session made with the token
    assert node_cli.main(["user", "token", "revoke", "alice", "--share", share]) == 0
    assert whoami_with(seeded.client, cookie) == 401
    seeded.client.cookies.clear()
    assert seeded.client.get("/api/v1/whoami", headers=seeded.headers("alice")).status_code == 401
    assert sign_in(seeded, "alice").status_code == 401


def test_a_session_ends_with_its_token_even_if_its_file_stays(
    seeded: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rotated by hand or by a node that could not remove the session files: the token is the truth."""
    sign_in(seeded, "alice")
    cookie = seeded.client.cookies[SESSION_COOKIE]
    share = str(seeded.layout.root)
    kept = {p: p.read_bytes() for p in seeded.layout.sessions.iterdir()}
    assert node_cli.main(["user", "token", "rotate", "alice", "--share", share]) == 0
    new = capsys.readouterr().out.strip()
    for path, content in kept.items():
        path.write_bytes(content)
    assert whoami_with(seeded.client, cookie) == 401
    seeded.client.cookies.clear()
    assert seeded.client.get("/api/v1/whoami", headers=seeded.headers("alice")).status_code == 401
    assert seeded.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    seeded.tokens["alice"] = new
    assert sign_in(seeded, "alice").status_code == 200
    assert seeded.client.get("/api/v1/whoami").json()["name"] == "alice"


def test_a_share_that_cannot_be_written_fails_sign_in_but_not_a_session(
    seeded: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx: ApiContext = seeded.app.state.ctx
    now = [time.time()]
    ctx.sessions.clock = lambda: now[0]
    sign_in(seeded, "alice")

    def read_only(*_: object, **__: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(sessions, "atomic_write", read_only)
    now[0] += 3600
    assert seeded.client.get("/api/v1/whoami").status_code == 200  # its use cannot be noted: fine
    reply = sign_in(seeded, "bob")
    assert reply.status_code == 503 and "Read-only" in reply.json()["detail"]


def test_the_ui_is_served_at_the_root_with_a_strict_policy(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    module = api.client.get("/ui/js/main.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    assert api.client.get("/ui/../app.py").status_code == 404
