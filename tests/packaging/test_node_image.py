"""The node image (issue 12): built from the Dockerfile on a base made locally from Debian's
packages, run with the README's command (Docker socket and share mounted, the share at the same
path), it joins a node on the host on one share and runs a stage."""

from __future__ import annotations

import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.harness import (
    NodeProcess,
    free_port,
    get_json,
    pipeline,
    project,
    project_status,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)
from tests.packaging.conftest import DockerLeftovers, copy_checkout, readme_block, run

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _logs(container: str) -> str:
    found = subprocess.run(["docker", "logs", "--tail", "60", container], capture_output=True, text=True)
    return found.stdout + found.stderr


@pytest.mark.timeout(900)
def test_the_node_image_joins_a_host_node_and_runs_a_stage(
    debian_images: None,
    wheelhouse: Path,
    share: Path,
    nodes: list[NodeProcess],
    tmp_path: Path,
    leftovers: DockerLeftovers,
):
    suffix = uuid.uuid4().hex[:8]
    image, container = f"winslow/node:test-{suffix}", f"winslow-node-{suffix}"
    leftovers.containers.append(container)
    leftovers.images.append(image)
    context = copy_checkout(tmp_path / "context")
    shutil.copytree(wheelhouse, context / ".wheels")
    base = "BASE=winslow/debian-python:12"
    run("docker", "build", "-q", "--build-arg", base, "-t", image, context, timeout=600)

    host = NodeProcess(share, "host-node", "--no-execute").start()
    nodes.append(host)
    block = readme_block("### The node image")
    build, _, command = block.partition("\n")
    assert build == "docker build -t winslow/node ."
    port = free_port()
    command = (
        command.replace("/srv/winslow", str(share))
        .replace("--name winslow-node", f"--name {container}")
        .replace("-p 8080:8080", f"-p 127.0.0.1:{port}:8080")
        .replace(" winslow/node node ", f" {image} node ")
    )
    run("bash", "-euc", command, timeout=120)

    name = socket.gethostname().split(".")[0].lower()
    wait_for(
        lambda: name in {n["metadata"]["name"] for n in get_json(host.url, "nodes")["items"]},
        60,
        f"the containerised node {name} to join ({_logs(container)})",
    )
    hello = pipeline("image", stage("greet", "echo from the image > /output/greeting.txt"))
    winsctl(host.url, "apply", "-f", str(write_yaml(tmp_path / "p.yaml", hello, project("image-1", "image"))))
    wait_for(
        lambda: project_status(share, "image-1").get("phase") == "Succeeded",
        120,
        f"the stage to run on the containerised node ({_logs(container)})",
    )
    assert [r["status"]["node"] for r in stageruns(share, "image-1")] == [name]
    assert (share / "workspaces/image-1/output/greeting.txt").read_text() == "from the image\n"
    assert winsctl(f"http://127.0.0.1:{port}", "get", "projects", "image-1").returncode == 0, (
        "its API answers on the published port"
    )
