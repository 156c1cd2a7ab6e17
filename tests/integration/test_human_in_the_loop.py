"""Issue 4: pause, resume from a stage, confirmation gates, kill, env changes, retries, snapshots."""

import time

import pytest

from tests.harness import (
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


def phases(share, name):
    return [(r["spec"]["stage"], r["status"]["phase"]) for r in stageruns(share, name)]


def settled(share, name, phase):
    status = project_status(share, name)
    active = any(r["status"]["phase"] in ("Pending", "Running") for r in stageruns(share, name))
    return status.get("phase") == phase and not active


def apply(node, tmp_path, *docs, name="m.yaml"):
    return winsctl(node.url, "apply", "-f", str(write_yaml(tmp_path / name, *docs)))


# Each stage appends its name to /workspace/trail, so a file's content proves which workspace a
# run started from.
def trail_stage(name, extra=""):
    return stage(name, f'{extra} echo "$(cat /workspace/trail 2>/dev/null){name}$TAG," > /workspace/trail')


def trail(share, run):
    return (share / "workspaces" / run.split(".")[0] / "stages" / run / "trail").read_text().strip()


def test_pause_lets_the_stage_finish_and_resume_continues(node, share, tmp_path):
    apply(
        node,
        tmp_path,
        pipeline("p", trail_stage("one", "sleep 3;"), trail_stage("two")),
        project("pause-1", "p"),
    )
    wait_for(lambda: phases(share, "pause-1") == [("one", "Running")], 60, "stage one to run")
    assert "paused" in winsctl(node.url, "pause", "pause-1").stdout
    wait_for(lambda: settled(share, "pause-1", "Paused"), 60, "the project to pause")
    assert phases(share, "pause-1") == [("one", "Succeeded")], "the running stage finished; nothing after it"
    time.sleep(1.5)
    assert len(stageruns(share, "pause-1")) == 1
    winsctl(node.url, "resume", "pause-1")
    wait_for(lambda: settled(share, "pause-1", "Succeeded"), 60, "the project to continue")
    assert phases(share, "pause-1") == [("one", "Succeeded"), ("two", "Succeeded")]
    triggers = [r["status"]["trigger"] for r in stageruns(share, "pause-1")]
    assert triggers == ["user", "user"], "the first stage of a new project, and the one a resume started"


def test_a_failed_stage_fails_the_project_and_resume_reruns_it(node, share, tmp_path):
    flaky = stage("flaky", "test -f /output/ok || { touch /output/ok; echo first try >&2; exit 3; }")
    apply(
        node,
        tmp_path,
        pipeline("f", stage("prep", "true"), flaky, stage("last", "true")),
        project("fail-1", "f"),
    )
    wait_for(lambda: settled(share, "fail-1", "Failed"), 60, "the project to fail")
    reason = project_status(share, "fail-1")["reason"]
    assert (
        "'flaky' failed with exit code 3" in reason and "first try" in reason and "winsctl resume" in reason
    )
    refused = winsctl(node.url, "resume", "fail-1", "--from", "last", check=False)
    assert refused.returncode != 0 and "it needs 'flaky', not done yet" in refused.stderr, "refused at once"
    assert project_status(share, "fail-1")["phase"] == "Failed", "and nothing changed"
    winsctl(node.url, "resume", "fail-1")
    wait_for(lambda: settled(share, "fail-1", "Succeeded"), 60, "the rerun and the rest")
    runs = stageruns(share, "fail-1")
    assert [(r["spec"]["stage"], r["status"]["trigger"]) for r in runs] == [
        ("prep", "user"),
        ("flaky", "auto"),
        ("flaky", "user"),
        ("last", "auto"),
    ]


def test_the_node_log_says_what_it_did(node, share, tmp_path):
    apply(node, tmp_path, pipeline("l", stage("one", "true")), project("log-1", "l"))
    wait_for(lambda: settled(share, "log-1", "Succeeded"), 60, "the project")
    text = node.logfile.read_text()
    for line in (
        "started an election for project log-1",
        "election for project/log-1: node-a won",
        "StageRun log-1.1.one runs in container",
        "StageRun log-1.1.one Succeeded",
    ):
        assert line in text, f"{line!r} not in the node's log"


def test_resume_from_reruns_from_the_right_workspace(node, share, tmp_path):
    apply(
        node,
        tmp_path,
        pipeline("abc", trail_stage("a"), trail_stage("b"), trail_stage("c")),
        project("redo-1", "abc"),
    )
    wait_for(lambda: settled(share, "redo-1", "Succeeded"), 60, "the first pass")
    winsctl(node.url, "set", "env", "redo-1", "TAG=2")
    winsctl(node.url, "resume", "redo-1", "--from", "b")
    wait_for(
        lambda: len(stageruns(share, "redo-1")) == 5 and settled(share, "redo-1", "Succeeded"),
        60,
        "the rerun",
    )
    runs = stageruns(share, "redo-1")
    names = [r["metadata"]["name"] for r in runs]
    assert [r["spec"]["stage"] for r in runs] == ["a", "b", "c", "b", "c"]
    assert trail(share, names[2]) == "a,b,c,", "the first line is untouched"
    assert trail(share, names[3]) == "a,b2,", "b reran from a's workspace, not from c's"
    assert trail(share, names[4]) == "a,b2,c2,"
    assert [r["status"]["trigger"] for r in runs] == ["user", "auto", "auto", "user", "auto"]
    described = winsctl(node.url, "describe", "project", "redo-1").stdout
    assert "user" in described and "auto" in described and names[3] in described


def test_confirmation_gate_holds_until_confirmed(node, share, tmp_path):
    apply(
        node,
        tmp_path,
        pipeline("gate", trail_stage("detect"), {**trail_stage("analyse"), "confirm": True}),
        project("gate-1", "gate"),
    )
    wait_for(lambda: project_status(share, "gate-1").get("phase") == "Waiting", 60, "the gate")
    assert "analyse" in project_status(share, "gate-1")["reason"]
    time.sleep(1.5)
    assert phases(share, "gate-1") == [("detect", "Succeeded")]
    winsctl(node.url, "confirm", "gate-1")
    wait_for(lambda: settled(share, "gate-1", "Succeeded"), 60, "the confirmed stage")
    assert stageruns(share, "gate-1")[1]["status"]["trigger"] == "user"
    assert stageruns(share, "gate-1")[1]["status"]["triggeredBy"] == "admin", "who confirmed"
    assert "user (admin)" in winsctl(node.url, "describe", "project", "gate-1").stdout


def test_kill_stops_a_running_stage_within_seconds(node, share, tmp_path):
    apply(
        node,
        tmp_path,
        pipeline("k", stage("forever", "echo up; sleep 600"), stage("after", "true")),
        project("kill-1", "k"),
    )
    wait_for(lambda: phases(share, "kill-1") == [("forever", "Running")], 60, "the stage to run")
    started = time.monotonic()
    winsctl(node.url, "kill", "kill-1")
    wait_for(lambda: phases(share, "kill-1") == [("forever", "Killed")], 10, "the kill")
    assert time.monotonic() - started < 10
    wait_for(lambda: settled(share, "kill-1", "Paused"), 10, "the project to pause, saying who killed it")
    assert "killed by" in project_status(share, "kill-1")["reason"]
    log = (share / "logs" / "kill-1" / "kill-1.1.forever.log").read_text().strip().splitlines()
    assert "killed by" in log[-1]


def test_env_change_reaches_the_next_stage_only(node, share, tmp_path):
    apply(
        node,
        tmp_path,
        pipeline(
            "e",
            stage("first", 'echo "first sees $MODE"; sleep 3'),
            stage("second", 'echo "second sees $MODE"'),
        ),
        project("env-1", "e", env={"MODE": "old"}),
    )
    wait_for(lambda: phases(share, "env-1") == [("first", "Running")], 60, "the first stage")
    winsctl(node.url, "set", "env", "env-1", "MODE=new")
    wait_for(lambda: settled(share, "env-1", "Succeeded"), 60, "both stages")
    first, second = stageruns(share, "env-1")
    assert first["spec"]["env"]["MODE"] == "old" and second["spec"]["env"]["MODE"] == "new"
    assert "second sees new" in winsctl(node.url, "logs", second["metadata"]["name"]).stdout


def test_editing_the_pipeline_leaves_a_started_project_alone(node, share, tmp_path):
    apply(
        node,
        tmp_path,
        pipeline("snap", stage("one", "sleep 2"), stage("two", "echo original")),
        project("snap-1", "snap"),
    )
    wait_for(lambda: phases(share, "snap-1") == [("one", "Running")], 60, "the first stage")
    apply(
        node,
        tmp_path,
        pipeline("snap", stage("one", "sleep 2"), stage("two", "echo edited"), stage("three", "true")),
    )
    wait_for(lambda: settled(share, "snap-1", "Succeeded"), 60, "the project")
    assert phases(share, "snap-1") == [("one", "Succeeded"), ("two", "Succeeded")]
    assert "original" in winsctl(node.url, "logs", "snap-1.2.two").stdout


def test_retries_are_spent_before_the_project_fails(node, share, tmp_path):
    flaky = stage("flaky", "echo try; exit 7", retry={"count": 2, "backoffSeconds": 0.2})
    apply(node, tmp_path, pipeline("r", flaky, stage("never", "true")), project("retry-1", "r"))
    wait_for(lambda: settled(share, "retry-1", "Failed"), 60, "the retries to be spent")
    runs = stageruns(share, "retry-1")
    assert [(r["spec"]["stage"], r["spec"]["attempt"], r["status"]["phase"]) for r in runs] == [
        ("flaky", 1, "Failed"),
        ("flaky", 2, "Failed"),
        ("flaky", 3, "Failed"),
    ]
    assert "exit code 7" in project_status(share, "retry-1")["reason"]


def test_deleting_a_project_stops_its_running_stage(node, share, tmp_path):
    apply(node, tmp_path, pipeline("del", stage("forever", "sleep 600")), project("del-1", "del"))
    wait_for(lambda: phases(share, "del-1") == [("forever", "Running")], 60, "the stage to run")
    winsctl(node.url, "delete", "project", "del-1")
    wait_for(lambda: phases(share, "del-1") == [("forever", "Killed")], 15, "the stage to be killed")
    assert "project was deleted" in stageruns(share, "del-1")[0]["status"]["message"]


def test_workspace_modes(node, share, tmp_path):
    apply(
        node,
        tmp_path,
        pipeline(
            "modes",
            trail_stage("a"),
            {**trail_stage("b"), "workspace": {"mode": "standalone"}},
            {**trail_stage("c"), "workspace": {"mode": "continuation", "from": "a"}},
        ),
        project("modes-1", "modes"),
    )
    wait_for(lambda: settled(share, "modes-1", "Succeeded"), 60, "the project")
    a, b, c = (r["metadata"]["name"] for r in stageruns(share, "modes-1"))
    assert (trail(share, a), trail(share, b), trail(share, c)) == ("a,", "b,", "a,c,")


def test_a_resume_takes_the_fixed_pipeline_and_keep_snapshot_the_old(node, share, tmp_path):
    broken = pipeline("fix", stage("one", "echo one"), stage("two", "echo broken; exit 3"))
    apply(node, tmp_path, broken, project("fix-1", "fix"))
    wait_for(lambda: settled(share, "fix-1", "Failed"), 60, "the broken stage to fail the project")
    apply(node, tmp_path, pipeline("fix", stage("one", "echo one"), stage("two", "echo fixed")))
    described = winsctl(node.url, "describe", "project", "fix-1").stdout
    assert "changed since the snapshot" in described and "stage 'two': command" in described

    said = winsctl(node.url, "resume", "fix-1", "--from", "two").stdout
    assert "takes pipeline fix as it is now" in said and "stage 'two': command" in said
    wait_for(lambda: settled(share, "fix-1", "Succeeded"), 60, "the fixed stage")
    assert "fixed" in winsctl(node.url, "logs", "fix-1.3.two").stdout
    assert stageruns(share, "fix-1")[-1]["spec"]["pipelineChanges"] == ["stage 'two': command"]

    apply(node, tmp_path, pipeline("fix", stage("one", "echo one"), stage("two", "echo edited again")))
    said = winsctl(node.url, "resume", "fix-1", "--from", "two", "--keep-snapshot").stdout
    assert "as it is now" not in said
    wait_for(
        lambda: len(phases(share, "fix-1")) == 4 and settled(share, "fix-1", "Succeeded"), 60, "the rerun"
    )
    assert "fixed" in winsctl(node.url, "logs", "fix-1.4.two").stdout, "the snapshot the project had"


def test_a_project_deleted_and_applied_again_starts_with_no_history(node, share, tmp_path):
    apply(node, tmp_path, pipeline("again", stage("only", "exit 1")), project("again-1", "again"))
    wait_for(lambda: settled(share, "again-1", "Failed"), 60, "the first project to fail")
    winsctl(node.url, "delete", "project", "again-1")
    apply(node, tmp_path, pipeline("again", stage("only", "echo new")), project("again-1", "again"))
    wait_for(lambda: settled(share, "again-1", "Succeeded"), 60, "the new project to run its own first stage")
    assert [r["name"] for r in project_status(share, "again-1")["stageRuns"]] == ["again-1.2.only"]
    history = winsctl(node.url, "describe", "project", "again-1").stdout.split("History")[1]
    assert "again-1.2.only" in history and "again-1.1.only" not in history
