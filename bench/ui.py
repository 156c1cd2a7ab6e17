"""The web UI in Debian's Chromium: 1,000 projects, a 50-combination sweep, an upload beside `winsctl cp`.

A real `winslow node` (observer, `--no-execute`) serves a temp share holding 1,000 projects (paused,
with tags) plus 10 on a second share, and Chromium (Playwright, headless) opens the projects page
of each, signed in, 5 times. Each load is timed from navigation until the table is usable (every
row in the DOM and the page marked ready), and split into:

  baselines
    fetch 1,000      the browser's own fetch + JSON parse of GET /api/v1/projects (and nodes), no DOM
    page of 10       the same page with 10 projects: what the shell, modules and one poll cost
  the page
    page of 1,000    navigation to a usable table of 1,000 rows

Then, on each of the two pages, the main-thread cost of one poll refresh (the page polls every
1 s) while nothing changes:
Chromium's own TaskDuration (CDP Performance.getMetrics) over 10 s (`--quick` 5 s), divided by
the polls counted in that window; its baseline is the browser's fetch + JSON parse of the same
two routes, run in a blank page of the same origin, with no DOM work.

A third node executes (Docker, `winslow/busybox:latest`): a project whose pipeline is prep, a
sweep `train` with `matrix: {N: ["0", ..., "49"]}` (`--combos`; each combination prints
`WINSLOW_RESULT: score=((N*37) % 101)`, so sorting by score reorders the rows) and a join
`report`, plus a plain project of 2 stages, both run to Succeeded by the node (real StageRuns),
then measured, each 5 times (`--quick` 3):

    Pipeline tab     navigation to the graph drawn (every box with its state, the sweep's 50
                     combinations in its box) and the stage list
    History tab      navigation to the sweep table's 50 rows and the StageRuns table
    sort by score    a click on the score header's button: the handler (aria-sort set and rows
                     reordered, checked after each click) and until the next frame
    open the sweep   a click on the sweep box's "Show combinations": handler, and to next frame
    poll, idle       one poll refresh on each tab, as above
  baselines
    static HTML      one page (served by Playwright's router) with plain tables of the same rows
                     and columns as the History tab, and a list of 50 hidden combinations; its
                     load, a plain JS sort of its table by the same column, a toggle of the list
    plain project    the same tabs of the 2-stage project (no sweep)

Then one file (default 1 GiB, `--upload-mb`) goes to the node twice, 3 times each:

    winsctl cp       `winsctl cp FILE resources/...` (a new process; hashes while it sends)
    browser          the UI's upload (api/ui/static/js/upload.js): 128 MiB pieces, each hashed in a
                     worker (crypto.subtle) while the previous one is on the wire, X-Piece-Sha256

Best and median of the runs; ratios against the baseline of the same run. Nothing is asserted.

Usage: python bench/ui.py [--quick] [--projects N] [--combos N] [--upload-mb N] [--skip-upload]
                         [--skip-sweep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx
import yaml
from _util import ROOT, median

from tests.browser.conftest import ARGS, CHROMIUM, sign_in
from tests.harness import IMAGE, NodeProcess, pipeline, project, project_status, remove_containers, stage

MiB = 1 << 20


def seed(node: NodeProcess, token: str, count: int) -> None:
    docs: list[dict[str, Any]] = [pipeline("traffic", stage("detect", "true"), stage("count", "true"))]
    docs += [
        project(f"video-{i:04d}", "traffic", paused=True, tags=[f"site-{i % 7}", "bench"])
        for i in range(count)
    ]
    with httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
        reply = client.post("/api/v1/apply", json={"documents": docs})
        reply.raise_for_status()


def wait_statuses(share: Path, count: int) -> None:
    folder = share / "run" / "status" / "projects"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if folder.exists() and sum(1 for _ in folder.glob("*.yaml")) >= count:
            return
        time.sleep(0.5)


def load_table(page: Any, url: str, rows: int) -> float:
    page.goto("about:blank")
    start = time.perf_counter()
    page.goto(url + "/#/projects")
    page.wait_for_function(
        "n => document.querySelector('main').dataset.ready === 'true' && "
        "document.querySelectorAll('tr[data-name]').length >= n",
        arg=rows,
        timeout=60_000,
        polling="raf",
    )
    return time.perf_counter() - start


def fetch_only(page: Any) -> float:
    return float(
        page.evaluate(
            """async () => { const t0 = performance.now();
               const [a, b] = await Promise.all([fetch('/api/v1/projects'), fetch('/api/v1/nodes')]);
               await a.json(); await b.json(); return (performance.now() - t0) / 1000; }"""
        )
    )


def start_node(root: Path, name: str, *extra: str) -> tuple[NodeProcess, str]:
    os.environ["WINSLOW_CONFIG"] = str(root / f"{name}.yaml")
    node = NodeProcess(root / name, name, *(extra or ("--no-execute",))).start()
    token = yaml.safe_load((root / f"{name}.yaml").read_text())["token"]
    return node, token


def upload_runs(
    node: NodeProcess, token: str, browser: Any, source: Path, runs: int
) -> tuple[list[float], list[float]]:
    cli, web = [], []
    for i in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "winslow.api.winsctl",
                "--server",
                node.url,
                "--token",
                token,
                "cp",
                "-q",
                str(source),
                f"resources/cli-{i}.bin",
            ],
            check=True,
            cwd=ROOT,
        )
        cli.append(time.perf_counter() - start)
        (node.share / "resources" / f"cli-{i}.bin").unlink()
        context = browser.new_context()
        page = context.new_page()
        page.goto(node.url + "/")
        sign_in(page, "admin", token)
        page.evaluate(
            "() => { const i = document.createElement('input'); i.type = 'file'; i.id = 'bench';"
            " document.body.append(i); }"
        )
        page.set_input_files("#bench", str(source))
        seconds = page.evaluate(
            """async (remote) => { const m = await import('/ui/js/upload.js');
               const u = new m.Upload(document.getElementById('bench').files[0], remote);
               const t0 = performance.now(); await u.start();
               if (u.state !== 'done') throw new Error(u.error); return (performance.now() - t0) / 1000; }""",
            f"resources/web-{i}.bin",
        )
        web.append(float(seconds))
        context.close()
        (node.share / "resources" / f"web-{i}.bin").unlink()
    return cli, web


# --- the main thread's cost of one poll, from Chromium's own counters ---------------------------


def main_thread(cdp: Any) -> tuple[float, float]:
    """Main-thread seconds this page's renderer has spent so far: in all tasks, and of that in
    style + layout; the rest is script, parsing, GC. (Chromium's ScriptDuration counted under 2 ms of
    a poll that took 68 here, less than its own style + layout, so it is not used.)"""
    metrics = {m["name"]: float(m["value"]) for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics["TaskDuration"], metrics["RecalcStyleDuration"] + metrics["LayoutDuration"]


def per(before: tuple[float, ...], after: tuple[float, ...], n: int) -> tuple[float, ...]:
    return tuple((b - a) / max(n, 1) for a, b in zip(before, after, strict=True))


def poll_cost(page: Any, cdp: Any, route: str, seconds: float) -> tuple[float, ...]:
    """Main-thread seconds per poll (all, style + layout): the window's ÷ the polls of `route` in it."""
    polls = [0]

    def seen(request: Any) -> None:
        if route in request.url:
            polls[0] += 1

    page.wait_for_timeout(1500)  # any first-render work settles
    page.on("request", seen)
    before = main_thread(cdp)
    page.wait_for_timeout(seconds * 1000)
    after = main_thread(cdp)
    page.remove_listener("request", seen)
    return per(before, after, polls[0])


def fetch_cost(page: Any, cdp: Any, url: str, routes: list[str], times: int) -> tuple[float, ...]:
    """The baseline of a poll: the same routes fetched and parsed in a blank page, no DOM work."""
    page.goto(url + "/bench-blank.html")
    page.wait_for_timeout(300)
    before = main_thread(cdp)
    page.evaluate(
        """async ([routes, times]) => { for (let i = 0; i < times; i++) {
             const replies = await Promise.all(routes.map((r) => fetch(r)));
             await Promise.all(replies.map((r) => r.json())); } }""",
        [routes, times],
    )
    return per(before, main_thread(cdp), times)


def serve_static(context: Any, html: str) -> None:
    """Pages no node serves, answered by Playwright's router on the node's own origin."""
    context.route(
        "**/bench-blank.html",
        lambda r: r.fulfill(body="<!doctype html><title>blank</title>", content_type="text/html"),
    )
    context.route("**/bench-static.html", lambda r: r.fulfill(body=html, content_type="text/html"))


# --- a project with a sweep of 50 combinations, run by a real node -----------------------------

SCORE = 'echo "N=$N"; echo "WINSLOW_RESULT: score=$(( (N * 37) % 101 ))"'
SMALL = {"cpu": 0.1, "memory": "16Mi"}
SWEEP_PROJECT, PLAIN_PROJECT = "sweep-50", "plain-2"


def seed_sweep(node: NodeProcess, token: str, combos: int) -> None:
    docs: list[dict[str, Any]] = [
        pipeline(
            "sweep",
            stage("prep", "echo preparing", resources=SMALL),
            stage("train", SCORE, resources=SMALL, matrix={"N": [str(i) for i in range(combos)]}),
            stage("report", "echo reported", resources=SMALL),
        ),
        pipeline(
            "plain",
            stage("prep", "echo preparing", resources=SMALL),
            stage("report", "echo reported", resources=SMALL),
        ),
        project(SWEEP_PROJECT, "sweep"),
        project(PLAIN_PROJECT, "plain"),
    ]
    with httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        client.post("/api/v1/apply", json={"documents": docs}).raise_for_status()


def wait_succeeded(share: Path, names: list[str], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        phases = [project_status(share, n).get("phase") for n in names]
        if all(p == "Succeeded" for p in phases):
            return time.monotonic() - start
        if any(p in ("Failed", "Invalid") for p in phases):
            break
        time.sleep(1)
    raise SystemExit(f"the sweep projects did not succeed: {[project_status(share, n) for n in names]}")


def static_page(history_rows: int, history_cols: int, combos: int) -> str:
    """The History tab's tables (StageRuns and the sweep) and the graph's list of combinations as
    plain HTML, with the least script that sorts the sweep table by its score and opens the list."""
    head = "".join(f"<th scope=col>c{i}</th>" for i in range(history_cols))
    body = "".join(
        f"<tr><th scope=row>#{r}</th>"
        + "".join(f"<td>{r}.{c}</td>" for c in range(1, history_cols))
        + "</tr>"
        for r in range(history_rows)
    )
    sweep_head = "".join(
        f'<th scope=col><button type=button onclick="sortBy({i})">{t}</button></th>'
        for i, t in enumerate(["N", "Phase", "Duration", "score", "Log"])
    )
    sweep_body = "".join(
        f"<tr><th scope=row>{n}</th><td>Succeeded</td><td>1 s</td><td class=num>{(n * 37) % 101}</td>"
        f"<td><a href='#log-{n}'>log</a></td></tr>"
        for n in range(combos)
    )
    items = "".join(
        f"<li><code>N={n}</code> Succeeded 1 s <a href='#log-{n}'>log</a></li>" for n in range(combos)
    )
    return f"""<!doctype html><html lang=en><title>static</title>
<button id=toggle type=button aria-expanded=false onclick="const l = document.getElementById('combos');
 l.hidden = !l.hidden; this.setAttribute('aria-expanded', String(!l.hidden))">Show combinations</button>
<ul id=combos hidden>{items}</ul>
<table id=sweep class=sweep-table><thead><tr>{sweep_head}</tr></thead><tbody>{sweep_body}</tbody></table>
<table class=history><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<script>
function sortBy(i) {{
  const th = document.querySelectorAll('#sweep thead th')[i];
  const dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
  document.querySelectorAll('#sweep thead th').forEach((t) => t.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort', dir);
  const tbody = document.querySelector('#sweep tbody');
  const sign = dir === 'ascending' ? 1 : -1;
  const value = (tr) => Number(tr.cells[i].textContent);
  const rows = [...tbody.rows].sort((a, b) => sign * (value(a) - value(b)));
  tbody.append(...rows);
}}
</script></html>"""


def navigate(page: Any, url: str, ready: str, arg: Any) -> float:
    page.goto("about:blank")
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function(ready, arg=arg, timeout=60_000, polling="raf")
    return time.perf_counter() - start


GRAPH_READY = """({stages, combos}) =>
  document.querySelectorAll('ol.graph > li.graph-stage[data-state]').length === stages &&
  document.querySelectorAll('ol.graph li.graph-combo').length === combos &&
  document.querySelectorAll('svg.graph-edges path.graph-edge').length === stages - 1 &&
  document.querySelector('ol.stages > li') !== null"""
HISTORY_READY = """({runs, combos}) =>
  document.querySelectorAll('table.history > tbody > tr').length === runs &&
  document.querySelectorAll('table.sweep-table > tbody > tr').length === combos"""
STATIC_READY = """({runs, combos}) =>
  document.querySelectorAll('table.history > tbody > tr').length === runs &&
  document.querySelectorAll('#sweep > tbody > tr').length === combos &&
  document.querySelectorAll('#combos > li').length === combos"""

# One click on the score column's header button, timed in the page: the handler is synchronous
# (aria-sort set, rows rebuilt), then until the next frame is painted. Checked: aria-sort changed
# and the score column reads in that order.
SORT = """async ({table, column}) => {
  const header = () => [...document.querySelectorAll(table + ' thead th')];
  const title = (th) => th.textContent.replace(/[↕▲▼]/g, '').trim();
  const before = header().find((th) => title(th) === column).getAttribute('aria-sort');
  const button = header().find((th) => title(th) === column).querySelector('button');
  const t0 = performance.now();
  button.click();
  const t1 = performance.now();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const t2 = performance.now();
  const th = header().find((th) => title(th) === column);
  const dir = th.getAttribute('aria-sort');
  const at = header().indexOf(th);
  const values = [...document.querySelectorAll(table + ' > tbody > tr')]
    .map((tr) => Number(tr.children[at].textContent.replace('★ best', '')));
  const up = dir === 'ascending';
  const ordered = values.every((v, i) => i === 0 || (up ? values[i - 1] <= v : values[i - 1] >= v));
  if (!dir || dir === before || !ordered) throw new Error(`not sorted: ${before} -> ${dir} ${values}`);
  return [(t1 - t0) / 1000, (t2 - t0) / 1000];
}"""
# One click on a disclosure button that shows a list, timed as above, then closed again untimed.
OPEN = """async ({button, list, count}) => {
  const b = document.querySelector(button);
  const t0 = performance.now();
  b.click();
  const t1 = performance.now();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  const t2 = performance.now();
  const l = document.querySelector(list);
  const open = b.getAttribute('aria-expanded') === 'true' && !l.hidden;
  if (!open || l.children.length !== count || !l.lastElementChild.offsetHeight) throw new Error('not opened');
  b.click();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return [(t1 - t0) / 1000, (t2 - t0) / 1000];
}"""


def sweep_figures(
    browser: Any, node: NodeProcess, token: str, combos: int, loads: int, window: float
) -> dict[str, list[float]]:
    runs = combos + 2  # prep, the combinations, report
    figures: dict[str, list[float]] = {}

    def note(key: str, value: float | tuple[float, ...]) -> None:
        figures.setdefault(key, []).append(value if isinstance(value, float) else value[0])
        if not isinstance(value, float):
            figures.setdefault(f"{key} layout", []).append(value[1])

    html = static_page(runs, 11, combos)
    context = browser.new_context(viewport={"width": 1366, "height": 820})
    serve_static(context, html)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.goto(node.url + "/")
    sign_in(page, "admin", token)
    static = node.url + "/bench-static.html"
    tab = node.url + "/#/projects/{}/{}"
    shapes = {SWEEP_PROJECT: (3, combos, runs), PLAIN_PROJECT: (2, 0, 2)}
    for name, (stages, n, _) in shapes.items():  # warm: modules cached
        navigate(page, tab.format(name, "pipeline"), GRAPH_READY, {"stages": stages, "combos": n})
    navigate(page, static, STATIC_READY, {"runs": runs, "combos": combos})
    for _ in range(loads):
        note("static load", navigate(page, static, STATIC_READY, {"runs": runs, "combos": combos}))
        for _ in range(2):
            sync, frame = page.evaluate(SORT, {"table": "#sweep", "column": "score"})
            note("static sort", sync)
            note("static sort frame", frame)
        sync, frame = page.evaluate(OPEN, {"button": "#toggle", "list": "#combos", "count": combos})
        note("static open", sync)
        note("static open frame", frame)
        for name, (stages, n, count) in shapes.items():
            note(
                f"{name} pipeline",
                navigate(page, tab.format(name, "pipeline"), GRAPH_READY, {"stages": stages, "combos": n}),
            )
            if n:
                toggle = "li.graph-stage[data-stage='train'] button.graph-toggle"
                sync, frame = page.evaluate(
                    OPEN,
                    {
                        "button": toggle,
                        "list": "li.graph-stage[data-stage='train'] ul.graph-combos",
                        "count": n,
                    },
                )
                note("open sweep", sync)
                note("open sweep frame", frame)
            note(
                f"{name} history",
                navigate(page, tab.format(name, "history"), HISTORY_READY, {"runs": count, "combos": n}),
            )
            if n:
                for _ in range(2):
                    sync, frame = page.evaluate(
                        SORT,
                        {"table": "section.sweep[data-stage='train'] table.sweep-table", "column": "score"},
                    )
                    note("sort", sync)
                    note("sort frame", frame)
    # the poll, idle: the sweep's tabs (its box opened, its table sorted) and the plain project's
    for name, (stages, n, count) in shapes.items():
        navigate(page, tab.format(name, "pipeline"), GRAPH_READY, {"stages": stages, "combos": n})
        if n:
            page.click("li.graph-stage[data-stage='train'] button.graph-toggle")
        note(f"{name} poll pipeline", poll_cost(page, cdp, "/api/v1/stageruns", window))
        navigate(page, tab.format(name, "history"), HISTORY_READY, {"runs": count, "combos": n})
        if n:
            page.click("section.sweep[data-stage='train'] thead th:nth-child(4) button")
        note(f"{name} poll history", poll_cost(page, cdp, "/api/v1/stageruns", window))
    routes = [f"/api/v1/projects/{SWEEP_PROJECT}", f"/api/v1/stageruns?project={SWEEP_PROJECT}"]
    note("fetch sweep", fetch_cost(page, cdp, node.url, routes, 10))
    context.close()
    if errors:
        print("script errors in the page:", errors)
    return figures


def print_sweep(figures: dict[str, list[float]], combos: int, loads: int) -> None:
    def line(label: str, key: str, base: str | None, against: str = "", ms: bool = False) -> None:
        values = figures[key]
        best, middle = min(values), median(values)
        scale, unit = (1000, "ms") if ms else (1, "s ")
        ratio = f"   x{best / min(figures[base]):6.1f} of {against}" if base else ""
        print(f"  {label:<34} {best * scale:8.3f}  {middle * scale:8.3f} {unit}{ratio}")

    def poll(label: str, key: str) -> None:
        print(
            poll_line(
                label,
                [figures[key][0], figures[f"{key} layout"][0]],
                figures["fetch sweep"][0],
                width=34,
            )
        )

    print(
        f"\nA project with a sweep of {combos} combinations in Chromium ({loads} runs each; best / median)\n"
    )
    print("  first render (navigation to drawn)")
    line("static HTML, same tables (baseline)", "static load", None)
    line("plain project, Pipeline tab", f"{PLAIN_PROJECT} pipeline", "static load", "static")
    line("sweep project, Pipeline tab", f"{SWEEP_PROJECT} pipeline", "static load", "static")
    line("plain project, History tab", f"{PLAIN_PROJECT} history", "static load", "static")
    line("sweep project, History tab", f"{SWEEP_PROJECT} history", "static load", "static")
    print("  sort the sweep table by score (click; handler / to next frame)")
    line("static table, plain JS sort (base)", "static sort", None, ms=True)
    line("sweep table, handler", "sort", "static sort", "static", ms=True)
    line("static table, to next frame", "static sort frame", None, ms=True)
    line("sweep table, to next frame", "sort frame", "static sort frame", "static", ms=True)
    print("  open the sweep box in the graph (click; handler / to next frame)")
    line("static list, toggle hidden (base)", "static open", None, ms=True)
    line("sweep box, handler", "open sweep", "static open", "static", ms=True)
    line("static list, to next frame", "static open frame", None, ms=True)
    line("sweep box, to next frame", "open sweep frame", "static open frame", "static", ms=True)
    print("  one poll refresh while nothing changes (main-thread ms a poll: all tasks, of it style+layout)")
    poll("fetch + parse, no DOM (baseline)", "fetch sweep")
    poll("plain project, Pipeline tab", f"{PLAIN_PROJECT} poll pipeline")
    poll("sweep project, Pipeline tab", f"{SWEEP_PROJECT} poll pipeline")
    poll("plain project, History tab", f"{PLAIN_PROJECT} poll history")
    poll("sweep project, History tab", f"{SWEEP_PROJECT} poll history")


def poll_line(label: str, cost: Sequence[float], base: float, width: int) -> str:
    task, layout = (c * 1000 for c in cost)
    return f"  {label:<{width}} {task:8.1f}  {layout:12.1f}   x{cost[0] / base:5.1f} of fetch"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 loads, 5 s poll windows, a 256 MiB upload")
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--combos", type=int, default=50, help="combinations of the sweep")
    parser.add_argument("--upload-mb", type=int, default=None)
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-sweep", action="store_true", help="no executing node, no Docker")
    args = parser.parse_args()
    loads = 3 if args.quick else 5
    window = 5.0 if args.quick else 10.0
    upload_mb = args.upload_mb or (256 if args.quick else 1024)
    from playwright.sync_api import sync_playwright

    if (
        not args.skip_sweep
        and subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode
    ):
        print(f"no Docker engine with {IMAGE} (scripts/setup-host.sh): the sweep is left out")
        args.skip_sweep = True
    root = Path(tempfile.mkdtemp(prefix="winslow-bench-ui-"))
    nodes: list[NodeProcess] = []
    try:
        if not args.skip_sweep:
            runner, runner_token = start_node(root, "runner", "--cpus", "4", "--memory", "8Gi")
            nodes.append(runner)
            seed_sweep(runner, runner_token, args.combos)
        big, big_token = start_node(root, "big")
        small, small_token = start_node(root, "small")
        nodes += [big, small]
        seed(big, big_token, args.projects)
        seed(small, small_token, 10)
        wait_statuses(big.share, args.projects)
        if not args.skip_sweep:
            took = wait_succeeded(runner.share, [SWEEP_PROJECT, PLAIN_PROJECT], 600)
            print(
                f"the sweep of {args.combos} ran to Succeeded ({took:.0f} s after the projects were seeded)"
            )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            polls: dict[str, tuple[float, ...]] = {}
            figures: dict[str, list[float]] = {
                "fetch": [],
                "small": [],
                "big": [],
            }
            for node, token, key, rows in (
                (small, small_token, "small", 10),
                (big, big_token, "big", args.projects),
            ):
                context = browser.new_context(viewport={"width": 1366, "height": 820})
                serve_static(context, "")
                page = context.new_page()
                cdp = context.new_cdp_session(page)
                cdp.send("Performance.enable")
                page.goto(node.url + "/")
                sign_in(page, "admin", token)
                load_table(page, node.url, rows)  # warm: modules cached, as for anyone who came before
                for _ in range(loads):
                    figures[key].append(load_table(page, node.url, rows))
                    if key == "big":
                        figures["fetch"].append(fetch_only(page))
                polls[key] = poll_cost(page, cdp, "/api/v1/projects", window)
                if key == "big":
                    polls["fetch"] = fetch_cost(
                        page, cdp, node.url, ["/api/v1/projects", "/api/v1/nodes"], 10
                    )
                context.close()
            print(f"\nProjects page in Chromium ({loads} loads each; seconds, best / median)\n")
            base = min(figures["fetch"])
            for label, key in (
                (f"fetch {args.projects:,} (baseline)", "fetch"),
                ("page of 10", "small"),
                (f"page of {args.projects:,}", "big"),
            ):
                values = figures[key]
                best, middle = min(values), median(values)
                print(f"  {label:<26} {best:7.3f}  {middle:7.3f}   x{best / base:5.1f} of fetch")
            print(f"\nOne poll of the projects page while nothing changes (main-thread ms; {window:.0f} s)\n")
            print(f"  {'':<26} {'all':>8}  {'style+layout':>12}")
            for label, key in (
                (f"fetch {args.projects:,} (baseline)", "fetch"),
                ("page of 10", "small"),
                (f"page of {args.projects:,}", "big"),
            ):
                print(poll_line(label, polls[key], polls["fetch"][0], width=26))
            if not args.skip_sweep:
                print_sweep(
                    sweep_figures(browser, runner, runner_token, args.combos, loads, window),
                    args.combos,
                    loads,
                )
            if not args.skip_upload:
                source = root / "upload.bin"
                with source.open("wb") as fh:
                    for _ in range(upload_mb):
                        fh.write(os.urandom(MiB))
                cli, web = upload_runs(big, big_token, browser, source, 3)
                size = upload_mb * MiB
                print(f"\nUpload of {upload_mb} MiB to the node (3 runs; MiB/s, best / median)\n")
                for label, values in (("winsctl cp (baseline)", cli), ("browser (the UI)", web)):
                    print(
                        f"  {label:<26} {size / min(values) / MiB:7.0f}  {size / median(values) / MiB:7.0f}"
                        f"   x{min(cli) / min(values):4.2f} of winsctl cp"
                    )
            browser.close()
    finally:
        for node in nodes:
            node.stop()
            remove_containers(node.share)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
