"""Issue 22: quotas and priorities on real nodes in real Docker, with simulated GPUs: a user's
quota holds her second GPU project while another user's runs, two nodes starting her stages at
the same instant never pass it, a higher priority starts first when a GPU frees, and
`winsctl get queue` lists who waits in which order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    NodeProcess,
    pipeline,
    project,
    project_status,
    stage,
    stageruns,
    wait_for,
    winsctl,
    write_yaml,
)
from tests.integration.test_graphs import most_at_once

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]

GPU_NODE = ("--cpus", "4", "--memory", "8Gi", "--simulate-gpus")


def gpu_stage(name: str, script: str) -> dict[str, Any]:
    return stage(name, script, resources={"cpu": 0.1, "memory": "32Mi", "gpu": 1})


def quota(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "winslow/v1", "kind": "Quota", "metadata": {"name": name}, "spec": spec}


def phase(share: Path, name: str) -> str | None:
    return project_status(share, name).get("phase")


def queue(node: NodeProcess) -> list[dict[str, Any]]:
    return json.loads(winsctl(node.url, "get", "queue", "-o", "json").stdout)["items"]


def test_a_quota_holds_her_second_gpu_project_while_another_users_runs_then_starts_it(
    docker_engine: None, share: Path, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    node = NodeProcess(share, "gpu-box", *GPU_NODE, "--gpus", "2").start()
    nodes.append(node)
    manifest = write_yaml(
        tmp_path / "quota.yaml",
        quota("gpu-alice", user="alice", hard={"gpu": 1}),
        pipeline("train", gpu_stage("work", "sleep 6")),
        project("alice-1", "train", owner="alice"),
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    wait_for(lambda: phase(share, "alice-1") == "Running", 60, "alice's first project to run")
    more = write_yaml(
        tmp_path / "more.yaml",
        project("alice-2", "train", owner="alice"),
        project("bob-1", "train", owner="bob"),
    )
    winsctl(node.url, "apply", "-f", str(more))
    wait_for(lambda: phase(share, "bob-1") == "Running", 60, "bob's project to run beside hers")
    waiting = wait_for(
        lambda: (
            (s := project_status(share, "alice-2")).get("phase") == "Waiting" and "quota" in s["reason"] and s
        ),
        30,
        "her second project to wait for her quota",
    )
    assert "quota gpu-alice: gpu 1 of 1 in use by alice-1.1.work" in waiting["reason"], waiting["reason"]
    listed = queue(node)
    assert [(q["project"], q["why"]) for q in listed] == [("alice-2", "quota")], listed
    wait_for(lambda: phase(share, "alice-2") == "Succeeded", 90, "her second project, once the first ended")
    (first,), (second,) = stageruns(share, "alice-1"), stageruns(share, "alice-2")
    assert most_at_once([first, second]) == 1, "never both at once"
    quotas = winsctl(node.url, "get", "quotas").stdout
    assert "gpu-alice" in quotas and "user alice" in quotas and "gpu=1" in quotas, quotas


def test_two_nodes_starting_her_stages_at_the_same_instant_never_pass_her_quota(
    docker_engine: None, share: Path, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    # Each node has room, and half her projects may run only on each (a selector): when her
    # running stage ends, a stage on each node sees room in her quota at the same instant.
    cluster = [
        NodeProcess(share, f"box-{box}", *GPU_NODE, "--gpus", "2", "--label", f"box={box}").start()
        for box in "ab"
    ]
    nodes += cluster
    tries = 20
    on = {box: {**gpu_stage("work", "sleep 0.5"), "nodeSelector": {"box": box}} for box in "ab"}
    manifest = write_yaml(
        tmp_path / "race.yaml",
        quota("gpu-alice", user="alice", hard={"gpu": 1}),
        pipeline("quick-a", on["a"]),
        pipeline("quick-b", on["b"]),
        *(project(f"race-{i:02d}", f"quick-{'ab'[i % 2]}", owner="alice") for i in range(tries)),
    )
    winsctl(cluster[0].url, "apply", "-f", str(manifest))
    wait_for(
        lambda: all(phase(share, f"race-{i:02d}") == "Succeeded" for i in range(tries)),
        240,
        "all of her projects to run, one at a time",
        interval=0.5,
    )
    runs = [run for i in range(tries) for run in stageruns(share, f"race-{i:02d}")]
    assert len(runs) == tries
    assert most_at_once(runs) == 1, "her quota of one GPU held across both nodes"
    assert {r["status"]["node"] for r in runs} == {"box-a", "box-b"}, "both nodes started some"


def test_a_higher_priority_starts_first_when_a_gpu_frees_and_the_queue_says_so(
    docker_engine: None, share: Path, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    node = NodeProcess(share, "one-gpu", *GPU_NODE, "--gpus", "1").start()
    nodes.append(node)
    hog = write_yaml(
        tmp_path / "hog.yaml",
        pipeline("gpu", gpu_stage("work", "sleep 8")),
        project("hog", "gpu", owner="carol"),
    )
    winsctl(node.url, "apply", "-f", str(hog))
    wait_for(lambda: phase(share, "hog") == "Running", 60, "the first project to hold the GPU")
    low = write_yaml(tmp_path / "low.yaml", project("low", "gpu", owner="dave"))
    winsctl(node.url, "apply", "-f", str(low))
    wait_for(lambda: phase(share, "low") == "Waiting", 30, "the low-priority project to wait")
    high = write_yaml(tmp_path / "high.yaml", project("high", "gpu", owner="erin", priority=10))
    winsctl(node.url, "apply", "-f", str(high))
    wait_for(
        lambda: [q["project"] for q in queue(node)] == ["high", "low"], 30, "the queue: high first, then low"
    )
    listed = winsctl(node.url, "get", "queue").stdout
    assert listed.index("high") < listed.index("low"), listed
    wait_for(lambda: phase(share, "low") == "Succeeded", 120, "both to run in turn")
    (h,), (lo,) = stageruns(share, "high"), stageruns(share, "low")
    assert h["status"]["startTime"] < lo["status"]["startTime"], "the higher priority started first"


def test_a_user_may_not_raise_priority_or_write_quotas(
    docker_engine: None, share: Path, node: NodeProcess, tmp_path: Path
) -> None:
    import subprocess
    import sys

    token = subprocess.run(
        [sys.executable, "-m", "winslow.api.node.cli", "user", "add", "frank", "--share", str(share)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pushy = write_yaml(
        tmp_path / "pushy.yaml", pipeline("p", stage("a", "true")), project("pushy", "p", priority=5)
    )
    result = winsctl(node.url, "--token", token, "apply", "-f", str(pushy), check=False)
    assert (
        result.returncode != 0 and "spec.priority" in result.stderr and "userPriorityLimit" in result.stderr
    )
    rule = write_yaml(tmp_path / "rule.yaml", quota("mine", user="frank", hard={"gpu": 9}))
    result = winsctl(node.url, "--token", token, "apply", "-f", str(rule), check=False)
    assert result.returncode != 0 and "only an admin may write quotas" in result.stderr
