"""Issue 22: the project's overview tab says how much of the share the project takes (its
workspaces, logs, input and output), from the same API as `winsctl top projects`."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import Cluster
from tests.browser.test_ui import apply, runs
from tests.harness import pipeline, project, stage, wait_for

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.timeout(180)]


def test_the_overview_shows_the_projects_disk_use(cluster: Cluster, browser: Any) -> None:
    apply(cluster, "admin", pipeline("sized", stage("fill", "head -c 300000 /dev/urandom > /workspace/f")))
    apply(cluster, "alice", project("sized-one", "sized"))
    wait_for(
        lambda: [r for r in runs(cluster, "sized-one") if r["status"]["phase"] == "Succeeded"],
        120,
        "the stage to fill its workspace",
    )
    page = cluster.page(browser, "alice")
    page.goto(cluster.url + "/#/projects/sized-one/overview")
    line = page.locator("p.disk-use")
    expect(line).to_have_text(re.compile(r"^1 StageRun workspace: \d+(\.\d)? KiB · logs .* · total .*"))
    assert not page.js_errors
