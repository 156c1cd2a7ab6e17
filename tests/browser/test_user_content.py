"""A file a user uploads cannot act as the admin who opens it (issue 17): in real Chromium, an
`.html` and an `.svg` whose scripts would rewrite the admin-only settings and write a file as the
admin are opened by a signed-in admin, as a bookmark or "open in new tab" would, and change nothing.

The payload is first run as the UI's own script (the admin's page), where it does act: so the
test proves the files carry a working attack, and that serving them is what disarms it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.browser.conftest import Cluster

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.timeout(120)]

PAYLOAD = """
const csrf = (document.cookie.match(/(?:^|;\\s*)winslow_csrf=([^;]+)/) || [])[1] || "";
const headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf};
fetch("/api/v1/settings/env", {method: "PUT", headers, body: JSON.stringify({PWNED: MARK})});
fetch("/api/v1/files/resources/pwned-" + MARK, {method: "PUT", headers, body: "as the admin"});
"""
FILES = {
    "report.html": "<!doctype html><title>report</title><script>const MARK='html';{payload}</script>",
    "chart.svg": '<svg xmlns="http://www.w3.org/2000/svg"><script>const MARK="svg";{payload}</script></svg>',
}


def client(cluster: Cluster, who: str) -> httpx.Client:
    return httpx.Client(
        base_url=cluster.url, headers={"Authorization": f"Bearer {cluster.tokens[who]}"}, timeout=30
    )


def harm(cluster: Cluster) -> tuple[dict[str, str], list[str]]:
    with client(cluster, "admin") as admin:
        env = admin.get("/api/v1/settings/env").json()
        names = [e["name"] for e in admin.get("/api/v1/files/resources").json()["entries"]]
    return env, [n for n in names if n.startswith("pwned")]


def open_as_a_tab(context: Any, url: str) -> None:
    """What a bookmark or "open in new tab" does; a download ends the navigation with an error."""
    tab = context.new_page()
    try:
        tab.goto(url)
    except Exception as exc:  # playwright: "Download is starting"
        assert "Download is starting" in str(exc), exc
    time.sleep(1.5)  # room for any script to act
    tab.close()


def test_an_uploaded_page_or_picture_runs_no_script_as_the_admin(cluster: Cluster, browser: Any) -> None:
    with client(cluster, "alice") as alice:
        for name, body in FILES.items():
            reply = alice.put(f"/api/v1/files/resources/{name}", content=body.format(payload=PAYLOAD))
            assert reply.status_code == 201, reply.text
    page = cluster.page(browser, "admin")

    page.evaluate(f"() => {{ const MARK = 'control'; {PAYLOAD} }}")
    time.sleep(1.5)
    env, written = harm(cluster)
    assert env.get("PWNED") == "control" and written == ["pwned-control"], "the payload works on the origin"
    with client(cluster, "admin") as admin:
        assert admin.put("/api/v1/settings/env", json={}).status_code == 200
        assert admin.delete("/api/v1/files/resources/pwned-control").status_code == 200

    for name in FILES:
        for query in ("", "?inline=true"):
            with page.context.expect_event("download") as download:
                open_as_a_tab(page.context, f"{cluster.url}/api/v1/files/resources/{name}{query}")
            assert download.value.suggested_filename == name
    assert harm(cluster) == ({}, []), "a file served by the node acted as the admin"
