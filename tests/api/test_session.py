"""Browser sign-in: the token in an HttpOnly, SameSite=Strict cookie, and CSRF protection for it."""

from __future__ import annotations

from tests.api.conftest import Api
from winslow.api.deps import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE


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


def test_the_ui_is_served_at_the_root_with_a_strict_policy(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    module = api.client.get("/ui/js/main.js")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    assert api.client.get("/ui/../app.py").status_code == 404
