"""The wheel installs under `winslow` only: beside it, another project's `api` and `resources`
packages keep working, and so do Winslow's commands (issue 12)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.harness import free_port, wait_for
from tests.packaging.conftest import ROOT, run

LAYERS = ("api", "controller", "reconcilers", "resources")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", folder, ROOT, timeout=300)
    [built] = folder.glob("winslow-*.whl")
    return built


def test_the_wheel_holds_the_layers_under_winslow_only(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"winslow", next(t for t in tops if t.endswith(".dist-info"))}
    assert not tops & set(LAYERS)
    for layer in LAYERS:
        assert f"winslow/{layer}/__init__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "winslow = winslow.api.node.cli:main" in text and "winsctl = winslow.api.winsctl:main" in text


def test_the_wheel_ships_every_file_of_the_ui(wheel):
    """The UI's modules live in folders under static/js/ (js/project/ for one project's tabs):
    package data must take every file at every depth, or an installed node serves a broken page."""
    names = set(zipfile.ZipFile(wheel).namelist())
    static = ROOT / "api" / "ui" / "static"
    files = [path.relative_to(static).as_posix() for path in static.rglob("*") if path.is_file()]
    assert "js/project/overview.js" in files and "js/router.js" in files
    assert [f for f in files if f"winslow/api/ui/static/{f}" not in names] == []


def _other_project(folder: Path) -> Path:
    """A project of someone else's with top-level packages that Winslow's layers are named like."""
    folder.mkdir()
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "someone-elses"
            version = "1.0"

            [tool.setuptools]
            packages = ["api", "resources"]
            """
        )
    )
    for package in ("api", "resources"):
        (folder / package).mkdir()
        (folder / package / "__init__.py").write_text(f"OWNER = 'someone else: {package}'\n")
    return folder


@pytest.mark.timeout(600)
def test_winslow_installs_beside_packages_named_api_and_resources(wheel, wheelhouse, tmp_path):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, timeout=120)
    python, offline = venv / "bin" / "python", ["--no-index", "--find-links", str(wheelhouse)]
    other = _other_project(tmp_path / "other")
    run(python, "-m", "pip", "install", "-q", *offline, wheel, other, timeout=300)

    elsewhere = tmp_path / "elsewhere"  # not the checkout, whose winslow/ would be found first
    elsewhere.mkdir()
    imports = run(
        python,
        "-c",
        "import api, resources, winslow.api.node.cli, winslow.resources.manifest, winslow; "
        "print(api.OWNER); print(resources.OWNER); print(winslow.__file__)",
        cwd=elsewhere,
        timeout=60,
    ).stdout.splitlines()
    assert imports[:2] == ["someone else: api", "someone else: resources"]
    assert imports[2].startswith(str(venv)), "Winslow came from the installed wheel"

    for tool in ("winslow", "winsctl"):
        assert "usage:" in run(venv / "bin" / tool, "--help", cwd=elsewhere, timeout=60).stdout

    port = free_port()
    env = {"WINSLOW_CONFIG": str(tmp_path / "config.yaml"), "PATH": "/usr/bin:/bin"}
    share = tmp_path / "share"
    node = subprocess.Popen(
        [venv / "bin" / "winslow", "node", "--share", share, "--port", str(port), "--no-execute"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200, 30, "the node")
        server = f"http://127.0.0.1:{port}"
        winsctl = venv / "bin" / "winsctl"
        listed = run(winsctl, "--server", server, "get", "nodes", cwd=elsewhere, env=env, timeout=60)
        assert "NAME" in listed.stdout
    finally:
        node.terminate()
        node.wait(20)
