"""Issue 9: the scenarios that broke on a caching network share, with each node on its own mount
(tests/rig.py), and again on one local folder."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter

import httpx
import pytest

from tests.harness import (
    containers,
    pipeline,
    project,
    project_status,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)
from winslow.api.winsctl.clientconfig import config_file, load

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


def token() -> str:
    return str(load(config_file())["token"])


class ApiWatch:
    """Asks every node for the project list over and over; any 5xx is kept."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.errors: list[str] = []
        self.asked = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {token()}"}
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                for url in self.urls:
                    for path in ("/api/v1/projects", "/api/v1/stageruns"):
                        reply = client.get(url + path, headers=headers)
                        self.asked += 1
                        if reply.status_code >= 500:
                            self.errors.append(f"{url}{path}: {reply.status_code} {reply.text[:300]}")
                self.stop.wait(0.2)


def test_every_stage_runs_once_and_the_api_always_answers(
    docker_engine, share, nodes, tmp_path, rig, cluster_node
):
    """The reported rig: two nodes on their own caching mounts, 8 projects of 3 stages."""
    cluster = [cluster_node(n).start() for n in ("node-a", "node-b")]
    nodes += cluster
    stages = [stage(s, f"echo {s} $WINSLOW_PROJECT; sleep 0.$((RANDOM % 5))") for s in ("a", "b", "c")]
    names = [f"p{i}" for i in range(8)]
    winsctl(cluster[0].url, "apply", "-f", str(write_yaml(tmp_path / "p.yaml", pipeline("three", *stages))))
    watch = ApiWatch([n.url for n in cluster])
    watch.thread.start()
    try:
        manifest = write_yaml(tmp_path / "projects.yaml", *(project(n, "three") for n in names))
        winsctl(cluster[1].url, "apply", "-f", str(manifest))  # the pipeline came through the other node
        wait_for(
            lambda: all(project_status(share, n).get("phase") == "Succeeded" for n in names),
            180,
            "every project to succeed",
            interval=0.5,
        )
    finally:
        watch.stop.set()
        watch.thread.join(15)
    for name in names:
        runs = stageruns(share, name)
        assert [(r["spec"]["stage"], r["status"]["phase"]) for r in runs] == [
            (s, "Succeeded") for s in ("a", "b", "c")
        ], f"{name}: {[(r['metadata']['name'], r['status']['phase']) for r in runs]}"
    per_stage = Counter(c["Labels"].split("winslow.stagerun=")[1].split(",")[0] for c in containers(share))
    assert len(per_stage) == 24 and set(per_stage.values()) == {1}, "one container per stage"
    assert watch.asked > 10 and watch.errors == [], watch.errors[:3]
    for node in cluster:
        assert "winsctl get" not in winsctl(node.url, "get", "projects").stderr


def test_a_pipeline_applied_through_one_node_is_known_at_once_to_another(
    docker_engine, nodes, tmp_path, rig, cluster_node
):
    a, b = cluster_node("node-a").start(), cluster_node("node-b").start()
    nodes += [a, b]
    b_sees = winsctl(b.url, "get", "pipelines").stdout  # b looks before the pipeline exists
    assert "fresh" not in b_sees
    winsctl(a.url, "apply", "-f", str(write_yaml(tmp_path / "p.yaml", pipeline("fresh", stage("x", "true")))))
    reply = winsctl(
        b.url, "apply", "-f", str(write_yaml(tmp_path / "q.yaml", project("uses-fresh", "fresh")))
    )
    assert "created" in reply.stdout


def test_a_new_user_is_accepted_by_every_node_at_once(
    docker_engine, share, nodes, tmp_path, rig, cluster_node
):
    a, b = cluster_node("node-a").start(), cluster_node("node-b").start()
    nodes += [a, b]
    for node in (a, b):  # both have read the users file once
        assert winsctl(node.url, "get", "projects").returncode == 0
    added = subprocess.run(
        [
            sys.executable,
            "-m",
            "winslow.api.node.cli",
            "user",
            "add",
            "dora",
            "--share",
            str(rig.share_for("admin")),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    new = added.stdout.strip()
    for node in (a, b):
        reply = httpx.get(f"{node.url}/api/v1/whoami", headers={"Authorization": f"Bearer {new}"}, timeout=10)
        assert reply.status_code == 200 and reply.json()["name"] == "dora", reply.text


def test_resume_from_a_stage_through_another_node(docker_engine, share, nodes, tmp_path, rig, cluster_node):
    worker = cluster_node("worker").start()
    observer = cluster_node("observer", "--no-execute").start()
    nodes += [worker, observer]
    stages = [stage("a", "echo a > /workspace/a"), stage("b", "cat /workspace/a; echo b-$TAG")]
    manifest = write_yaml(tmp_path / "m.yaml", pipeline("redo", *stages), project("redo-1", "redo"))
    winsctl(observer.url, "apply", "-f", str(manifest))
    wait_for(lambda: project_status(share, "redo-1").get("phase") == "Succeeded", 60, "the first pass")
    winsctl(observer.url, "set", "env", "redo-1", "TAG=2")
    winsctl(observer.url, "resume", "redo-1", "--from", "b")
    wait_for(lambda: len(stageruns(share, "redo-1")) == 3, 30, "the rerun of b")
    wait_for(lambda: project_status(share, "redo-1").get("phase") == "Succeeded", 60, "the second pass")
    runs = stageruns(share, "redo-1")
    assert [r["spec"]["stage"] for r in runs] == ["a", "b", "b"]
    assert runs[2]["spec"]["workspace"]["copyOf"] == runs[0]["metadata"]["name"]
    assert runs[2]["status"]["trigger"] == "user"
    assert "b-2" in winsctl(observer.url, "logs", runs[2]["metadata"]["name"]).stdout
