import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import IMAGE, NodeProcess, remove_containers


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Integration tests need a real engine; in CI its absence is a failure, not a skip."""
    ok = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0
    if not ok:
        message = f"no Docker engine with {IMAGE}; run scripts/setup-host.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh share; its first node writes the admin token to this test's own client config."""
    monkeypatch.setenv("WINSLOW_CONFIG", str(tmp_path / "winslow-config.yaml"))
    root = tmp_path / "share"
    yield root
    remove_containers(root)


@pytest.fixture
def nodes(share: Path) -> Iterator[list[NodeProcess]]:
    """Started nodes are stopped (or killed) at the end, whatever the test did to them."""
    started: list[NodeProcess] = []
    yield started
    for node in started:
        node.kill()


@pytest.fixture
def node(docker_engine: None, share: Path, nodes: list[NodeProcess]) -> NodeProcess:
    one = NodeProcess(share, "node-a").start()
    nodes.append(one)
    return one
