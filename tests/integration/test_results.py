"""Issue 20, results and progress: what a stage prints as `WINSLOW_RESULT: key=value` and
`WINSLOW_PROGRESS: N` is recorded on its StageRun while it runs and when it ends, reaches the
next stage in WINSLOW_NEEDS_RESULTS, and is shown by winsctl and the metrics; on a real node in
real Docker."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]

TRAIN = (
    "echo 'WINSLOW_PROGRESS: 40'; echo 'WINSLOW_RESULT: accuracy=0.91'; "
    "echo 'WINSLOW_RESULT: query=a=b&c=d'; sleep 12; "
    "echo 'WINSLOW_RESULT: accuracy=0.93'; echo 'training: 97 % done'; echo 'WINSLOW_PROGRESS: 100'"
)


def progress_gauge(node: NodeProcess) -> float | None:
    token = yaml.safe_load(Path(os.environ["WINSLOW_CONFIG"]).read_text())["token"]
    text = httpx.get(f"{node.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "winslow_stage_progress_percent" and sample.labels.get("stage") == "train":
                return sample.value
    return None


def run_of(share: Path, stage_name: str) -> dict[str, Any] | None:
    return next((r for r in stageruns(share, "tune") if r["spec"]["stage"] == stage_name), None)


def test_results_and_progress_are_recorded_shown_and_handed_on(
    node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    manifest = write_yaml(
        tmp_path / "tune.yaml",
        pipeline(
            "tuning",
            stage("train", TRAIN),
            stage("judge", 'echo "NEEDS=$WINSLOW_NEEDS_RESULTS"', progress="percent-lines"),
        ),
        project("tune", "tuning"),
    )
    winsctl(node.url, "apply", "-f", str(manifest))

    def midway() -> dict[str, Any] | None:
        run = run_of(share, "train")
        return (
            run
            if run and run["status"].get("progress") == 40 and run["status"]["phase"] == "Running"
            else None
        )

    running = wait_for(midway, 60, "the running stage's progress to be recorded")
    assert running["status"]["results"] == {"accuracy": "0.91", "query": "a=b&c=d"}, (
        "everything after the first ="
    )
    assert wait_for(lambda: progress_gauge(node) == 40, 20, "the progress gauge"), "the metric follows"

    wait_for(lambda: project_status(share, "tune").get("phase") == "Succeeded", 90, "the project to succeed")
    train, judge = run_of(share, "train"), run_of(share, "judge")
    assert train is not None and judge is not None
    assert train["status"]["results"] == {"accuracy": "0.93", "query": "a=b&c=d"}, "a later line wins"
    assert train["status"]["progress"] == 100, "the marker only: '97 %' is not this stage's progress"
    handed = json.loads(
        winsctl(node.url, "logs", judge["metadata"]["name"]).stdout.split("NEEDS=", 1)[1].splitlines()[0]
    )
    assert handed == {"train": {"accuracy": "0.93", "query": "a=b&c=d"}}

    wide = winsctl(node.url, "get", "stageruns", "-o", "wide").stdout
    header, *rows = wide.splitlines()
    assert "PROGRESS" in header and "RESULTS" in header
    assert any("100%" in row and "accuracy=0.93" in row for row in rows), wide
    described = winsctl(node.url, "describe", "stagerun", train["metadata"]["name"]).stdout
    assert "Results:" in described and "accuracy=0.93" in described and "query=a=b&c=d" in described
    assert progress_gauge(node) is None, "no gauge for a stage that no longer runs"
