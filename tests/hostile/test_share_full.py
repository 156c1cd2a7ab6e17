"""Case 8 of issue 14: a full or read-only share gives correct phases and log lines, and the node
recovers by itself once the share takes writes again. The share is a small tmpfs."""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import (
    NodeProcess,
    containers,
    get_json,
    missing,
    pipeline,
    project,
    project_status,
    remove_containers,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)
from tests.hostile.conftest import node_log

pytestmark = [pytest.mark.docker, pytest.mark.timeout(150)]


@pytest.fixture
def share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The `share` of tests/conftest.py, on a tmpfs of 64 MiB that a test can fill or make read-only."""
    monkeypatch.setenv("WINSLOW_CONFIG", str(tmp_path / "winslow-config.yaml"))
    root = tmp_path / "share"  # the mount point itself: the node's own log is beside it, not on it
    root.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(root)]).returncode:
        missing("needs to mount a tmpfs (root, CAP_SYS_ADMIN)")
    yield root
    remove_containers(root)
    subprocess.run(["umount", "-l", str(root)], check=False)


def fill(share: Path, leave: int = 0) -> Path:
    """Fills the share up to about `leave` bytes of free space; deleting the file frees it again."""
    filler = share / "filler"
    st = os.statvfs(share)
    size = max(0, st.f_bavail * st.f_frsize - leave)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    block = b"\0" * (1 << 20 if leave else 4096)
    try:
        written = 0
        while not leave or written + len(block) <= size:
            written += os.write(fd, block)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def remount(share: Path, mode: str) -> None:
    mount = share
    deadline = time.monotonic() + 10
    while (
        done := subprocess.run(["mount", "-o", f"remount,{mode}", str(mount)], capture_output=True)
    ).returncode:
        assert time.monotonic() < deadline, f"could not remount {mount} {mode}: {done.stderr!r}"
        time.sleep(0.01)


def started_line(share: Path, project_name: str, run: str) -> bool:
    log = share / "logs" / project_name / f"{run}.log"
    return log.exists() and b"starting winslow/busybox" in log.read_bytes()


@pytest.mark.parametrize("trouble", ["full", "read-only"])
def test_case_8_a_container_that_started_is_recorded_once_the_share_takes_writes_again(
    node: NodeProcess, share: Path, tmp_path: Path, trouble: str
) -> None:
    """Before: the status write failed, the log said "could not start: No space left on device"
    while the container ran, and the StageRun stayed Pending (or was failed) for good."""
    winsctl(
        node.url,
        "apply",
        "-f",
        str(
            write_yaml(
                tmp_path / "p.yaml", pipeline("disk", stage("a", "sleep 3; echo ran")), project("p", "disk")
            )
        ),
    )
    run = "p.1.a"
    deadline = time.monotonic() + 60
    while not started_line(share, "p", run):  # then `docker run` takes far longer than what follows
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.002)
    filler = fill(share) if trouble == "full" else None
    if filler is None:
        remount(share, "ro")
    try:
        wait_for(
            lambda: (
                f"{run} started in container" in node_log(node) and "could not be recorded" in node_log(node)
            ),
            20,
            "the node to say it could not record the start",
        )
        assert containers(share, stagerun=run), "the container runs"
        assert stageruns(share, "p")[0]["status"]["phase"] == "Pending"
    finally:
        if filler is not None:
            filler.unlink()
        else:
            remount(share, "rw")
    wait_for(lambda: stageruns(share, "p")[0]["status"]["phase"] == "Succeeded", 60, "the run to be recorded")
    wait_for(lambda: project_status(share, "p").get("phase") == "Succeeded", 30, "the project to succeed")
    assert "could not start" not in node_log(node)
    assert len(containers(share, stagerun=run)) == 1
    assert "ran" in (share / "logs" / "p" / f"{run}.log").read_text()


def test_case_8_a_full_share_before_the_container_starts_leaves_the_run_pending_until_it_has_room(
    node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    """Before: a workspace copy that ran out of space failed the run ("could not start"), or,
    when even that could not be written, left it Pending without its lease for good."""
    winsctl(
        node.url,
        "apply",
        "-f",
        str(
            write_yaml(
                tmp_path / "p.yaml",
                pipeline(
                    "copy",
                    stage("a", "dd if=/dev/zero of=/workspace/big bs=1M count=8 2>/dev/null"),
                    stage("b", "ls -l /workspace/big", confirm=True),
                ),
                project("q", "copy"),
            )
        ),
    )
    wait_for(lambda: "confirmation" in project_status(share, "q").get("reason", ""), 60, "stage b to wait")
    filler = fill(share, leave=2 << 20)
    try:
        winsctl(node.url, "confirm", "q")
        wait_for(
            lambda: "not starting q.2.b yet: No space left on device" in node_log(node), 30, "a clear line"
        )
        assert [r["status"]["phase"] for r in stageruns(share, "q")] == ["Succeeded", "Pending"]
    finally:
        filler.unlink()
    wait_for(
        lambda: project_status(share, "q").get("phase") == "Succeeded", 60, "b to start once there is room"
    )
    assert "could not start" not in node_log(node)
    assert [r["status"]["phase"] for r in stageruns(share, "q")] == ["Succeeded", "Succeeded"]


@pytest.mark.timeout(240)
@pytest.mark.waiting
def test_a_share_full_for_a_minute_stops_no_stage(
    docker_engine: None, share: Path, tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    """Issue 18: before, the node could not renew the run's lease on a full share, stopped its
    own healthy container after 15 s ("lost the StageRun's lease (fencing)") and the project
    Failed. A run's lease lasts the stage tolerance and is renewed often, so a minute is nothing."""
    node = NodeProcess(share, "node-a", "--stage-tolerance", "120").start()
    nodes.append(node)
    script = "for i in $(seq 1 80); do echo tick $i; sleep 1; done; echo done"
    manifest = write_yaml(tmp_path / "p.yaml", pipeline("long", stage("a", script)), project("p", "long"))
    winsctl(node.url, "apply", "-f", str(manifest))
    wait_for(lambda: started_line(share, "p", "p.1.a"), 60, "the stage to start")
    wait_for(lambda: stageruns(share, "p")[0]["status"]["phase"] == "Running", 30, "the run to be Running")
    filler = fill(share)
    try:
        time.sleep(30)
        [listed] = get_json(node.url, "nodes")["items"]
        assert listed["status"]["ready"], "a full share makes no node look silent"
        time.sleep(30)
        assert [c["State"] for c in containers(share, stagerun="p.1.a")] == ["running"], "still running"
    finally:
        filler.unlink()
    wait_for(lambda: project_status(share, "p").get("phase") == "Succeeded", 90, "the project to succeed")
    assert [r["status"]["phase"] for r in stageruns(share, "p")] == ["Succeeded"]
    assert "fencing" not in node_log(node)
    assert "done" in (share / "logs" / "p" / "p.1.a.log").read_text()
