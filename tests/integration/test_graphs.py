"""Issue 20: pipelines that fan out, branch, join and sweep, on real nodes in real Docker: a 3 x 2
sweep bounded by maxParallel, a `when` that skips one branch, a join after both, failFast, a
cycle refused with its line, a pause and a `resume --from` inside a branch, a sweep from the
command line."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
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

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


def runs_of(share: Path, name: str, stage_name: str | None = None) -> list[dict[str, Any]]:
    runs = sorted(stageruns(share, name), key=lambda r: int(r["metadata"]["name"].split(".")[1]))
    return [r for r in runs if stage_name is None or r["spec"]["stage"] == stage_name]


def phase_of(share: Path, name: str) -> str | None:
    return project_status(share, name).get("phase")


def settled(share: Path, name: str, phase: str, timeout: float = 150) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = project_status(share, name)
        return status if status.get("phase") == phase else None

    try:
        return wait_for(check, timeout, f"project {name} to be {phase}", interval=0.3)
    except AssertionError:
        runs = [(r["metadata"]["name"], r["status"]["phase"]) for r in runs_of(share, name)]
        raise AssertionError(f"{name}: {project_status(share, name)} runs={runs}") from None


def most_at_once(runs: list[dict[str, Any]]) -> int:
    """The most runs whose containers ran at the same moment, from their start and finish times."""
    edges = []
    for run in runs:
        start = datetime.fromisoformat(run["status"]["startTime"]).timestamp()
        end = datetime.fromisoformat(run["status"]["finishTime"]).timestamp()
        edges += [(start, 1), (end, -1)]
    now = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):  # an end before a start at one instant
        now += step
        peak = max(peak, now)
    return peak


TRAIN = 'echo "training LR=$LR BATCH=$BATCH"; sleep 3; echo "WINSLOW_RESULT: score=$LR/$BATCH"'
JUDGE = 'echo "NEEDS=$WINSLOW_NEEDS_RESULTS"; echo "WINSLOW_RESULT: verdict=good"'


def test_a_sweep_fans_out_within_max_parallel_then_one_branch_runs_and_the_join_runs_once(
    docker_engine: None, share: Path, nodes: list[NodeProcess], tmp_path: Path
) -> None:
    cluster = [NodeProcess(share, name).start() for name in ("node-a", "node-b")]
    nodes += cluster
    manifest = write_yaml(
        tmp_path / "tune.yaml",
        pipeline(
            "tune",
            stage("prep", "echo prepared > /workspace/data.txt"),
            stage(
                "train",
                TRAIN,
                matrix={"LR": ["0.1", "0.01", "0.001"], "BATCH": {"from": 8, "to": 16, "step": 8}},
                maxParallel=4,
            ),
            stage("judge", JUDGE),
            stage("good", "echo shipping", needs=["judge"], when='results.judge.verdict == "good"'),
            stage("retrain", "echo again", needs=["judge"], when='results.judge.verdict != "good"'),
            stage("report", "echo report", needs=["good", "retrain"]),
        ),
        project("tune-1", "tune"),
    )
    winsctl(cluster[0].url, "apply", "-f", str(manifest))
    status = settled(share, "tune-1", "Succeeded")
    assert "skipped: retrain" in status["reason"]

    train = runs_of(share, "tune-1", "train")
    combos = [r["status"]["matrix"] for r in train]
    assert sorted((c["LR"], c["BATCH"]) for c in combos) == sorted(
        (lr, b) for lr in ("0.1", "0.01", "0.001") for b in ("8", "16")
    ), "one run per combination"
    for run in train:
        combo = run["status"]["matrix"]
        assert run["spec"]["env"]["LR"] == combo["LR"] and run["spec"]["env"]["BATCH"] == combo["BATCH"]
        assert run["status"]["results"] == {"score": f"{combo['LR']}/{combo['BATCH']}"}
        assert run["spec"]["workspace"]["copyOf"] == runs_of(share, "tune-1", "prep")[0]["metadata"]["name"]
    peak = most_at_once(train)
    assert 1 < peak <= 4, f"{peak} at once: more than one, at most maxParallel"

    (judge,) = runs_of(share, "tune-1", "judge")
    log = winsctl(cluster[0].url, "logs", judge["metadata"]["name"]).stdout
    handed = json.loads(log.split("NEEDS=", 1)[1].splitlines()[0])
    assert sorted(
        (e["matrix"]["LR"], e["matrix"]["BATCH"], e["results"]["score"]) for e in handed["train"]
    ) == sorted((c["LR"], c["BATCH"], f"{c['LR']}/{c['BATCH']}") for c in combos)
    assert [r["status"]["phase"] for r in runs_of(share, "tune-1", "good")] == ["Succeeded"]
    (skipped,) = runs_of(share, "tune-1", "retrain")
    assert skipped["status"]["phase"] == "Skipped" and "is false" in skipped["status"]["message"]
    assert [r["status"]["phase"] for r in runs_of(share, "tune-1", "report")] == ["Succeeded"], (
        "the join ran once"
    )
    listed = winsctl(cluster[0].url, "get", "stageruns", "-o", "wide").stdout
    assert "Skipped" in listed and "LR=0.1,BATCH=8" in listed, listed

    # a sweep from the command line: only that stage over the values given, then what needs it
    winsctl(
        cluster[1].url, "resume", "tune-1", "--from", "train", "--matrix", "LR=0.5,0.7", "--matrix", "BATCH=4"
    )
    wait_for(lambda: len(runs_of(share, "tune-1", "train")) == 8, 60, "the command line's sweep")
    settled(share, "tune-1", "Succeeded")
    again = runs_of(share, "tune-1", "train")[6:]
    assert sorted(r["status"]["matrix"]["LR"] for r in again) == ["0.5", "0.7"]
    assert {r["status"]["matrix"]["BATCH"] for r in again} == {"4"}
    assert len(runs_of(share, "tune-1", "prep")) == 1, "what the stage needs is not run again"
    assert len(runs_of(share, "tune-1", "report")) == 2 and len(runs_of(share, "tune-1", "judge")) == 2


def test_fail_fast_stops_starting_combinations_and_false_runs_them_all(
    docker_engine: None, share: Path, node: NodeProcess, tmp_path: Path
) -> None:
    def sweep(name: str, **extra: Any) -> dict[str, Any]:
        return pipeline(
            name,
            stage("try", 'echo "N=$N"; [ "$N" != 2 ]', matrix={"N": ["1", "2", "3"]}, maxParallel=1, **extra),
            stage("after", "echo after"),
        )

    manifest = write_yaml(
        tmp_path / "fail.yaml",
        sweep("fast"),
        sweep("thorough", failFast=False),
        project("fast-1", "fast"),
        project("thorough-1", "thorough"),
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    fast = settled(share, "fast-1", "Failed")
    thorough = settled(share, "thorough-1", "Failed")
    assert [(r["status"]["matrix"]["N"], r["status"]["phase"]) for r in runs_of(share, "fast-1")] == [
        ("1", "Succeeded"),
        ("2", "Failed"),
    ], "fail fast: nothing starts after the failure"
    assert sorted(
        (r["status"]["matrix"]["N"], r["status"]["phase"]) for r in runs_of(share, "thorough-1")
    ) == [
        ("1", "Succeeded"),
        ("2", "Failed"),
        ("3", "Succeeded"),
    ], "failFast false: every combination runs, and the stage fails at the end"
    assert "[N=2] failed with exit code 1" in fast["reason"] and "[N=2] failed" in thorough["reason"]

    # a resume reruns only the combination that failed (it fails again: the script did not change)
    winsctl(node.url, "resume", "thorough-1")
    wait_for(lambda: len(runs_of(share, "thorough-1")) == 4, 60, "the failed combination to run again")
    settled(share, "thorough-1", "Failed")
    assert runs_of(share, "thorough-1")[-1]["status"]["matrix"] == {"N": "2"}


def test_a_cycle_is_refused_naming_it_its_stages_and_its_line(
    docker_engine: None, share: Path, node: NodeProcess, tmp_path: Path
) -> None:
    manifest = tmp_path / "cycle.yaml"
    manifest.write_text(
        "apiVersion: winslow/v1\nkind: Pipeline\nmetadata:\n  name: loop\nspec:\n  stages:\n"
        "    - name: a\n      image: busybox\n      needs: [c]\n"
        "    - name: b\n      image: busybox\n"
        "    - name: c\n      image: busybox\n"
    )
    result = winsctl(node.url, "apply", "-f", str(manifest), check=False)
    said = result.stderr + result.stdout
    assert result.returncode != 0
    assert "cycle" in said and "a → c → b → a" in said, said
    assert "cycle.yaml:9:" in said and "spec.stages[0].needs[0]" in said, said
    assert not (share / "pipelines" / "loop.yaml").exists(), "nothing was written"


def test_pause_and_resume_from_inside_a_branch(
    docker_engine: None, share: Path, node: NodeProcess, tmp_path: Path
) -> None:
    manifest = write_yaml(
        tmp_path / "branches.yaml",
        pipeline(
            "branches",
            stage("a", "echo a"),
            stage("slow", "sleep 5; echo slow", needs=["a"]),
            stage("after-slow", "echo after", needs=["slow"]),
            stage("quick", "echo quick", needs=["a"]),
            stage("join", "echo join", needs=["after-slow", "quick"]),
        ),
        project("br-1", "branches"),
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    wait_for(
        lambda: any(r["status"]["phase"] == "Running" for r in runs_of(share, "br-1", "slow")),
        60,
        "slow to run",
    )
    winsctl(node.url, "pause", "br-1")
    status = settled(share, "br-1", "Paused")
    assert "after-slow" in status["reason"], status["reason"]
    assert not runs_of(share, "br-1", "after-slow"), "a paused project starts nothing"
    winsctl(node.url, "resume", "br-1")
    settled(share, "br-1", "Succeeded")

    winsctl(node.url, "resume", "br-1", "--from", "slow")
    wait_for(lambda: len(runs_of(share, "br-1", "join")) == 2, 90, "the join after the rerun branch")
    settled(share, "br-1", "Succeeded")
    counts = Counter(r["spec"]["stage"] for r in runs_of(share, "br-1"))
    assert counts == {"a": 1, "quick": 1, "slow": 2, "after-slow": 2, "join": 2}, counts
    rerun = runs_of(share, "br-1", "slow")[-1]
    assert rerun["status"]["trigger"] == "user"
