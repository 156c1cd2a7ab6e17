"""Issue 22, workspaces that do not fill the share: a retention policy keeps exactly the workspaces it
says across a project with eight StageRuns, and `winsctl top projects` (and the metric) report the
project's disk use as `du` measures it; on a real node in real Docker."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

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

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]

NAME = "retain"
# /output outlives the runs: the train stage's n-th try fails for n = 1, 2 and 6
TRAIN = (
    "n=$(( $(cat /output/n 2>/dev/null || echo 0) + 1 )); echo $n > /output/n; "
    "head -c 100000 /dev/urandom > /workspace/train-$n.bin; echo try $n; [ $n -gt 2 ] && [ $n -ne 6 ]"
)


def folders(share: Path) -> set[str]:
    stages = share / "workspaces" / NAME / "stages"
    return {p.name for p in stages.iterdir()} if stages.exists() else set()


def run_names(*numbers: int) -> set[str]:
    return {f"{NAME}.{n}.{'prep' if n == 1 else 'train'}" for n in numbers}


def settle(share: Path, runs: int) -> list[dict]:
    """The project Succeeded with `runs` StageRuns."""

    def done() -> list[dict] | None:
        found = stageruns(share, NAME)
        ok = len(found) == runs and project_status(share, NAME).get("phase") == "Succeeded"
        return (
            found if ok and all(r["status"]["phase"] not in ("Pending", "Running") for r in found) else None
        )

    return wait_for(done, 90, f"{NAME} to succeed with {runs} StageRuns")


def kept(share: Path, numbers: set[str], removed: set[str]) -> bool:
    names = folders(share)
    return names == numbers | {f"{r}.removed" for r in removed}


def du(*paths: Path) -> int:
    out = subprocess.run(
        ["du", "-s", "-c", "-B1", *map(str, paths)], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().splitlines()[-1].split()[0])


def disk_metric(node: NodeProcess) -> dict[str, float]:
    token = yaml.safe_load(Path(os.environ["WINSLOW_CONFIG"]).read_text())["token"]
    text = httpx.get(f"{node.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30).text
    return {
        s.labels["kind"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "winslow_project_disk_bytes" and s.labels.get("project") == NAME
    }


def test_retention_keeps_exactly_what_it_says_and_top_reports_the_sizes(
    node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    pipe = pipeline(
        "retained",
        stage("prep", "head -c 200000 /dev/urandom > /workspace/prep.bin"),
        stage("train", TRAIN, retry={"count": 2, "backoffSeconds": 0}),
    )
    pipe["spec"]["retention"] = {"keepSucceeded": 10}  # the project's own replaces it
    policy = {"keepSucceeded": 2, "keepFailed": False, "keepLatest": True}
    manifest = write_yaml(tmp_path / "retain.yaml", pipe, project(NAME, "retained", retention=policy))
    winsctl(node.url, "apply", "-f", str(manifest))

    # 1 prep ok; 2, 3 train fail, 4 train ok (retries): failed ones go (keepFailed false)
    runs = settle(share, 4)
    assert [r["status"]["phase"] for r in runs] == ["Succeeded", "Failed", "Failed", "Succeeded"]
    wait_for(lambda: kept(share, run_names(1, 4), run_names(2, 3)), 30, "the failed workspaces to go")

    # 5 and 6 train ok (resumed): two succeeded trains are kept, so 4 goes once 6 succeeded
    winsctl(node.url, "resume", NAME, "--from", "train")
    settle(share, 5)
    winsctl(node.url, "resume", NAME, "--from", "train")
    settle(share, 6)
    wait_for(lambda: kept(share, run_names(1, 5, 6), run_names(2, 3, 4)), 30, "keepSucceeded 2")

    # 7 train fails, 8 (its retry) ok: 7 and 5 go; 1 stays (prep's newest, its lineage), 6 and 8 stay
    winsctl(node.url, "resume", NAME, "--from", "train")
    runs = settle(share, 8)
    assert [r["status"]["phase"] for r in runs] == [
        "Succeeded",
        "Failed",
        "Failed",
        "Succeeded",
        "Succeeded",
        "Succeeded",
        "Failed",
        "Succeeded",
    ]
    wait_for(lambda: kept(share, run_names(1, 6, 8), run_names(2, 3, 4, 5, 7)), 30, "the final set")
    assert all(r["spec"]["workspace"].get("copyOf") == f"{NAME}.1.prep" for r in runs[1:])
    logs = share / "logs" / NAME
    assert {p.name for p in logs.glob("*.log")} == {f"{r['metadata']['name']}.log" for r in runs}, "logs stay"
    assert len(stageruns(share, NAME)) == 8, "StageRuns stay"
    marker = (share / "workspaces" / NAME / "stages" / f"{NAME}.7.train.removed").read_text()
    assert "Failed" in marker and "keepSucceeded 2, keepFailed false, keepLatest true" in marker

    # sizes, as du counts them
    root = share / "workspaces" / NAME
    answer = json.loads(winsctl(node.url, "top", "projects", "-o", "json").stdout)
    (mine,) = [p for p in answer["items"] if p["project"] == NAME]
    assert mine["workspaces"] == 3 and not mine["partial"]
    assert mine["workspaceBytes"] == du(root / "stages")
    assert mine["logBytes"] == du(logs)
    assert mine["outputBytes"] == du(root / "output") and mine["inputBytes"] == du(root / "input")
    assert mine["totalBytes"] == du(root, logs)
    assert mine["workspaceBytes"] >= 3 * 200_000, "three workspaces, each with prep's 200 kB"
    table = winsctl(node.url, "top", "projects").stdout.splitlines()
    assert table[0].split() == ["NAME", "WORKSPACES", "WORKSPACE-BYTES", "LOGS", "INPUT", "OUTPUT", "TOTAL"]
    assert table[1].split()[:2] == [NAME, "3"]
    metric = disk_metric(node)
    assert metric["workspaces"] == mine["workspaceBytes"] and metric["logs"] == mine["logBytes"]
    assert sum(metric.values()) == mine["totalBytes"]
