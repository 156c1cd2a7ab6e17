"""The web UI in Debian's Chromium: a page of 1,000 projects, and an upload beside `winsctl cp`.

A real `winslow node` (observer, `--no-execute`) serves a temp share holding 1,000 projects (paused,
with tags) plus 10 on a second share, and Chromium (Playwright, headless) opens the projects page
of each, signed in, 5 times. Each load is timed from navigation until the table is usable (every
row in the DOM and the page marked ready), and split into:

  baselines
    fetch 1,000      the browser's own fetch + JSON parse of GET /api/v1/projects (and nodes), no DOM
    page of 10       the same page with 10 projects: what the shell, modules and one poll cost
  the page
    page of 1,000    navigation to a usable table of 1,000 rows

Then one file (default 1 GiB, `--upload-mb`) goes to the node twice, 3 times each:

    winsctl cp       `winsctl cp FILE resources/...` (a new process; hashes while it sends)
    browser          the UI's upload (api/ui/static/js/upload.js): 128 MiB pieces, each hashed in a
                     worker (crypto.subtle) while the previous one is on the wire, X-Piece-Sha256

Best and median of the runs; ratios against the baseline of the same run. Nothing is asserted.

Usage: python bench/ui.py [--quick] [--upload-mb N] [--skip-upload]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import httpx
import yaml
from _util import ROOT, median

from tests.browser.conftest import ARGS, CHROMIUM, sign_in
from tests.harness import NodeProcess, pipeline, project, stage

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


def start_node(root: Path, name: str) -> tuple[NodeProcess, str]:
    os.environ["WINSLOW_CONFIG"] = str(root / f"{name}.yaml")
    node = NodeProcess(root / name, name, "--no-execute").start()
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 loads, a 256 MiB upload")
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--upload-mb", type=int, default=None)
    parser.add_argument("--skip-upload", action="store_true")
    args = parser.parse_args()
    loads = 3 if args.quick else 5
    upload_mb = args.upload_mb or (256 if args.quick else 1024)
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="winslow-bench-ui-"))
    nodes: list[NodeProcess] = []
    try:
        big, big_token = start_node(root, "big")
        small, small_token = start_node(root, "small")
        nodes += [big, small]
        seed(big, big_token, args.projects)
        seed(small, small_token, 10)
        wait_statuses(big.share, args.projects)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            figures: dict[str, list[float]] = {"fetch": [], "small": [], "big": []}
            for node, token, key, rows in (
                (small, small_token, "small", 10),
                (big, big_token, "big", args.projects),
            ):
                context = browser.new_context(viewport={"width": 1366, "height": 820})
                page = context.new_page()
                page.goto(node.url + "/")
                sign_in(page, "admin", token)
                load_table(page, node.url, rows)  # warm: modules cached, as for anyone who came before
                for _ in range(loads):
                    figures[key].append(load_table(page, node.url, rows))
                    if key == "big":
                        figures["fetch"].append(fetch_only(page))
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
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
