"""The web UI in a real browser against a real node running real containers (issue 10)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.browser.conftest import PHONE, Cluster, shot, track
from tests.harness import pipeline, project, stage, wait_for

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.docker, pytest.mark.browser, pytest.mark.timeout(150)]
MiB = 1 << 20
PIECE = 128 * MiB  # api/ui/static/js/upload.js


def api(cluster: Cluster, who: str) -> httpx.Client:
    return httpx.Client(
        base_url=cluster.url, headers={"Authorization": f"Bearer {cluster.tokens[who]}"}, timeout=30
    )


def apply(cluster: Cluster, who: str, *documents: dict[str, Any]) -> None:
    with api(cluster, who) as client:
        reply = client.post("/api/v1/apply", json={"documents": list(documents)})
        assert reply.status_code == 200, reply.text


def status(cluster: Cluster, name: str) -> dict[str, Any]:
    with api(cluster, "admin") as client:
        return client.get(f"/api/v1/projects/{name}").json()


def runs(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    with api(cluster, "admin") as client:
        items = client.get("/api/v1/stageruns", params={"project": name}).json()["items"]
    return sorted(items, key=lambda r: int(r["metadata"]["name"].split(".")[1]))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


TRAFFIC = pipeline(
    "traffic",
    stage(
        "detect",
        "for i in $(seq 1 12); do echo detect line $i; echo WINSLOW_PROGRESS: $((i * 100 / 12));"
        " sleep 0.4; done; echo 'WINSLOW_RESULT: tracks=42'",
    ),
    stage(
        "review", "echo reviewing; for i in $(seq 1 600); do echo review $i; sleep 0.5; done", confirm=True
    ),
    stage("count", "echo counted"),
)


@pytest.fixture(scope="module", autouse=True)
def pipelines(cluster: Cluster) -> None:
    apply(cluster, "admin", TRAFFIC)


def test_sign_in_rejects_a_wrong_token_and_signs_out(cluster: Cluster, browser: Any) -> None:
    page = cluster.page(browser, None)
    page.get_by_label("Token").wait_for()
    shot(page, "01-sign-in")
    page.get_by_label("Token").fill("wsl_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="not valid").wait_for()
    page.get_by_label("Token").fill(cluster.tokens["alice"])
    page.get_by_role("button", name="Sign in").click()
    page.locator("#who").filter(has_text="alice").wait_for()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["winslow_session"]["httpOnly"] and cookies["winslow_session"]["sameSite"] == "Strict"
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Token").wait_for()
    assert "winslow_session" not in {c["name"] for c in page.context.cookies()}
    assert page.js_errors == []


def test_a_project_from_a_pipeline_to_the_gate_confirm_pause_kill_resume_from(
    cluster: Cluster, browser: Any
) -> None:
    page = cluster.page(browser, "alice")
    page.goto(cluster.url + "/#/pipelines")
    page.get_by_role("row", name=re.compile("traffic")).get_by_role("link", name="New project").click()
    page.get_by_label("Project name").fill("ulm-junction")
    page.get_by_label("Tags").fill("ulm, junction-4")
    page.get_by_label("Environment").fill("MIN_TRACK_LENGTH=40")
    shot(page, "05-new-project")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"#/projects/ulm-junction$"))

    # the live log grows while we watch, without a reload
    page.get_by_role("link", name="Log", exact=True).click()
    log = page.locator("pre.log")
    log.filter(has_text="detect line 2").wait_for()
    early = len(log.inner_text())
    log.filter(has_text="detect line 9").wait_for()
    assert len(log.inner_text()) > early
    page.get_by_label("Search the log").fill("line 1")
    page.locator("pre.log mark").first.wait_for()
    assert page.locator(".count").inner_text().endswith(f"of {page.locator('pre.log mark').count()}")
    shot(page, "06-project-log")
    page.get_by_label("Search the log").fill("")

    # the projects table shows the gate by itself, marked without colour too
    page.goto(cluster.url + "/#/projects")
    row = page.locator("tr[data-name='ulm-junction']")
    row.filter(has_text="confirm").wait_for(timeout=30_000)
    assert "row-human" in (row.get_attribute("class") or "")
    assert "waits for confirmation" in row.inner_text() and "winsctl" not in row.inner_text(), "no commands"
    assert "junction-4" in row.inner_text()
    shot(page, "02-projects")
    page.set_viewport_size(PHONE)
    shot(page, "02-projects-phone")
    page.set_viewport_size({"width": 1366, "height": 820})

    # the gate: its reason without commands, links to what to review, Confirm from the Log tab
    row.get_by_role("link", name="ulm-junction").click()
    head = page.locator(".project-head")
    page.locator(".notice.human .waiting-since").filter(has_text="waiting since").wait_for()
    assert "waits for confirmation" in head.inner_text() and "winsctl" not in head.inner_text()
    controls = page.get_by_role("group", name="Project controls")
    assert controls.get_by_role("button", name="Kill").is_disabled(), "nothing runs at a gate"
    detect_run = runs(cluster, "ulm-junction")[-1]["metadata"]["name"]
    output = controls.get_by_role("link", name="output/")
    assert unquote(output.get_attribute("href") or "").endswith("files?path=workspaces/ulm-junction/output")
    shot(page, "03-project-gate")
    page.set_viewport_size(PHONE)
    shot(page, "03-project-gate-phone")
    page.set_viewport_size({"width": 1366, "height": 820})

    # the pipeline as a graph: a box per stage with its state in words, the gate highlighted
    page.get_by_role("link", name="Pipeline", exact=True).click()
    graph = page.get_by_role("list", name=re.compile(r"^Pipeline graph of ulm-junction: "))
    expect(graph).to_have_attribute(
        "aria-label",
        "Pipeline graph of ulm-junction: detect succeeded, review waits for confirmation, count not started",
    )
    boxes = graph.get_by_role("listitem")
    expect(boxes).to_have_count(3)
    names = [boxes.nth(i).locator(".graph-name").inner_text() for i in range(3)]
    assert names == ["detect", "review", "count"]
    assert "Succeeded" in boxes.nth(0).inner_text() and "node-a" in boxes.nth(0).inner_text()
    assert "waits for confirmation" in boxes.nth(1).inner_text()
    assert "gate" in (boxes.nth(1).get_attribute("class") or ""), "the gate is highlighted"
    assert "not started" in boxes.nth(2).inner_text()
    detect_log = unquote(boxes.nth(0).get_by_role("link").get_attribute("href") or "")
    assert detect_log.endswith(f"logs?run={detect_run}")
    expect(page.locator("svg.graph-edges path.graph-edge")).to_have_count(2)  # detect→review→count
    shot(page, "07-project-pipeline-gate")
    controls.get_by_role("link", name="detect workspace").click()
    page.wait_for_url(re.compile(r"#/projects/ulm-junction/files\?"))
    assert unquote(page.url).endswith(f"path=workspaces/ulm-junction/stages/{detect_run}")
    page.locator("table.files").wait_for()  # the workspace the gated stage starts from
    page.get_by_role("link", name="Log", exact=True).click()
    page.locator("pre.log").filter(has_text="detect line 12").wait_for()
    page.get_by_role("button", name="Confirm review").click()
    wait_for(lambda: runs(cluster, "ulm-junction")[-1]["status"]["phase"] == "Running", 30, "review to run")
    assert runs(cluster, "ulm-junction")[-1]["spec"]["stage"] == "review"
    page.locator(".project-head .badge").filter(has_text="Running").wait_for()
    expect(controls.get_by_role("button", name="Resume", exact=True)).to_be_disabled()  # a stage runs
    expect(controls.get_by_role("button", name="Resume from stage")).to_be_disabled()
    expect(controls.get_by_role("button", name="Kill")).to_be_enabled()
    assert controls.get_by_role("button", name="Confirm").is_disabled(), "no gate waits now"
    page.get_by_role("link", name="Overview").click()

    # env set and removed through the form
    page.get_by_label("Variable name").fill("THRESHOLD")
    page.get_by_label("Variable value").fill("0.7")
    page.get_by_role("button", name="Set", exact=True).click()
    page.get_by_role("row", name=re.compile("THRESHOLD")).wait_for()
    assert status(cluster, "ulm-junction")["spec"]["env"] == {"MIN_TRACK_LENGTH": "40", "THRESHOLD": "0.7"}
    page.get_by_role("button", name="Remove THRESHOLD").click()
    page.get_by_role("row", name=re.compile("THRESHOLD")).wait_for(state="detached")
    shot(page, "03-project-overview")

    # from the History tab: pause, then kill (with a confirmation), then resume from the first stage
    page.get_by_role("link", name="History").click()
    page.locator("table.history").filter(has_text="review").wait_for()
    controls.get_by_role("button", name="Pause").click()
    wait_for(lambda: status(cluster, "ulm-junction")["spec"]["paused"], 10, "the pause")
    expect(controls.get_by_role("button", name="Pause")).to_be_disabled()
    controls.get_by_role("button", name="Kill").click()
    page.get_by_role("dialog").get_by_role("button", name="Kill").click()
    wait_for(lambda: runs(cluster, "ulm-junction")[-1]["status"]["phase"] == "Killed", 30, "the kill")
    expect(controls.get_by_role("button", name="Resume", exact=True)).to_be_enabled()
    expect(controls.get_by_role("button", name="Kill")).to_be_disabled()  # nothing runs now
    expect(page.get_by_label("Stage to resume from")).to_have_value("review")  # the killed stage
    head.locator(".reason").filter(has_text="killed").wait_for()
    assert "winsctl" not in head.inner_text() and "--from" not in head.inner_text()
    shot(page, "04-project-killed")
    page.get_by_label("Stage to resume from").select_option("detect")
    controls.get_by_role("button", name="Resume from stage").click()
    dialog = page.get_by_role("dialog")
    assert "detect already succeeded" in dialog.inner_text()
    assert "reruns detect, review, count" in dialog.inner_text()
    shot(page, "04-project-rerun-asks")
    dialog.get_by_role("button", name="Cancel").click()
    dialog.wait_for(state="detached")
    assert len(runs(cluster, "ulm-junction")) == 2, "cancelled: nothing reran"
    controls.get_by_role("button", name="Resume from stage").click()
    page.get_by_role("dialog").get_by_role("button", name="Rerun from detect").click()
    wait_for(lambda: len(runs(cluster, "ulm-junction")) == 3, 30, "detect to run again")
    rerun = runs(cluster, "ulm-junction")[-1]
    assert rerun["spec"]["stage"] == "detect" and rerun["status"]["trigger"] == "user"
    assert not status(cluster, "ulm-junction")["spec"]["paused"]

    table = page.locator("table.history")
    table.filter(has_text="Killed").wait_for()
    rows = table.locator(":scope > tbody > tr")  # not the rows of a run's result table
    expect(rows).to_have_count(3)  # the tab stayed open: the rerun arrives with the next poll
    first = rows.last  # newest first: the first detect run
    assert first.get_by_role("progressbar", name="detect 100%").count() == 1, "its progress, named"
    assert first.locator("table.results").inner_text().split() == ["tracks", "42"], "what it reported"
    shot(page, "04-project-history")
    page.get_by_role("link", name="Pipeline", exact=True).click()
    page.locator("ol.stages li").nth(2).wait_for()
    graph = page.get_by_role("list", name=re.compile(r"^Pipeline graph of ulm-junction: detect "))
    expect(graph.get_by_role("listitem")).to_have_count(3)
    label = graph.get_attribute("aria-label") or ""
    assert re.search(r"detect (pending|running|succeeded), review ", label), label
    if "review not started" in label:  # killed in the pass before the rerun of detect: said, not counted
        assert "earlier run #2: Killed" in graph.get_by_role("listitem").nth(1).inner_text()
    shot(page, "07-project-pipeline")
    page.set_viewport_size(PHONE)
    frame = page.locator(".graph-box").bounding_box()
    assert frame is not None and frame["x"] >= 0 and frame["x"] + frame["width"] <= PHONE["width"], frame
    last = graph.get_by_role("listitem").last.bounding_box()
    assert last is not None and last["x"] + last["width"] <= PHONE["width"], "stacked on a phone"
    shot(page, "07-project-pipeline-phone")
    page.set_viewport_size({"width": 1366, "height": 820})
    assert page.js_errors == []


def test_upload_200_mb_interrupted_by_closing_the_tab_then_resumed_and_downloaded(
    cluster: Cluster, browser: Any, tmp_path: Path
) -> None:
    apply(cluster, "alice", project("files-demo", "traffic", paused=True))
    source = tmp_path / "video.bin"
    with source.open("wb") as fh:
        for _ in range(200):
            fh.write(os.urandom(MiB))
    folder = "workspaces/files-demo/input"
    page = cluster.page(browser, "alice")
    context = page.context
    throttle = context.new_cdp_session(page)
    throttle.send("Network.enable")
    throttle.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 40 * MiB},
    )
    page.goto(f"{cluster.url}/#/projects/files-demo/files?path={folder}")
    page.get_by_text("does not exist yet").wait_for()
    page.locator("#upload-picker").set_input_files(str(source))
    bar = page.locator("li.upload progress")
    bar.wait_for()

    def arrived() -> int:
        """Asked once no upload holds the file (the node answers after the writer let go)."""
        with api(cluster, "alice") as client:
            reply = client.head(f"/api/v1/files/{folder}/video.bin", params={"upload": "true"})
            return int(reply.headers["Upload-Offset"])

    partial = cluster.share / folder / ".video.bin.upload"
    wait_for(lambda: partial.stat().st_size > PIECE + 4 * MiB, 60, "the second piece to begin", interval=0.05)
    assert 0 < int(bar.get_attribute("value") or 0) < 100
    shot(page, "08-upload-in-progress")
    page.close()  # the tab is closed mid-upload
    offset = arrived()
    assert offset == PIECE  # only whole, checked pieces stay

    page = track(context.new_page())
    page.goto(f"{cluster.url}/#/projects/files-demo/files?path={folder}")
    page.get_by_text("Unfinished upload of video.bin").wait_for()
    page.locator("#upload-picker").set_input_files(str(source))
    page.locator("li.upload.done").wait_for(timeout=60_000)
    assert "resumed at" in page.locator("li.upload").inner_text()
    stored = cluster.share / folder / "video.bin"
    assert sha256(stored) == sha256(source)

    row = page.get_by_role("row", name=re.compile("video.bin"))
    with page.expect_download() as download:
        row.get_by_role("link", name="Download").click()
    saved = tmp_path / "downloaded.bin"
    download.value.save_as(saved)
    assert sha256(saved) == sha256(source)

    page.get_by_label("New folder name").fill("results")
    page.get_by_role("button", name="Make folder").click()
    page.get_by_role("link", name="results/").wait_for()
    shot(page, "09-files")
    page.set_viewport_size(PHONE)
    delete = page.get_by_role("button", name="Delete results")
    box = delete.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    shot(page, "09-files-phone")
    page.set_viewport_size({"width": 1366, "height": 820})
    delete.click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.get_by_role("link", name="results/").wait_for(state="detached")
    assert not (cluster.share / folder / "results").exists()
    assert page.js_errors == []


def test_someone_else_sees_neither_the_project_nor_its_files(cluster: Cluster, browser: Any) -> None:
    apply(cluster, "alice", project("private-one", "traffic", paused=True))
    with api(cluster, "alice") as client:
        client.put("/api/v1/files/workspaces/private-one/input/secret.txt", content=b"secret")
    page = cluster.page(browser, "carol")
    page.locator("main").filter(has_text="No projects yet").wait_for()
    assert page.locator("tr[data-name]").count() == 0
    page.goto(cluster.url + "/#/projects/private-one")
    page.get_by_role("alert").filter(has_text="not the owner").wait_for()
    page.goto(cluster.url + "/#/files?path=workspaces")
    page.locator("table.files").wait_for()
    assert "private-one" not in page.locator("table.files").inner_text()
    refused = page.request.get(cluster.url + "/api/v1/files/workspaces/private-one/input/secret.txt")
    assert refused.status == 404  # as if it did not exist (tests/hostile: case 9)
    shot(page, "10-other-user")
    assert page.js_errors == []


def test_the_pipeline_editor_shows_errors_at_their_line_before_saving(cluster: Cluster, browser: Any) -> None:
    page = cluster.page(browser, "alice")
    page.goto(cluster.url + "/#/pipelines/traffic")
    editor = page.get_by_label("Pipeline YAML")
    page.locator(".verdict").filter(has_text="valid").wait_for()
    text = editor.input_value()
    broken = text.replace("name: traffic", "name: traffic-fast", 1).replace(
        "memory: 32Mi", "memory: 16 GB", 1
    )
    editor.fill(broken)
    problem = page.locator("ul.problems li").filter(has_text="memory")
    problem.wait_for()
    line = next(i for i, t in enumerate(broken.splitlines(), 1) if "16 GB" in t)
    assert problem.inner_text().startswith(f"line {line}:")
    assert f"✖ {line}" in page.locator(".gutter").inner_text()
    shot(page, "11-pipeline-error")
    editor.fill(broken.replace("16 GB", "16Gi"))
    page.locator(".verdict").filter(has_text="✔ valid").wait_for()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile("#/pipelines/traffic-fast$"))
    with api(cluster, "alice") as client:
        saved = client.get("/api/v1/pipelines/traffic-fast").json()
    assert saved["spec"]["stages"][0]["resources"]["memory"] == "16Gi"
    page.goto(cluster.url + "/#/pipelines")
    page.get_by_role("link", name="traffic-fast").wait_for()
    shot(page, "12-pipelines")
    assert page.js_errors == []


def test_nodes_and_utilisation_show_real_figures(cluster: Cluster, browser: Any) -> None:
    page = cluster.page(browser, "admin")
    page.goto(cluster.url + "/#/nodes")
    card = page.locator("article.node").filter(has_text="node-a")
    card.filter(has_text="✔ ready").wait_for()
    assert card.locator(".core").count() >= 1
    assert card.locator("figure.chart").count() == 4
    assert re.search(r"of 4 \(", card.inner_text())  # --cpus 4
    assert re.search(r"[1-9][\d.]* (KiB|MiB|GiB) of 8\.0 GiB", card.inner_text())  # memory in use
    assert card.locator("figure.chart .key").filter(has_text="gpu").count() == 0, "no GPU line without a GPU"
    shot(page, "13-nodes")

    page.goto(cluster.url + "/#/utilisation")
    table = page.locator("table.report")
    table.wait_for()
    total = table.locator("tr[data-key='all'] td").first.inner_text()
    assert total not in ("0.0 h", "0 s"), total
    assert page.locator(".heat-cell[data-level='8']").count() >= 1
    figures = page.request.get(cluster.url + "/api/v1/reports/utilisation").json()
    assert figures["runs"] >= 3 and figures["rows"][0]["hours"] > 0
    text = page.locator("main").inner_text()
    assert "Table 7.1" not in text and not re.search(r"\bgain\b", text, re.I) and "fig. 7" not in text
    assert "outside working hours" in text and "working hours" in page.locator(".heat-legend").inner_text()
    assert page.locator(".heat-cell.work").count() > 0
    shot(page, "14-utilisation")
    page.set_viewport_size(PHONE)
    last_hour = page.locator(".heat-row").first.locator(".heat-hour").last
    last_hour.scroll_into_view_if_needed()
    box = last_hour.bounding_box()
    assert last_hour.inner_text() == "23" and box is not None and box["x"] + box["width"] <= PHONE["width"]
    shot(page, "14-utilisation-phone")
    assert page.js_errors == []


def test_the_plain_javascript_sha256_and_the_yaml_line_finder(cluster: Cluster, browser: Any) -> None:
    """What pages served over plain HTTP to another machine hash with, where crypto.subtle is hidden;
    and how the editor finds an error's line."""
    page = cluster.page(browser, None)
    sizes = [0, 1, 55, 56, 63, 64, 65, 1000, 3 * MiB + 7]
    digests = page.evaluate(
        """async (sizes) => { const m = await import('/ui/js/sha256.js');
           return sizes.map((n) => { const b = new Uint8Array(n);
           for (let i = 0; i < n; i++) b[i] = (i * 131) & 255; return m.sha256(b); }); }""",
        sizes,
    )
    expected = [hashlib.sha256(bytes((i * 131) & 255 for i in range(n))).hexdigest() for n in sizes]
    assert digests == expected
    text = (
        "kind: Pipeline\nspec:\n  stages:\n  - name: a\n    image: b\n"
        "  - name: c\n    resources:\n      memory: 16 GB\n"
    )
    lines = page.evaluate(
        """async ([text, paths]) => { const m = await import('/ui/js/yamlpath.js');
           return paths.map((p) => m.lineOf(text, p)); }""",
        [
            text,
            ["spec.stages[1].resources.memory", "spec.stages[0].image", "spec.stages[1].image", "kind", ""],
        ],
    )
    assert lines == [8, 5, 6, 1, 1]
    # the pipeline graph's columns: a line today, a DAG once stages carry `needs`
    graphs = page.evaluate(
        """async () => { const m = await import('/ui/js/project/pipeline.js');
           const draw = (stages) => {
             const needs = m.needsOf(stages); return [needs, m.layout(stages, needs)]; };
           return [draw([{name: 'a'}, {name: 'b'}, {name: 'c'}]),
                   draw([{name: 'a'}, {name: 'b', needs: ['a']}, {name: 'c', needs: 'a'},
                         {name: 'd', needs: ['b', 'c']}, {name: 'e', needs: []}])]; }"""
    )
    line = [{"col": 0, "row": 0}, {"col": 1, "row": 0}, {"col": 2, "row": 0}]
    assert graphs[0] == [[[], ["a"], ["b"]], line]
    assert graphs[1][0] == [[], ["a"], ["a"], ["b", "c"], []]
    assert [(p["col"], p["row"]) for p in graphs[1][1]] == [(0, 0), (1, 0), (1, 1), (2, 0), (0, 1)]
