"""The README's quick start on a fresh Debian 12 with only the system Python (issue 12): its
install command, a node and the hello example to Succeeded, then its test command.

The container is made by debootstrap from Debian's packages (no registry) and has the host's
Docker socket, with the share at the same path inside and outside, as a node's stages need. It
reaches Debian's mirror but not PyPI here, so Python packages come from a wheelhouse built on
the host (`WINSLOW_WHEELS`, the README's route for machines without PyPI). Its host name has
capitals and dots, as `$(hostname)` often does.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.harness import project_status, stageruns, wait_for
from tests.packaging.conftest import DockerLeftovers, copy_checkout, readme_block, run

pytestmark = [pytest.mark.docker, pytest.mark.slow]
HOSTNAME = "Build.Example.ORG"


def in_container(name: str, script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", "-w", "/src", name, "bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.timeout(1500)
def test_readme_install_runs_the_example_then_the_tests_on_a_fresh_debian(
    debian_images: None, wheelhouse: Path, share: Path, tmp_path: Path, leftovers: DockerLeftovers
):
    checkout = copy_checkout(tmp_path / "checkout")
    quick_start = readme_block("## Quick start (one machine)")
    assert quick_start.startswith("scripts/install.sh\n"), "the README's first command installs"
    (checkout / "quick-start.sh").write_text(quick_start.replace("/srv/winslow", str(share)))
    share.mkdir(parents=True)
    name = f"winslow-install-{uuid.uuid4().hex[:8]}"
    leftovers.containers.append(name)
    run(
        "docker", "run", "-d", "--name", name, "--hostname", HOSTNAME,
        "-e", "WINSLOW_WHEELS=/wheels",
        "-v", "/var/run/docker.sock:/var/run/docker.sock",
        "-v", f"{wheelhouse}:/wheels:ro",
        "-v", f"{checkout}:/src",
        "-v", f"{share}:{share}",
        "winslow/debian:12", "sleep", "infinity",
        timeout=120,
    )  # fmt: skip

    fresh = in_container(name, "command -v python3 pip3 winslow winsctl docker dockerd", 60)
    assert fresh.returncode != 0 and fresh.stdout == "", "nothing but Debian's minimal base system"

    started = in_container(name, "timeout 900 bash -ex quick-start.sh >/tmp/quick-start.log 2>&1", 960)
    log = in_container(name, "cat /tmp/quick-start.log", 60).stdout
    assert started.returncode == 0, f"the quick start failed:\n{log[-6000:]}"
    wait_for(
        lambda: project_status(share, "hello-world").get("phase") == "Succeeded",
        120,
        "hello-world to succeed",
    )
    assert (share / "workspaces/hello-world/output/result.txt").read_text() == "hi, world\n"
    assert {run_["status"]["node"] for run_ in stageruns(share, "hello-world")} == {"build"}
    assert "hello-world" in log and "Traceback" not in log

    placed = in_container(name, "readlink -f /usr/local/bin/winslow /usr/local/bin/winsctl", 60).stdout
    assert placed.split() == ["/opt/winslow/venv/bin/winslow", "/opt/winslow/venv/bin/winsctl"]
    refused = in_container(name, "python3 -m pip install --dry-run tenacity", 60)
    assert "externally-managed-environment" in refused.stderr, "the system Python is left alone"

    assert readme_block("## Quick start (one machine)", 1) == "scripts/test.sh\n"
    tests = in_container(name, "timeout 900 scripts/test.sh tests/resources 2>&1", 960)
    assert tests.returncode == 0, f"scripts/test.sh failed:\n{tests.stdout[-6000:]}"
    assert " passed" in tests.stdout.splitlines()[-1]
