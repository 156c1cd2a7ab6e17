"""Issue 2: one node runs a pipeline in real Docker, driven by `winsctl`."""

import pytest
import yaml

from tests.harness import (
    containers,
    get_json,
    pipeline,
    project,
    project_status,
    stage,
    stageruns,
    tree_digest,
    wait_for,
    winsctl,
    write_yaml,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(180)]


def finished(share, name):
    phase = project_status(share, name).get("phase")
    active = any(r["status"]["phase"] in ("Pending", "Running") for r in stageruns(share, name))
    return phase if phase in ("Succeeded", "Paused", "Failed") and not active else None


def test_two_stage_pipeline_runs_end_to_end(node, share, tmp_path):
    (share / "settings").mkdir(parents=True, exist_ok=True)
    (share / "settings" / "env.yaml").write_text("A: global\nB: global\nC: global\nD: global\n")
    manifest = write_yaml(
        tmp_path / "demo.yaml",
        pipeline(
            "demo",
            stage(
                "produce",
                'echo "A=$A B=$B C=$C D=$D"; echo "made by produce" > /workspace/data.txt',
                env={"C": "stage", "D": "stage"},
            ),
            stage(
                "consume",
                'echo "consume read: $(cat /workspace/data.txt)"; echo changed > /workspace/data.txt;'
                " cp /workspace/data.txt /output/final.txt",
            ),
            env={"B": "pipeline", "C": "pipeline", "D": "pipeline"},
        ),
        project("demo-1", "demo", env={"D": "project"}),
    )
    out = winsctl(node.url, "apply", "-f", str(manifest)).stdout
    assert "pipeline/demo created" in out and "project/demo-1 created" in out
    specs_before = tree_digest(share / "pipelines", share / "projects")

    assert wait_for(lambda: finished(share, "demo-1"), 60, "the project to finish") == "Succeeded"

    runs = get_json(node.url, "stageruns", "--project", "demo-1")["items"]
    assert [(r["spec"]["stage"], r["status"]["phase"]) for r in runs] == [
        ("produce", "Succeeded"),
        ("consume", "Succeeded"),
    ]
    assert runs[0]["status"]["finishTime"] <= runs[1]["status"]["startTime"]
    first, second = (r["metadata"]["name"] for r in runs)
    logs_first = winsctl(node.url, "logs", first).stdout
    logs_second = winsctl(node.url, "logs", second).stdout
    assert "A=global B=pipeline C=stage D=project" in logs_first
    assert "consume read: made by produce" in logs_second
    assert runs[0]["spec"]["env"]["D"] == "project", "the StageRun records the env it ran with"
    workspaces = share / "workspaces" / "demo-1" / "stages"
    assert (workspaces / first / "data.txt").read_text() == "made by produce\n", "earlier workspace unchanged"
    assert (share / "workspaces" / "demo-1" / "output" / "final.txt").read_text() == "changed\n"
    assert tree_digest(share / "pipelines", share / "projects") == specs_before, (
        "controllers never write specs"
    )

    status = get_json(node.url, "project", "demo-1")["status"]
    assert status["phase"] == "Succeeded"
    assert [r["name"] for r in status["stageRuns"]] == [first, second]
    for c in containers(share, project="demo-1"):
        assert c["Labels"], "containers carry labels"
    assert {c["Labels"].split("winslow.stagerun=")[1].split(",")[0] for c in containers(share)} == {
        first,
        second,
    }
    described = winsctl(node.url, "describe", "project", "demo-1").stdout
    assert "produce" in described and "consume" in described


def test_failing_stage_stops_the_project(node, share, tmp_path):
    manifest = write_yaml(
        tmp_path / "fail.yaml",
        pipeline(
            "failing", stage("first", "echo about to fail; exit 3"), stage("never", "echo should not run")
        ),
        project("fail-1", "failing"),
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    wait_for(lambda: finished(share, "fail-1"), 60, "the project to stop")
    status = get_json(node.url, "project", "fail-1")["status"]
    assert status["phase"] != "Running"
    assert "first" in status["reason"] and "exit code 3" in status["reason"]
    runs = stageruns(share, "fail-1")
    assert [(r["spec"]["stage"], r["status"]["phase"], r["status"]["exitCode"]) for r in runs] == [
        ("first", "Failed", 3)
    ]
    assert "about to fail" in status["reason"], "the reason carries the last log lines"


def test_missing_image_fails_the_stagerun_with_a_message(node, share, tmp_path):
    manifest = write_yaml(
        tmp_path / "noimage.yaml",
        pipeline("noimage", {"name": "only", "image": "winslow/does-not-exist:1", "command": ["true"]}),
        project("noimage-1", "noimage"),
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    wait_for(lambda: finished(share, "noimage-1"), 60, "the project to stop")
    (run,) = stageruns(share, "noimage-1")
    assert run["status"]["phase"] == "Failed"
    assert "winslow/does-not-exist:1" in run["status"]["message"]


INVALID = {
    "unknown field": ({"stages": [{"name": "a", "image": "x", "colour": "red"}]}, "spec.stages[0].colour"),
    "missing image": ({"stages": [{"name": "a"}]}, "spec.stages[0].image"),
    "duplicate stage": ({"stages": [{"name": "a", "image": "x"}, {"name": "a", "image": "x"}]}, "used twice"),
    "bad quantity": ({"stages": [{"name": "a", "image": "x", "resources": {"memory": "16 GB"}}]}, "use 16Gi"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_manifests_are_refused_and_change_nothing(node, share, tmp_path, case):
    spec, expected = INVALID[case]
    good = write_yaml(tmp_path / "good.yaml", pipeline("good", stage("a", "true")))
    winsctl(node.url, "apply", "-f", str(good))
    before = tree_digest(share / "pipelines", share / "projects")
    bad = write_yaml(
        tmp_path / "bad.yaml",
        {"apiVersion": "winslow/v1", "kind": "Pipeline", "metadata": {"name": "bad"}, "spec": spec},
        pipeline("good", stage("a", "echo changed")),
    )
    result = winsctl(node.url, "apply", "-f", str(bad), check=False)
    assert result.returncode != 0
    assert expected in result.stderr and "bad.yaml" in result.stderr
    assert tree_digest(share / "pipelines", share / "projects") == before


def test_bad_name_and_unknown_pipeline_are_refused(node, share, tmp_path):
    bad_name = write_yaml(tmp_path / "name.yaml", pipeline("Bad_Name", stage("a", "true")))
    result = winsctl(node.url, "apply", "-f", str(bad_name), check=False)
    assert result.returncode != 0 and "metadata.name" in result.stderr and "bad-name" in result.stderr
    orphan = write_yaml(tmp_path / "orphan.yaml", project("orphan", "nope"))
    result = winsctl(node.url, "apply", "-f", str(orphan), check=False)
    assert (
        result.returncode != 0
        and "spec.pipeline" in result.stderr
        and "'nope' does not exist" in result.stderr
    )
    assert not list((share / "pipelines").glob("*.yaml")) and not list((share / "projects").glob("*.yaml"))


def test_hand_edited_manifest_is_picked_up(node, share):
    """Desired state is files: an editor or git writing into projects/ works like apply."""
    (share / "pipelines" / "hand.yaml").write_text(
        yaml.safe_dump(pipeline("hand", stage("a", "echo by hand")))
    )
    (share / "projects" / "hand-1.yaml").write_text(yaml.safe_dump(project("hand-1", "hand")))
    assert (
        wait_for(lambda: finished(share, "hand-1"), 60, "the hand-written project to finish") == "Succeeded"
    )
