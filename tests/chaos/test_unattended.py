"""Issue 18: a run left alone for days survives a node's restart, never runs twice after a node
froze or was killed, and a node that is down stays listed as NotReady.

Every case failed before: a restart longer than the lease made the run Lost (and the project
Failed) although its container went on and exited 0; after SIGSTOP or SIGKILL of the node
process, its container ran on while a user's resume started a second one elsewhere; a stopped
node vanished from `winsctl get nodes`."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness import (
    NodeProcess,
    get_json,
    pipeline,
    project,
    project_status,
    share_uid,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)

pytestmark = [pytest.mark.docker]
TICKS = 'while true; do echo "$HOSTNAME $(date +%s.%N)" >> /output/ticks; sleep 0.5; done'
PINNED = {"cpu": 0.8, "memory": "32Mi"}  # one such stage fills a node of --cpus 1


class Sampler:
    """How many containers of a project run at once, looked at every 0.5 s by the engine itself."""

    def __init__(self, share: Path, project_name: str) -> None:
        self.labels = [f"label=winslow.share={share_uid(share)}", f"label=winslow.project={project_name}"]
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def running(self) -> list[str]:
        args = ["docker", "ps", "-q", "--no-trunc", "--filter", "status=running"]
        for label in self.labels:
            args += ["--filter", label]
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.most = max(self.most, len(self.running()))
            self.samples += 1

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


def runs(server: str, name: str) -> list[dict]:
    items = get_json(server, "stageruns")["items"]
    return sorted(
        (r for r in items if r["spec"]["project"] == name),
        key=lambda r: int(r["metadata"]["name"].split(".")[1]),
    )


def phases(server: str, name: str) -> list[str]:
    return [r["status"]["phase"] for r in runs(server, name)]


def ticks_in_order(share: Path, name: str) -> list[str]:
    """The containers that wrote the project's ticks, in the order they first did; each one's
    ticks must all come before the next one's first."""
    lines = (share / "workspaces" / name / "output" / "ticks").read_text().split("\n")
    writers = [line.split()[0] for line in lines if line.strip()]
    order = list(dict.fromkeys(writers))
    for earlier, later in itertools.pairwise(order):
        last_of_earlier = max(i for i, w in enumerate(writers) if w == earlier)
        first_of_later = writers.index(later)
        assert last_of_earlier < first_of_later, f"{earlier} and {later} wrote at the same time"
    return order


@pytest.fixture
def start_ticking(tmp_path: Path, share: Path) -> Callable[[NodeProcess, str], None]:
    def start(node: NodeProcess, name: str) -> None:
        manifest = write_yaml(
            tmp_path / f"{name}.yaml",
            pipeline("ticks", stage("tick", TICKS, resources=PINNED)),
            project(name, "ticks"),
        )
        winsctl(node.url, "apply", "-f", str(manifest))
        wait_for(lambda: phases(node.url, name) == ["Running"], 60, f"{name} to run on {node.name}")

    return start


def _freeze_or_kill(
    how: str,
    share: Path,
    first: NodeProcess,
    second: NodeProcess,
    start_ticking: Callable[[NodeProcess, str], None],
    tolerance: float,
) -> None:
    """`first` runs the stage; then it is frozen or killed, the run becomes Lost, a user resumes
    it through `second`, and `first` wakes up (or restarts): one container at a time throughout."""
    start_ticking(first, "p")
    with Sampler(share, "p") as sampler:
        [old] = sampler.running()
        if how == "stop":
            os.kill(first.proc.pid, signal.SIGSTOP)  # type: ignore[union-attr]
        else:
            first.kill()
        frozen = time.monotonic()
        wait_for(lambda: phases(second.url, "p") == ["Lost"], tolerance + 60, "the run to be Lost")
        lost_after = time.monotonic() - frozen
        assert old not in sampler.running(), "the watchdog stopped the container before the run was Lost"
        assert lost_after >= tolerance * 0.5, f"Lost after {lost_after:.0f}s, within the tolerance"
        winsctl(second.url, "resume", "p")
        wait_for(lambda: phases(second.url, "p") == ["Lost", "Running"], 60, "the resumed run to start")
        assert runs(second.url, "p")[-1]["status"]["node"] == second.name
        time.sleep(3)
        if how == "stop":
            os.kill(first.proc.pid, signal.SIGCONT)  # type: ignore[union-attr]
        else:
            first.start()
        time.sleep(8)  # the woken node sees it lost the lease; it must start nothing
        assert phases(second.url, "p") == ["Lost", "Running"]
        winsctl(second.url, "kill", "p")
    assert sampler.samples > 20 and sampler.most == 1, f"{sampler.most} containers of the stage ran at once"
    assert len(ticks_in_order(share, "p")) == 2


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_frozen_or_killed_node_never_leaves_two_containers_of_a_stage_running(
    docker_engine: None,
    share: Path,
    nodes: list[NodeProcess],
    rig: object,
    cluster_node: Callable[..., NodeProcess],
    start_ticking: Callable[[NodeProcess, str], None],
    how: str,
) -> None:
    """SIGSTOP or SIGKILL of the node process for longer than the stage tolerance, then a
    user's resume: nobody watched a killed node's containers before the watchdog."""
    timing = ["--cpus", "1", "--stage-tolerance", "12"]
    if getattr(rig, "kind", "local") != "local":
        timing += ["--lease-seconds", "12", "--grace-seconds", "3"]
    first = cluster_node("node-a", *timing).start()
    nodes.append(first)
    second = cluster_node("node-b", *timing).start()
    nodes.append(second)
    try:
        _freeze_or_kill(how, share, first, second, start_ticking, 12)
    finally:
        if first.proc is not None and first.proc.poll() is None:
            os.kill(first.proc.pid, signal.SIGCONT)


@pytest.fixture
def three(share: Path, nodes: list[NodeProcess]) -> Iterator[tuple[NodeProcess, NodeProcess, NodeProcess]]:
    timing = ("--cpus", "1", "--stage-tolerance", "180")
    a, b = NodeProcess(share, "node-a", *timing), NodeProcess(share, "node-b", *timing)
    c = NodeProcess(share, "node-c", "--no-execute", *timing)  # watches, and would mark runs Lost
    nodes.extend((a, b, c))
    yield a, b, c


@pytest.mark.waiting
@pytest.mark.timeout(400)
def test_restarts_after_17_s_and_after_2_minutes_adopt_their_stages(
    docker_engine: None, share: Path, tmp_path: Path, three: tuple[NodeProcess, NodeProcess, NodeProcess]
) -> None:
    """Both restarts last longer than the lease (6 s + 2 s grace): the first finds its container
    still running, the second finds it exited (0) and records it with its whole log."""
    a, b, c = three
    c.start()
    a.start()
    work = stage("work", "echo begun; sleep 40; echo finished", resources=PINNED)
    manifest = write_yaml(tmp_path / "p.yaml", pipeline("long", work), project("p1", "long"))
    winsctl(c.url, "apply", "-f", str(manifest))
    wait_for(lambda: phases(c.url, "p1") == ["Running"], 60, "p1 to run on node-a")
    b.start()
    winsctl(c.url, "apply", "-f", str(write_yaml(tmp_path / "q.yaml", project("p2", "long"))))
    wait_for(lambda: phases(c.url, "p2") == ["Running"], 60, "p2 to run on node-b")
    assert [runs(c.url, p)[0]["status"]["node"] for p in ("p1", "p2")] == ["node-a", "node-b"]

    a.stop()  # SIGTERM, as `systemctl restart` sends
    b.stop()
    stopped = time.monotonic()
    listed = {n["metadata"]["name"]: n["status"] for n in get_json(c.url, "nodes")["items"]}
    assert listed["node-a"]["ready"] is False and listed["node-b"]["ready"] is False, "listed, NotReady"
    assert "stopped" in listed["node-a"]["condition"] and listed["node-a"]["notReadySince"]
    shown = winsctl(c.url, "get", "nodes").stdout
    assert "node-a" in shown and "NotReady" in shown

    time.sleep(max(0.0, stopped + 17 - time.monotonic()))
    a.start()
    wait_for(lambda: phases(c.url, "p1") == ["Succeeded"], 90, "p1 to succeed on its restarted node")
    time.sleep(max(0.0, stopped + 120 - time.monotonic()))
    assert phases(c.url, "p2") == ["Running"], "not Lost while its node is away for 2 minutes"
    b.start()
    wait_for(lambda: phases(c.url, "p2") == ["Succeeded"], 60, "p2, exited meanwhile, to be recorded")
    for name in ("p1", "p2"):
        assert project_status(share, name)["phase"] == "Succeeded"
        [run] = stageruns(share, name)
        log = (share / "logs" / name / f"{run['metadata']['name']}.log").read_text()
        assert "begun" in log and "finished" in log
    assert {n["metadata"]["name"]: n["status"]["ready"] for n in get_json(c.url, "nodes")["items"]} == {
        "node-a": True,
        "node-b": True,
        "node-c": True,
    }
