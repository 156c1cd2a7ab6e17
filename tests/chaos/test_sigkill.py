"""Issue 3: several node processes on one share, SIGKILLed at random moments, then invariants."""

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
from tests.replay import created_without_lock, overlapping, replay

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]

PROJECTS = 20
STAGES = ("fetch", "detect", "clean", "report")


def stuck(share: Path, cluster: list[NodeProcess]) -> str:
    """What a failed wait saw: every unfinished project, its runs, and the end of each node's log."""
    lines = []
    for i in range(PROJECTS):
        name = f"p{i:02d}"
        status = project_status(share, name)
        if status.get("phase") != "Succeeded":
            runs = [(r["metadata"]["name"], r["status"].get("phase")) for r in stageruns(share, name)]
            lines.append(f"{name}: {status} runs={runs}")
    for node in cluster:
        lines.append(f"--- {node.name} ---\n" + node.logfile.read_text(errors="replace")[-4000:])
    return "\n".join(lines)


def test_sigkill_chaos_loses_nothing_and_runs_nothing_twice(
    docker_engine, share, nodes, tmp_path, rig, cluster_node
):
    rng = random.Random(20261128)
    # A node restarted on a network mount reads the whole log back (no compaction here, so that
    # it can be replayed) before it renews its leases. On a loaded 2-core machine that restart
    # took up to 20 s, so the stage tolerance is 60 s (300 s by default): shorter, and the kills
    # would rightly make runs Lost. Nothing waits for it, as every killed node comes back.
    slow = ["--lease-seconds", "12", "--grace-seconds", "3", "--stage-tolerance", "60"]
    leases = [] if rig.kind == "local" else slow
    cluster = [cluster_node(f"node-{c}", "--compact-every", "100000", *leases) for c in "abc"]
    for node in cluster:
        nodes.append(node.start())
    stages = [
        stage(name, f"echo {name} $WINSLOW_PROJECT on $WINSLOW_NODE; sleep $((RANDOM % 4 + 1))")
        for name in STAGES
    ]
    manifest = write_yaml(
        tmp_path / "chaos.yaml",
        pipeline("chaos", *stages),
        *(project(f"p{i:02d}", "chaos") for i in range(PROJECTS)),
    )
    winsctl(cluster[0].url, "apply", "-f", str(manifest))

    def all_done() -> bool:
        return all(project_status(share, f"p{i:02d}").get("phase") == "Succeeded" for i in range(PROJECTS))

    kills = kill_at_random(cluster, rng, all_done, at_least=8, seconds=240)
    try:
        wait_for(all_done, 240, "every project to succeed despite the kills", interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stuck(share, cluster)}") from None
    print(f"chaos: {kills} SIGKILLs")

    for i in range(PROJECTS):
        runs = stageruns(share, f"p{i:02d}")
        assert [(r["spec"]["stage"], r["status"]["phase"]) for r in runs] == [
            (s, "Succeeded") for s in STAGES
        ], f"p{i:02d} ran {[(r['metadata']['name'], r['status']['phase']) for r in runs]}"
    per_stage = Counter(
        (c["Labels"].split("winslow.project=")[1].split(",")[0], c["Names"]) for c in containers(share)
    )
    assert len(per_stage) == PROJECTS * len(STAGES) and set(per_stage.values()) == {1}, (
        "one container per stage"
    )
    assert not [c for c in containers(share) if c["State"] == "running"], "nothing left running"

    _, holdings = replay(share)
    assert overlapping(holdings) == [], "two holders of one lock at once"
    names = [f"p{i:02d}" for i in range(PROJECTS)]
    assert created_without_lock(share, names, holdings) == [], "a run created without its project's lock"
