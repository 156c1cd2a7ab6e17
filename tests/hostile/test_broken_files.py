"""Cases 1, 5, 6, 7 and 10 of issue 14: files on the share that are hostile or broken never take
a node down, never answer 500, never leak another project's contents, and never vanish."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
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
from tests.hostile.conftest import Cast, listed, node_log, wait_invalid, warned

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]


def test_case_1_a_hundred_thousand_nested_brackets_never_take_the_node_down(
    node: NodeProcess, cast: Cast, share: Path
) -> None:
    """Before: libyaml's composer overflowed the C stack and the node died with SIGSEGV, again at
    every restart, until someone deleted the file."""
    (share / "projects" / "deep.yaml").write_text("a: " + "[" * 100_000 + "]" * 100_000)
    admin = cast.client("admin")
    item = wait_invalid(admin, "projects", "deep")
    assert item["status"]["reason"] == "projects/deep.yaml: line 1: is nested deeper than 64 levels"
    wait_for(lambda: warned(node, "projects/deep.yaml"), 20, "the node to log the file once")
    node.stop()
    node.start()
    wait_for(lambda: warned(node, "projects/deep.yaml") == 2, 20, "the restarted node to read it again")
    assert node.healthy() and wait_invalid(admin, "projects", "deep")
    got = winsctl(node.url, "get", "projects")
    assert "deep" in got.stdout and "Invalid" in got.stdout
    assert "warning: Project deep is Invalid: projects/deep.yaml: line 1: is nested deeper" in got.stderr


def test_case_5_broken_stagerun_files_never_answer_500_nor_leak_another_projects_env(
    node: NodeProcess, cast: Cast, share: Path
) -> None:
    """Before: one unparseable StageRun file made GET /api/v1/stageruns and /metrics answer 500
    for everyone, and a parseable but invalid one echoed its env (a password) to any user."""
    write_yaml(
        share / "projects" / "secret.yaml",
        project("secret", None, owner="alice", paused=True, stages=[stage("a", "true")]),
    )
    runs = share / "run" / "stageruns"
    leaky = {
        "apiVersion": "winslow/v1",
        "kind": "StageRun",
        "metadata": {"name": "secret.1.a"},
        "spec": {"project": "secret", "stage": "a", "index": 0, "env": {"PASSWORD": "hunter2"}},
        "status": {"phase": "Succeeded", "node": "node-a"},
    }  # no `image`: pydantic's own message would quote the whole spec, env and all
    write_yaml(runs / "secret" / "secret.1.a.yaml", leaky)
    (runs / "other").mkdir(parents=True)
    (runs / "other" / "other.1.a.yaml").write_text("status: [Runn")
    for who in ("carol", "alice", "admin"):
        client = cast.client(who)
        reply = client.get("/api/v1/stageruns")
        assert reply.status_code == 200, f"{who}: {reply.text}"
        assert "hunter2" not in reply.text
        names = {i["metadata"]["name"]: i for i in reply.json()["items"]}
        assert ("secret.1.a" in names) == (who != "carol")
        assert ("other.1.a" in names) == (who == "admin")
        if who != "carol":
            invalid = names["secret.1.a"]["status"]
            assert invalid["phase"] == "Invalid"
            assert invalid["message"].startswith(
                "run/stageruns/secret/secret.1.a.yaml: line 5: spec.image: is required"
            )
            assert any("secret.1.a" in w for w in reply.json()["warnings"])
        assert client.get("/metrics").status_code == 200
        one = client.get("/api/v1/stageruns/secret.1.a")
        assert "hunter2" not in one.text
        assert one.status_code == (404 if who == "carol" else 503), one.text
    alice = cast.client("alice")
    assert alice.get("/api/v1/stageruns", params={"project": "secret"}).status_code == 200


def test_case_6_a_project_file_that_is_not_utf8_is_listed_invalid_and_named_in_the_log(
    node: NodeProcess, cast: Cast, share: Path, tmp_path: Path
) -> None:
    """Before: GET /api/v1/projects answered 500 for everyone, the project's status said Running
    long after its stage ended, and the node's log named no file."""
    winsctl(
        node.url,
        "apply",
        "-f",
        str(
            write_yaml(tmp_path / "p.yaml", pipeline("slow", stage("a", "sleep 2")), project("latin", "slow"))
        ),
    )
    wait_for(
        lambda: any(r["status"]["phase"] == "Running" for r in stageruns(share, "latin")), 60, "the stage"
    )
    path = share / "projects" / "latin.yaml"
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    lines = path.read_bytes().count(b"\n")
    item = wait_invalid(cast.client("admin"), "projects", "latin")
    assert item["status"]["reason"] == (
        f"projects/latin.yaml: line {lines}: is not UTF-8 text (byte 0xe9); save it as UTF-8"
    )
    wait_for(lambda: warned(node, "projects/latin.yaml"), 20, "a WARNING naming the file")
    assert wait_for(
        lambda: (
            stageruns(share, "latin")[-1]["status"]["phase"] == "Succeeded"
            and project_status(share, "latin")["phase"] != "Running"
            and project_status(share, "latin")
        ),
        60,
        "the project's status to leave Running once its stage ended",
    )["reason"].startswith("projects/latin.yaml: line")
    assert warned(node, "projects/latin.yaml") == 1, "once per version of the file"


def test_case_7_a_52_mb_project_is_refused_by_the_size_limit_and_costs_nothing(
    node: NodeProcess, cast: Cast, share: Path, tmp_path: Path
) -> None:
    """Before: a valid 52 MB project (500,000 env entries) pinned a core for as long as it
    existed, took the node to 1.1 GB and was copied into a 52 MB StageRun file."""
    winsctl(
        node.url, "apply", "-f", str(write_yaml(tmp_path / "p.yaml", pipeline("tiny", stage("a", "true"))))
    )
    head = yaml.safe_dump(project("big", "tiny"), sort_keys=False) + "  env:\n"
    entries = "".join(f"    VARIABLE_NUMBER_{i:06d}: value-{i:06d}-{'x' * 62}\n" for i in range(500_000))
    (share / "projects" / "big.yaml").write_text(head + entries)
    size = (share / "projects" / "big.yaml").stat().st_size
    assert size > 52_000_000
    item = wait_invalid(cast.client("admin"), "projects", "big")
    assert item["status"]["reason"] == (
        f"projects/big.yaml: is {size / (1 << 20):.1f} MiB, over the limit of 1.0 MiB; make it smaller "
        "or raise WINSLOW_MAX_MANIFEST_BYTES on every node"
    )
    wait_for(lambda: "over the limit" in project_status(share, "big").get("reason", ""), 30, "the reconciler")
    got = winsctl(node.url, "get", "projects", "-o", "wide")
    assert "big" in got.stdout and "over the limit of 1.0 MiB" in got.stdout
    assert "warning: Project big is Invalid" in got.stderr
    assert not (share / "run" / "stageruns" / "big").exists()
    assert psutil.Process(node.proc.pid).memory_info().rss < 300 << 20  # type: ignore[union-attr]
    started = time.monotonic()
    winsctl(node.url, "delete", "project", "big")
    assert time.monotonic() - started < 10, "deleting it is an ordinary delete"


def test_case_10_broken_manifests_are_shown_to_admins_and_to_their_owner(
    node: NodeProcess, cast: Cast, share: Path, tmp_path: Path
) -> None:
    """Before: broken manifests were hidden from `winsctl get` even for admins, and the owner of
    a project whose file broke was told "not found"."""
    winsctl(
        node.url, "apply", "-f", str(write_yaml(tmp_path / "p.yaml", pipeline("demo", stage("a", "true"))))
    )
    write_yaml(
        share / "projects" / "mine.yaml", project("mine", "demo", owner="alice", paused=True, colour="red")
    )
    (share / "projects" / "garbled.yaml").write_text("apiVersion: winslow/v1\nkind: Project\nmetadata: [\n")
    write_yaml(share / "pipelines" / "nostages.yaml", {**pipeline("nostages"), "spec": {"stages": "none"}})
    admin = cast.client("admin")
    mine = wait_invalid(admin, "projects", "mine")["status"]["reason"]
    assert mine.startswith("projects/mine.yaml: line 9: spec.colour: unknown field; the fields here are ")
    garbled = wait_invalid(admin, "projects", "garbled")["status"]["reason"]
    assert garbled.startswith("projects/garbled.yaml: line 4: is not valid YAML")
    assert wait_invalid(admin, "pipelines", "nostages")["status"]["reason"].startswith(
        "pipelines/nostages.yaml: line 6: spec.stages:"
    )

    got = winsctl(node.url, "get", "projects")
    rows = {line.split()[0]: line for line in got.stdout.splitlines()[1:]}
    assert "Invalid" in rows["mine"] and "Invalid" in rows["garbled"]
    assert f"warning: Project mine is Invalid: {mine}" in got.stderr.splitlines()

    alice = ["--token", cast.tokens["alice"]]
    assert set(listed(cast.client("alice"), "projects")) == {"mine"}, "the owner, as the file still names her"
    refused = winsctl(node.url, *alice, "get", "project", "mine", check=False)
    assert refused.returncode == 1 and mine in refused.stderr and "not found" not in refused.stderr
    assert winsctl(node.url, *alice, "get", "pipelines").stderr.startswith("warning: Pipeline nostages")

    carol = ["--token", cast.tokens["carol"]]
    assert listed(cast.client("carol"), "projects") == {}
    hidden = winsctl(node.url, *carol, "get", "project", "mine", check=False)
    missing = winsctl(node.url, *carol, "get", "project", "nothing-here", check=False)
    assert hidden.stderr.replace("mine", "X") == missing.stderr.replace("nothing-here", "X")
    time.sleep(1)  # a few more scans: the node logs each broken file once, not on every read
    assert warned(node, "projects/mine.yaml") == 1 and warned(node, "projects/garbled.yaml") == 1
    assert "Traceback" not in node_log(node)
