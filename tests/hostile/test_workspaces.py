"""Case 2 of issue 14: whatever a stage leaves in its workspace, the next stage's copy finishes,
and no start can hold the node's start workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import NodeProcess, pipeline, project, stage, stageruns, wait_for, winsctl, write_yaml

pytestmark = [pytest.mark.docker, pytest.mark.timeout(150)]

PROJECTS = 5  # one more than a node had start workers


def test_case_2_named_pipes_left_in_workspaces_are_skipped_and_never_block_a_start(
    node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    """Before: a FIFO left by a stage made the next stage's workspace copy block in `open` for
    ever; four such projects used up the node's start workers and nothing started again."""
    leave = (
        "mkfifo /workspace/pipe && mkdir /workspace/d && mkfifo /workspace/d/p2 && ln -s pipe /workspace/l"
    )
    manifests = [
        pipeline(
            "fifo",
            stage("make", f"{leave} && echo data > /workspace/kept"),
            stage("use", "cat /workspace/kept && test -L /workspace/l && test ! -e /workspace/pipe"),
        ),
        *(project(f"fifo-{i}", "fifo") for i in range(PROJECTS)),
    ]
    winsctl(node.url, "apply", "-f", str(write_yaml(tmp_path / "fifo.yaml", *manifests)))

    def phases() -> list[list[str]]:
        return [[r["status"]["phase"] for r in stageruns(share, f"fifo-{i}")] for i in range(PROJECTS)]

    wait_for(lambda: all(p == ["Succeeded", "Succeeded"] for p in phases()), 120, "every project to succeed")
    for i in range(PROJECTS):
        use = stageruns(share, f"fifo-{i}")[1]["metadata"]["name"]
        log = (share / "logs" / f"fifo-{i}" / f"{use}.log").read_text()
        assert "not copied into the workspace (special files): " in log
        assert "pipe (named pipe)" in log and "d/p2 (named pipe)" in log
        assert "data" in log
