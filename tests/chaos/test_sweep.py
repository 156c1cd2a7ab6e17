"""Issue 20: three node processes run sweeps on one share while they are SIGKILLed at random
moments and restarted; no combination is lost, none runs twice, maxParallel holds across the
cluster, and nobody created a run without holding its project's lock."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from tests.harness import (
    NodeProcess,
    containers,
    kill_at_random,
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
from tests.replay import created_without_lock, overlapping, replay

pytestmark = [pytest.mark.docker, pytest.mark.timeout(420)]

PROJECTS = ("sweep-a", "sweep-b")
COMBINATIONS = sorted((a, b) for a in ("1", "2", "3") for b in ("x", "y", "z"))
MAX_PARALLEL = 4


def stuck(share: Path, cluster: list[NodeProcess]) -> str:
    lines = []
    for name in PROJECTS:
        runs = [(r["metadata"]["name"], r["status"].get("phase")) for r in stageruns(share, name)]
        lines.append(f"{name}: {project_status(share, name)} runs={runs}")
    for node in cluster:
        lines.append(f"--- {node.name} ---\n" + node.logfile.read_text(errors="replace")[-3000:])
    return "\n".join(lines)


def test_sigkill_during_sweeps_loses_no_combination_and_runs_none_twice(
    docker_engine: None, share: Path, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    rng = random.Random(20261204)
    cluster = [NodeProcess(share, f"node-{c}", "--compact-every", "100000") for c in "abc"]
    for node in cluster:
        nodes.append(node.start())
    manifest = write_yaml(
        tmp_path / "sweeps.yaml",
        pipeline(
            "sweeps",
            stage("prep", "echo prep"),
            stage(
                "train",
                'echo "A=$A B=$B"; sleep $((RANDOM % 3 + 1)); echo "WINSLOW_RESULT: ab=$A$B"',
                matrix={"A": ["1", "2", "3"], "B": ["x", "y", "z"]},
                maxParallel=MAX_PARALLEL,
            ),
            stage("collect", 'echo "$WINSLOW_NEEDS_RESULTS"'),
        ),
        *(project(name, "sweeps") for name in PROJECTS),
    )
    winsctl(cluster[0].url, "apply", "-f", str(manifest))

    def all_done() -> bool:
        return all(project_status(share, name).get("phase") == "Succeeded" for name in PROJECTS)

    kills = kill_at_random(cluster, rng, all_done, at_least=6, seconds=200)
    try:
        wait_for(all_done, 200, "both sweeps to succeed despite the kills", interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stuck(share, cluster)}") from None
    print(f"sweep chaos: {kills} SIGKILLs")

    for name in PROJECTS:
        runs = stageruns(share, name)
        stages = Counter(r["spec"]["stage"] for r in runs)
        assert stages == {"prep": 1, "train": len(COMBINATIONS), "collect": 1}, f"{name}: {stages}"
        train = [r for r in runs if r["spec"]["stage"] == "train"]
        assert sorted((r["status"]["matrix"]["A"], r["status"]["matrix"]["B"]) for r in train) == COMBINATIONS
        assert {r["status"]["phase"] for r in runs} == {"Succeeded"}
        assert all(
            r["status"]["results"] == {"ab": r["status"]["matrix"]["A"] + r["status"]["matrix"]["B"]}
            for r in train
        )
        assert most_at_once(train) <= MAX_PARALLEL, "maxParallel holds across the cluster, kills or not"
    per_run = Counter(c["Labels"].split("winslow.stagerun=")[1].split(",")[0] for c in containers(share))
    assert set(per_run.values()) == {1}, f"one container per run: {per_run}"
    assert not [c for c in containers(share) if c["State"] == "running"], "nothing left running"

    _, holdings = replay(share)
    assert overlapping(holdings) == [], "two holders of one lock or lease at once"
    assert created_without_lock(share, PROJECTS, holdings) == [], "a run created without its project's lock"
