"""Old containers of finished StageRuns are removed; the StageRun and its log stay."""

import pytest

from tests.harness import (
    NodeProcess,
    containers,
    pipeline,
    project,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


def test_finished_containers_are_removed_after_the_retention(docker_engine, share, nodes, tmp_path):
    node = NodeProcess(share, "tidy", "--keep-containers", "0.0005").start()  # about 2 s
    nodes.append(node)
    manifest = write_yaml(tmp_path / "t.yaml", pipeline("t", stage("one", "echo done")), project("t-1", "t"))
    winsctl(node.url, "apply", "-f", str(manifest))
    wait_for(
        lambda: stageruns(share, "t-1") and stageruns(share, "t-1")[0]["status"]["phase"] == "Succeeded",
        60,
        "the run",
    )
    wait_for(lambda: containers(share, project="t-1") == [], 30, "the container to be removed")
    assert "done" in winsctl(node.url, "logs", "t-1.1.one").stdout
