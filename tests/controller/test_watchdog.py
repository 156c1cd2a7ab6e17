"""The watchdog fences a node's containers without the node process (issue 18): what is due is a
pure function of the fence and the clock; the real process kills a real container whose lease
the node may no longer act on, keeps one whose lease lasts, and leaves when its node is gone."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness import IMAGE, missing, wait_for
from winslow.controller import watchdog
from winslow.controller.eventlog import EventLog
from winslow.controller.leases import Leases
from winslow.controller.watchdog import Fence, FenceState, overdue

pytestmark = pytest.mark.timeout(90)


def test_only_containers_whose_named_lease_ran_out_are_due() -> None:
    state = FenceState(1, {"stagerun/a": 10.0, "stagerun/b": 20.0})
    found = [("c-a", "stagerun/a"), ("c-b", "stagerun/b"), ("c-x", "stagerun/x"), ("c-old", None)]
    assert overdue(state, found, 5.0) == []
    assert overdue(state, found, 15.0) == ["c-a"]
    assert overdue(state, found, 25.0) == ["c-a", "c-b"], "a lease the fence does not name is the node's"


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"pid": "x", "deadlines": {}}', b"\xff" * 10])
def test_a_fence_that_cannot_be_read_fences_nothing(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "f").write_bytes(content)
    assert watchdog.read(tmp_path / "f") is None
    assert watchdog.read(tmp_path / "missing") is None


def test_the_fence_names_the_kept_leases_until_the_node_stops_acting_on_them(tmp_path: Path) -> None:
    mono = [100.0]
    leases = Leases(EventLog(tmp_path / "events", "n", time.time, monotonic=lambda: mono[0]), 6)
    assert leases.acquire("stagerun/p.1.a", 300) and leases.acquire("project/p")
    fence = Fence(tmp_path / "state" / "n.fence", leases, lambda s: s.startswith("stagerun/"), "uid")
    fence.refresh()
    state = watchdog.read(fence.path)
    assert state == FenceState(os.getpid(), {"stagerun/p.1.a": 100.0 + 300 - 30})
    mono[0] = 369.5
    assert leases.held("stagerun/p.1.a")
    mono[0] = 370.5
    assert not leases.held("stagerun/p.1.a"), "the node stops where the fence says"


def container(labels: dict[str, str]) -> str:
    name = f"winslow-test-watchdog-{secrets.token_hex(4)}"
    args = ["docker", "run", "-d", "--name", name, *(f"--label={k}={v}" for k, v in labels.items())]
    return subprocess.run(
        [*args, IMAGE, "sleep", "300"], capture_output=True, text=True, check=True
    ).stdout.strip()


def running(cid: str) -> bool:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Running}}", cid], capture_output=True, text=True
    )
    return out.stdout.strip() == "true"


@pytest.mark.docker
def test_the_watchdog_kills_a_container_past_its_fence_and_leaves_with_its_node(tmp_path: Path) -> None:
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        missing(f"no Docker engine with {IMAGE}; run scripts/setup-host.sh")
    share, node = secrets.token_hex(8), "wd-node"
    the_node = subprocess.Popen(["sleep", "300"])  # stands for the node process: alive, maybe frozen
    base = {"winslow.share": share, "winslow.node": node}
    due = container({**base, watchdog.LEASE_LABEL: "stagerun/p.1.due"})
    kept = container({**base, watchdog.LEASE_LABEL: "stagerun/p.2.kept"})
    other = container(
        {"winslow.share": share, "winslow.node": "other", watchdog.LEASE_LABEL: "stagerun/p.1.due"}
    )
    fence = tmp_path / "n.fence"
    now = time.monotonic()
    watchdog.write(
        fence, FenceState(the_node.pid, {"stagerun/p.1.due": now + 1, "stagerun/p.2.kept": now + 600})
    )
    try:
        watchdog.spawn(fence, share, node)
        wait_for(lambda: not running(due), 20, "the watchdog to kill the container past its fence")
        assert running(kept) and running(other), "a lease that lasts, and another node's container, stay"
        assert watchdog.watched(fence), "a restarted node finds it and starts no other"
        second = subprocess.run(
            [sys.executable, "-m", "winslow.controller.watchdog", str(fence), share, node], timeout=30
        )
        assert second.returncode == 0, "a second watchdog leaves at once: one per node"
        subprocess.run(["docker", "rm", "-f", kept], capture_output=True)
        the_node.kill()
        the_node.wait()
        log = fence.with_suffix(".log")
        wait_for(lambda: "leaving" in log.read_text(), 20, "the watchdog to leave with its node")
        assert "killing it" in log.read_text()
    finally:
        the_node.kill()
        subprocess.run(["docker", "rm", "-f", due, kept, other], capture_output=True)
