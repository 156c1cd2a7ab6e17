"""Browser tests: Debian's Chromium driven by Playwright, against a real node with real containers.

One node (and share) per module keeps the suite fast; each test signs in its own browser context,
a fresh profile with no cookies. Screenshots of every page land in `artifacts/screenshots/` (or
$WINSLOW_SCREENSHOTS), which CI keeps as artifacts and the README names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import IMAGE, NodeProcess, missing, remove_containers

CHROMIUM = os.environ.get("WINSLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(
    os.environ.get("WINSLOW_SCREENSHOTS", Path(__file__).resolve().parents[2] / "artifacts" / "screenshots")
)
LAPTOP = {"width": 1366, "height": 820}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def playwright_api() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed: pip install -e '.[dev]'")
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} not found: scripts/setup-host.sh installs Debian's chromium")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_api: Any) -> Iterator[Any]:
    """Launched with a fresh temporary profile; Playwright never downloads a browser here."""
    chromium = playwright_api.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield chromium
    chromium.close()


@dataclass
class Cluster:
    node: NodeProcess
    share: Path
    tokens: dict[str, str]
    contexts: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.node.url

    def page(self, browser: Any, who: str | None, viewport: dict[str, int] = LAPTOP) -> Any:
        """A new page in a new context (no cookies), signed in as `who` through the form."""
        context = browser.new_context(viewport=viewport, accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = track(context.new_page())
        page.goto(self.url + "/")
        if who is not None:
            sign_in(page, who, self.tokens[who])
        return page


def track(page: Any) -> Any:
    """Uncaught script errors of the page collect in `page.js_errors`; tests expect none."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    return page


def sign_in(page: Any, who: str, token: str) -> None:
    page.get_by_label("User name (optional)").fill(who)
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#who").filter(has_text=who).wait_for()


def shot(page: Any, name: str, full: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Cluster]:
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        missing(f"no Docker engine with {IMAGE}; run scripts/setup-host.sh")
    root = tmp_path_factory.mktemp("browser")
    share = root / "share"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WINSLOW_CONFIG", str(root / "winslow-config.yaml"))
        node = NodeProcess(share, "node-a", "--cpus", "4", "--memory", "8Gi").start()
        admin = yaml.safe_load((root / "winslow-config.yaml").read_text())["token"]
    tokens = {"admin": admin}
    for name in ("alice", "carol"):
        out = subprocess.run(
            [sys.executable, "-m", "winslow.api.node.cli", "user", "add", name, "--share", str(share)],
            capture_output=True,
            text=True,
            check=True,
        )
        tokens[name] = out.stdout.strip()
    found = Cluster(node, share, tokens)
    try:
        yield found
    finally:
        for context in found.contexts:
            context.close()
        node.stop()
        remove_containers(share)
        shutil.rmtree(root, ignore_errors=True)
