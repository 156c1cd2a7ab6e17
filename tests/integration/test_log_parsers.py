"""Issue 21, charts from logs: a stage's `logParsers` turn the lines it prints into rows of
`.winslow/parsed/NAME.csv` in its run's workspace while it runs, readable through the files API;
a stage after it that copies the workspace begins its own file. On a real node in real Docker."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

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

LOSS = {"name": "loss", "pattern": r"epoch (?P<epoch>\d+) loss (?P<loss>[\d.]+)"}
TRAIN = (
    "echo 'epoch 1 loss 0.5'; printf 'epoch 9 loss \\377\\376 not utf-8\\n'; echo 'noise'; sleep 6; "
    "echo 'epoch 2 loss 0.25'; echo 'epoch 3 loss 0.125'"
)


def token() -> str:
    return str(yaml.safe_load(Path(os.environ["WINSLOW_CONFIG"]).read_text())["token"])


def parsed(node: NodeProcess, run: str, name: str = "loss") -> list[list[str]] | None:
    """The CSV as the files API serves it; None while it is not there."""
    answer = httpx.get(
        f"{node.url}/api/v1/files/workspaces/charts/stages/{run}/.winslow/parsed/{name}.csv",
        headers={"Authorization": f"Bearer {token()}"},
        timeout=10,
    )
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    assert answer.headers["X-Winslow-Type"] == "file"
    return list(csv.reader(answer.text.splitlines()))


def run_of(share: Path, stage_name: str) -> dict[str, Any] | None:
    return next((r for r in stageruns(share, "charts") if r["spec"]["stage"] == stage_name), None)


def test_parsed_rows_are_written_while_the_stage_runs_and_served_by_the_files_api(
    node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    manifest = write_yaml(
        tmp_path / "charts.yaml",
        pipeline(
            "training",
            stage("train", TRAIN, logParsers=[LOSS]),
            stage("again", "echo 'epoch 7 loss 0.7'", logParsers=[LOSS]),
        ),
        project("charts", "training"),
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    train = wait_for(lambda: run_of(share, "train"), 60, "the train run")
    assert train["spec"]["logParsers"] == [LOSS], "the stage's parsers are frozen into its run"
    name = train["metadata"]["name"]

    def first_row() -> list[list[str]] | None:
        rows = parsed(node, name)
        running = (run_of(share, "train") or {}).get("status", {}).get("phase") == "Running"
        return rows if rows and len(rows) >= 2 and running else None

    midway = wait_for(first_row, 60, "the first parsed row while the stage runs")
    assert midway[0] == ["time", "epoch", "loss"]
    assert midway[1][1:] == ["1", "0.5"]

    wait_for(
        lambda: project_status(share, "charts").get("phase") == "Succeeded", 90, "the project to succeed"
    )
    rows = parsed(node, name)
    assert rows is not None
    assert [r[1:] for r in rows[1:]] == [["1", "0.5"], ["2", "0.25"], ["3", "0.125"]], (
        "a line that is not UTF-8 is read, and does not match"
    )
    times = [r[0] for r in rows[1:]]
    assert all(t.endswith("Z") and "T" in t for t in times) and times == sorted(times)

    again = run_of(share, "again")
    assert again is not None
    copied = parsed(node, again["metadata"]["name"])
    assert copied is not None and [r[1:] for r in copied] == [["epoch", "loss"], ["7", "0.7"]], (
        "the next stage copied the workspace, and its own file begins anew"
    )
