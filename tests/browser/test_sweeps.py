"""A pipeline that is a graph, in a real browser (issue 21): a sweep, a condition that skips a
branch, and a join after both; the graph shows the sweep as one box that opens into its
combinations and the skipped stage greyed and named, and the History tab compares the sweep's
combinations in a table that sorts by a result, marks the best and exports as CSV."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from tests.browser.conftest import PHONE, Cluster, shot
from tests.browser.test_ui import apply, runs
from tests.harness import pipeline, project, stage, wait_for

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.timeout(180)]

# A score that tells the combinations apart, from integer shell arithmetic (busybox sh has no
# floats): LR=0.01 with BATCH=16 scores highest (72.5), LR=0.1 with BATCH=8 lowest (31.5).
SCORE = (
    'case "$LR" in 0.1) a=3;; 0.01) a=7;; *) a=5;; esac; sleep 5; '
    'echo "training LR=$LR BATCH=$BATCH"; echo "WINSLOW_RESULT: score=$((a * 10 + BATCH / 8)).5"'
)
SWEEP = pipeline(
    "sweep",
    stage("prep", "echo preparing; echo 'WINSLOW_RESULT: mode=fast'"),
    stage("train", SCORE, matrix={"LR": ["0.1", "0.01", "0.001"], "BATCH": {"from": 8, "to": 16, "step": 8}}),
    stage("slow-path", "echo never", needs=["prep"], when='results.prep.mode == "slow"'),
    stage("join", "echo joined", needs=["train", "slow-path"]),
)
COMBOS = 6


def start(cluster: Cluster, name: str) -> None:
    """The sweep pipeline and a project running it, finished (every stage done or skipped)."""
    apply(cluster, "admin", SWEEP)
    apply(cluster, "alice", project(name, "sweep"))


def finished(cluster: Cluster, name: str) -> bool:
    done = [r for r in runs(cluster, name) if r["status"]["phase"] in ("Succeeded", "Skipped")]
    return any(r["spec"]["stage"] == "join" for r in done)


def test_the_graph_of_a_sweep_a_condition_and_a_join_and_the_sweep_table(
    cluster: Cluster, browser: Any
) -> None:
    start(cluster, "sweep-demo")
    page = cluster.page(browser, "alice")
    page.goto(cluster.url + "/#/projects/sweep-demo/pipeline")
    graph = page.get_by_role("list", name=re.compile(r"^Pipeline graph of sweep-demo: "))
    graph.wait_for()
    # the tab stays open while the project runs: the boxes change with each poll, no reload
    expect(graph).to_have_attribute(
        "aria-label",
        re.compile(r"train running, \d combinations: .*\d running"),
        timeout=60_000,
    )
    shot(page, "15-project-pipeline-sweep-running")
    wait_for(lambda: finished(cluster, "sweep-demo"), 90, "the join after the sweep")
    expect(graph).to_have_attribute(
        "aria-label",
        "Pipeline graph of sweep-demo: prep succeeded, "
        f"train succeeded, {COMBOS} combinations: {COMBOS} succeeded, slow-path skipped, join succeeded",
    )
    boxes = graph.get_by_role("listitem").filter(has=page.locator(".graph-name"))
    expect(boxes).to_have_count(4)
    expect(page.locator("svg.graph-edges path.graph-edge")).to_have_count(4)  # prep→2, 2→join

    # the skipped branch: greyed, and says so in a word and a symbol, not by colour alone
    skipped = page.locator("li.graph-stage[data-stage='slow-path']")
    assert "skipped" in (skipped.get_attribute("class") or "").split()
    assert "↷" in skipped.inner_text() and "Skipped" in skipped.inner_text()

    # the sweep: one box, its combinations counted in words, opened from the keyboard
    sweep = page.locator("li.graph-stage[data-stage='train']")
    assert f"{COMBOS} combinations: {COMBOS} succeeded" in sweep.inner_text()
    combos = sweep.locator("li.graph-combo")
    expect(combos.first).to_be_hidden()
    toggle = sweep.locator("button.graph-toggle")  # its name changes as it opens
    expect(toggle).to_have_accessible_name("Show combinations of train")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_have_accessible_name("Hide combinations of train")
    expect(combos).to_have_count(COMBOS)
    expect(combos.first).to_be_visible()
    one = sweep.locator("li.graph-combo[data-combo='LR=0.1,BATCH=8']")
    assert "Succeeded" in one.inner_text()
    train_runs = {
        ",".join(f"{k}={v}" for k, v in r["status"]["matrix"].items()): r["metadata"]["name"]
        for r in runs(cluster, "sweep-demo")
        if r["spec"]["stage"] == "train"
    }
    href = unquote(one.get_by_role("link", name="log of LR=0.1,BATCH=8").get_attribute("href") or "")
    assert href.endswith(f"logs?run={train_runs['LR=0.1,BATCH=8']}"), href
    shot(page, "15-project-pipeline-sweep")
    page.set_viewport_size(PHONE)
    box = sweep.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"], "stacked on a phone"
    shot(page, "15-project-pipeline-sweep-phone")
    page.set_viewport_size({"width": 1366, "height": 820})

    # the sweep side by side on the History tab: sorted by its result, the best marked, exported
    page.get_by_role("link", name="History").click()
    table = page.locator("section.sweep[data-stage='train'] table.sweep-table")
    table.locator("tbody tr").nth(COMBOS - 1).wait_for()
    headers = [t.strip(" \n↕▲▼") for t in table.locator("thead th").all_inner_texts()]
    assert headers == ["LR", "BATCH", "Phase", "Duration", "score", "Log"], headers
    rows = table.locator("tbody tr")

    def column(title: str) -> list[str]:
        at = headers.index(title)
        return [
            rows.nth(i).locator("th, td").nth(at).inner_text().replace("★ best", "").strip()
            for i in range(COMBOS)
        ]

    score = table.locator("thead th").nth(headers.index("score"))
    score.get_by_role("button").click()
    expect(score).to_have_attribute("aria-sort", "ascending")
    assert column("score") == ["31.5", "32.5", "51.5", "52.5", "71.5", "72.5"], column("score")
    page.keyboard.press("Enter")  # focus stays on the header's button: the keyboard sorts too
    expect(score).to_have_attribute("aria-sort", "descending")
    assert column("score") == ["72.5", "71.5", "52.5", "51.5", "32.5", "31.5"], column("score")
    assert table.locator("thead th[aria-sort]").count() == 1

    page.get_by_label("Best by").select_option(label="score, lowest")
    best = table.locator("tbody tr.row-best")
    expect(best).to_have_count(1)
    assert "★ best" in best.inner_text()
    assert [column("LR")[-1], column("BATCH")[-1]] == ["0.1", "8"]
    assert rows.last.locator("th").inner_text().startswith("★ best")
    shot(page, "16-project-sweep-table")
    page.set_viewport_size(PHONE)
    shot(page, "16-project-sweep-table-phone")
    page.set_viewport_size({"width": 1366, "height": 820})

    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename == "sweep-demo-train-sweep.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    table_rows = list(csv.reader(io.StringIO(text)))
    assert table_rows[0] == ["LR", "BATCH", "Phase", "duration_s", "score"]
    assert [r[4] for r in table_rows[1:]] == ["72.5", "71.5", "52.5", "51.5", "32.5", "31.5"]
    assert all(r[2] == "Succeeded" for r in table_rows[1:])
    assert page.js_errors == []
