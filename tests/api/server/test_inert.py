"""What users upload is served inert (api.inert): downloads by default, a sandbox policy and
nosniff on every response that is not the UI's own, and no script from another origin."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.api.conftest import Api
from winslow.api.server import inert

pytestmark = pytest.mark.timeout(60)
ACTIVE = ["report.html", "x.htm", "logo.svg", "page.xhtml", "feed.xml", "app.js", "a.mjs", "doc.pdf", "x"]


@pytest.mark.parametrize("name", ACTIVE)
def test_a_type_that_can_script_is_an_opaque_download(name: str) -> None:
    assert inert.content_type(name) == "application/octet-stream"
    assert inert.disposition(name, inline=True).startswith("attachment;")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("frame.png", "image/png"),
        ("clip.mp4", "video/mp4"),
        ("train.log", "text/plain; charset=utf-8"),
        ("boxes.csv", "text/plain; charset=utf-8"),
        ("run.py", "text/plain; charset=utf-8"),
    ],
)
def test_a_harmless_type_may_be_viewed_inline_when_asked(name: str, kind: str) -> None:
    assert inert.content_type(name) == kind
    assert inert.disposition(name, inline=True).startswith("inline;")
    assert inert.disposition(name, inline=False).startswith("attachment;")


@given(st.text(min_size=1, max_size=80))
def test_any_name_makes_one_header_line_that_names_the_file(name: str) -> None:
    header = inert.disposition(name, inline=False)
    assert "\r" not in header and "\n" not in header and header.isascii()
    fallback = re.search(r'filename="([^"]*)"', header)
    assert fallback is not None and len(fallback.group(1)) == len(name)


def put(api: Api, who: str, path: str, body: bytes) -> None:
    reply = api.as_(who).put(f"/api/v1/files/{path}", content=body)
    assert reply.status_code == 201, reply.text


def test_an_uploaded_page_is_sent_as_a_sandboxed_download(api: Api) -> None:
    put(api, "alice", "resources/report.html", b"<script>alert(document.cookie)</script>")
    for query in ("", "?inline=true"):
        reply = api.as_("admin").get(f"/api/v1/files/resources/report.html{query}")
        assert reply.status_code == 200 and reply.content.startswith(b"<script>")
        assert reply.headers["content-type"] == "application/octet-stream"
        assert reply.headers["content-disposition"].startswith('attachment; filename="report.html"')
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["content-security-policy"].startswith("sandbox;")
    head = api.as_("admin").head("/api/v1/files/resources/report.html")
    assert head.headers["content-disposition"].startswith("attachment;")


def test_a_picture_is_shown_inline_only_when_asked_and_still_sandboxed(api: Api) -> None:
    put(api, "alice", "resources/frame.png", b"\x89PNG\r\n\x1a\n")
    reply = api.as_("alice").get("/api/v1/files/resources/frame.png?inline=true")
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["content-disposition"].startswith("inline;")
    assert reply.headers["content-security-policy"].startswith("sandbox;")


def test_every_answer_but_the_uis_own_is_sandboxed(api: Api) -> None:
    for path in ("/healthz", "/api/v1/whoami", "/api/v1/nope", "/api/v1/openapi.json"):
        reply = api.as_("alice").get(path)
        assert reply.headers["content-security-policy"].startswith("sandbox;"), path
        assert reply.headers["x-content-type-options"] == "nosniff", path
    page = api.as_(None).get("/")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "sandbox" not in page.headers["content-security-policy"]


def test_the_api_reference_loads_nothing_from_another_origin(api: Api) -> None:
    page = api.as_(None).get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/openapi.json" in page.text
    assert "POST</code></td><td><code>/api/v1/apply" in page.text
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_download_by_sendfile_carries_the_same_headers(api: Api, served: str) -> None:
    put(api, "alice", "resources/logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    reply = httpx.get(f"{served}/api/v1/files/resources/logo.svg", headers=api.headers("admin"))
    assert reply.status_code == 200 and reply.content.startswith(b"<svg")
    assert reply.headers["content-type"] == "application/octet-stream"
    assert reply.headers["content-disposition"].startswith("attachment;")
    assert reply.headers["content-security-policy"].startswith("sandbox;")
