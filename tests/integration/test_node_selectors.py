"""Issue 22 (node labels and selectors), with two real node processes on one share and Docker: a
stage with `nodeSelector` runs only on the node with those labels, waits saying so while no live
node has them, and `winsctl apply` warns about it."""

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

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]
A100 = {"gpu": "a100"}


def done(share, name, stages):
    runs = stageruns(share, name)
    return len(runs) == stages and all(r["status"]["phase"] == "Succeeded" for r in runs)


def phase(share, name):
    runs = stageruns(share, name)
    return runs[0]["status"]["phase"] if runs else None


def test_a_selected_stage_runs_only_on_the_labelled_node_and_waits_while_it_is_gone(
    docker_engine, share, nodes, tmp_path
):
    # Equal nodes tie on their scores and the smaller name wins: without the selector, node-a would.
    plain = NodeProcess(share, "node-a", "--label", "gpu=t4").start()
    labelled = NodeProcess(share, "node-b", "--label", "gpu=a100", "--label", "disk=ssd").start()
    nodes += [plain, labelled]

    wide = winsctl(plain.url, "get", "nodes", "-o", "wide").stdout
    assert "LABELS" in wide.splitlines()[0]
    rows = {line.split()[0]: line for line in wide.splitlines()[1:]}
    assert "disk=ssd,gpu=a100" in rows["node-b"] and "gpu=t4" in rows["node-a"]

    both = pipeline(
        "train",
        stage("prepare", "echo prepared"),
        stage("fit", "echo fitted", nodeSelector=A100),
    )
    names = [f"train-{i}" for i in range(4)]
    manifest = write_yaml(tmp_path / "train.yaml", both, *(project(n, "train") for n in names))
    applied = winsctl(plain.url, "apply", "-f", str(manifest))
    assert "no live node has labels" not in applied.stderr, "node-b has them"
    for name in names:
        wait_for(lambda n=name: done(share, n, 2), 90, f"both stages of {name}")
    fits = [stageruns(share, name)[1] for name in names]
    assert {run["spec"]["stage"] for run in fits} == {"fit"}
    assert {run["status"]["node"] for run in fits} == {"node-b"}, "only the labelled node runs it"
    prepared = {stageruns(share, name)[0]["status"]["node"] for name in names}
    assert "node-a" in prepared, "a stage without a selector still goes to the best node"

    labelled.stop()  # a graceful stop: NotReady at once
    only_fit = pipeline("only-fit", stage("fit", "echo fitted", nodeSelector=A100))
    late = write_yaml(tmp_path / "late.yaml", only_fit, project("late-1", "only-fit"))
    warned = winsctl(plain.url, "apply", "-f", str(late))
    assert (
        "warning: pipeline/only-fit: stage fit: no live node has labels gpu=a100: node-a has gpu=t4; "
        "the stage waits until a node with them runs" in warned.stderr
    )
    assert "created" in warned.stdout, "a warning, not a refusal"

    def waiting_with_the_selector() -> bool:
        status = project_status(share, "late-1")
        return status.get("phase") == "Waiting" and "no live node has labels gpu=a100" in status.get(
            "reason", ""
        )

    wait_for(waiting_with_the_selector, 30, "the stage to wait, naming the selector")
    assert "node-a has gpu=t4" in project_status(share, "late-1")["reason"]
    assert stageruns(share, "late-1") == []

    labelled.start()
    wait_for(lambda: phase(share, "late-1") == "Succeeded", 60, "the stage to start once the node is back")
    assert stageruns(share, "late-1")[0]["status"]["node"] == "node-b"
