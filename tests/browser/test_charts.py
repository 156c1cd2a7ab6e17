"""Charts from logs, in a real browser (issue 21): a sweep whose stage declares a log parser writes
its rows to `.winslow/parsed/loss.csv` in each run's workspace, and the project's Charts tab draws
one chart per column with one series per run, labelled by its combination, named for screen
readers, and chosen with checkboxes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import PHONE, Cluster, shot
from tests.browser.test_ui import apply, runs
from tests.harness import pipeline, project, stage, wait_for

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.timeout(180)]

LOSS = {"name": "loss", "pattern": r"epoch (?P<epoch>\d+) loss (?P<loss>[\d.]+) acc (?P<acc>[\d.]+)"}
# busybox sh has no floats: a loss that falls by a factor that depends on LR
TRAIN = (
    'case "$LR" in 0.1) f=2;; *) f=4;; esac; '
    'for e in 1 2 3; do echo "epoch $e loss 0.$((9 - e * f / 2)) acc 0.$((e * f))"; sleep 1; done'
)
CHARTS = pipeline("charted", stage("train", TRAIN, matrix={"LR": ["0.1", "0.01"]}, logParsers=[LOSS]))


def test_the_charts_tab_draws_one_series_per_run_of_a_sweep(cluster: Cluster, browser: Any) -> None:
    apply(cluster, "admin", CHARTS)
    apply(cluster, "alice", project("curves", "charted"))
    wait_for(
        lambda: len([r for r in runs(cluster, "curves") if r["status"]["phase"] == "Succeeded"]) == 2,
        120,
        "both combinations of the sweep",
    )
    page = cluster.page(browser, "alice")
    page.goto(cluster.url + "/#/projects/curves/charts")
    page.get_by_role("link", name="Charts").wait_for()
    loss = page.get_by_role("figure", name="Chart of loss from parser loss against epoch, one line per run")
    acc = page.get_by_role("figure", name="Chart of acc from parser loss against epoch, one line per run")
    expect(loss).to_be_visible()
    expect(acc).to_be_visible()
    expect(loss.locator("canvas").first).to_be_visible()

    # one series per run, in the legend by label (not colour alone), and one checkbox per run
    legend = loss.locator(".u-legend .u-series")
    expect(legend).to_have_count(2)
    expect(legend.nth(0)).to_contain_text(re.compile(r"LR=0\.1 \(#\d+\)"))
    expect(legend.nth(1)).to_contain_text(re.compile(r"LR=0\.01 \(#\d+\)"))
    boxes = page.get_by_role("group", name="Runs shown").get_by_role("checkbox")
    expect(boxes).to_have_count(2)

    # the visually hidden table names each run's last point
    table = loss.get_by_role("table", name="Last values of loss (loss) by run")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").first).to_contain_text("3")
    shot(page, "17-project-charts")

    # a run unticked is hidden from every chart of the parser, and comes back ticked
    first = page.get_by_role("checkbox", name=re.compile(r"LR=0\.1 \("))
    first.uncheck()
    expect(legend.nth(0)).to_have_class(re.compile(r"\bu-off\b"))
    expect(acc.locator(".u-legend .u-series").nth(0)).to_have_class(re.compile(r"\bu-off\b"))
    expect(legend.nth(1)).not_to_have_class(re.compile(r"\bu-off\b"))
    first.check()
    expect(legend.nth(0)).not_to_have_class(re.compile(r"\bu-off\b"))
    assert page.js_errors == []

    phone = cluster.page(browser, "alice", PHONE)
    phone.goto(cluster.url + "/#/projects/curves/charts")
    expect(phone.get_by_role("figure", name=re.compile(r"^Chart of loss"))).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing wider than the phone"
    shot(phone, "17-project-charts-phone")
    assert phone.js_errors == []
