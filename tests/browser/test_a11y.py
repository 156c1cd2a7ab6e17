"""Every page checked as people use it (issue 21): axe-core in Chromium at a laptop's and a phone's
width, failing on violations of serious or critical impact, with a screenshot of each page.

axe-core comes bundled in axe-playwright-python (the `dev` extra) and is injected into the page
by Playwright, so the UI itself ships nothing for it. The project visited runs the sweep pipeline
of test_sweeps (a sweep, a skipped stage, a join) so its tabs show every kind of box and table.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import LAPTOP, PHONE, Cluster, shot
from tests.browser.test_sweeps import finished, start
from tests.harness import wait_for

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.timeout(300)]

BLOCKING = ("serious", "critical")
PROJECT = "a11y-demo"

# (screenshot name, hash, what shows once the page has drawn)
PAGES = [
    ("projects", "#/projects", "tr[data-name]"),
    ("files", "#/files?path=workspaces", "table.files"),
    ("pipelines", "#/pipelines", "main h1"),
    ("pipeline-editor", "#/pipelines/sweep", ".verdict"),
    ("nodes", "#/nodes", "article.node"),
    ("queue", "#/queue", "main[data-ready]"),
    ("utilisation", "#/utilisation", "table.report"),
]
TAB_READY = {
    "overview": "main h2",
    "history": "section.sweep table.sweep-table tbody tr",
    "logs": "pre.log",
    "files": "table.files, .notice",
    "pipeline": "ol.graph li.graph-stage",
}


def axe_check(page: Any, where: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is, one readable line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for v in results.response["violations"]:
        if v.get("impact") not in BLOCKING:
            continue
        nodes = v["nodes"]
        targets = ", ".join(" ".join(n["target"]) for n in nodes[:3])
        if len(nodes) > 3:
            targets += f" and {len(nodes) - 3} more"
        summary = " ".join((nodes[0].get("failureSummary") or "").split()) if nodes else ""
        found.append(f"{where}: [{v['impact']}] {v['id']} ({v['help']}) at {targets}\n    {summary}")
    return found


@pytest.fixture(scope="module")
def sweep_project(cluster: Cluster) -> str:
    start(cluster, PROJECT)
    wait_for(lambda: finished(cluster, PROJECT), 120, "the sweep project to finish")
    return PROJECT


@pytest.mark.parametrize("width", ["laptop", "phone"])
def test_no_serious_accessibility_violations_on_any_page(
    cluster: Cluster, browser: Any, sweep_project: str, width: str
) -> None:
    pytest.importorskip(
        "axe_playwright_python", reason="pip install -e '.[dev]' installs axe-playwright-python"
    )
    viewport = LAPTOP if width == "laptop" else PHONE
    problems: list[str] = []

    signed_out = cluster.page(browser, None, viewport)
    signed_out.get_by_label("Token").wait_for()
    shot(signed_out, f"a11y-{width}-sign-in")
    problems += axe_check(signed_out, f"sign-in at {viewport['width']} px")

    page = cluster.page(browser, "alice", viewport)
    visits = [(name, hash_, ready) for name, hash_, ready in PAGES]
    # the projects page signing in lands on must finish loading first: it rewrites the URL to
    # #/projects when its first load ends (projects.js applyFilters), even after one has left it
    page.locator("tr[data-name]").first.wait_for()
    page.goto(f"{cluster.url}/#/projects/{sweep_project}")
    page.locator("nav.tabs a").first.wait_for()
    # every tab the project page has, read off the page, so a new tab is checked without an edit here
    tabs = [re.sub(r"^.*/", "", a.get_attribute("href") or "") for a in page.locator("nav.tabs a").all()]
    for tab in tabs:
        visits.append(
            (f"project-{tab}", f"#/projects/{sweep_project}/{tab}", TAB_READY.get(tab, "#tab-body *"))
        )
    for name, hash_, ready in visits:
        page.goto(f"{cluster.url}/{hash_}")
        page.locator(ready).first.wait_for()
        if name == "project-pipeline":  # the sweep's box open, so its combinations are checked too
            page.get_by_role("button", name=re.compile("^Show combinations")).first.click()
        page.wait_for_timeout(300)  # the next poll's redraw, so axe sees the page at rest
        shot(page, f"a11y-{width}-{name}")
        problems += axe_check(page, f"{name} at {viewport['width']} px")
    assert not problems, "axe-core found serious or critical violations:\n" + "\n".join(problems)
    assert page.js_errors == [] and signed_out.js_errors == []
