"""Issue 11, item 3: files that people own stay theirs.

A lab keeps `pipelines/` and `projects/` under git on the share. What a node writes on a user's
behalf (pause, resume, confirm, env, apply) changes only the fields it must, so `git diff` shows
the action, and the file's comments, key order, quoting and layout stay.
"""

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import IMAGE, project_status, wait_for, winsctl

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]

PIPELINE = f"""# the two-stage check, hand-written
apiVersion: winslow/v1
kind: Pipeline
metadata: {{name: gate}}
spec:
    stages:
        -   name: prepare
            image: "{IMAGE}"
            command: ["sh", "-c", "true"]
            resources: {{cpu: 100m, memory: 32Mi}}
        -   name: review   # a person looks first
            image: '{IMAGE}'
            command: [sh, -c, "true"]
            resources: {{cpu: 100m, memory: 32Mi}}
            confirm: yes
"""

PROJECT = """# Ulm junction, flight of 2024-05-14
apiVersion: winslow/v1
kind: Project
metadata:
  name: ulm   # the junction
  labels: {site: "ulm"}
spec:
  pipeline: gate

  # tuning
  env:
    MIN_TRACK_LENGTH: "30"   # frames
    MODE: 'fast'
  tags: [drone, "4k"]
"""


def git(share: Path, *args: str) -> str:
    found = subprocess.run(
        ["git", "-c", "user.name=lab", "-c", "user.email=lab@example.org", *args],
        cwd=share,
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout


def changes(share: Path) -> list[str]:
    """The lines `git diff` shows for the project's file since the last commit, then commits them."""
    diff = git(share, "diff", "-U0", "--", "projects/ulm.yaml").splitlines()
    git(share, "commit", "-qam", "step")
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def without_generation(lines: list[str]) -> list[str]:
    """The generation rises with every write (nodes wait for the version the log names)."""
    return [line for line in lines if not line[1:].strip().startswith("generation:")]


def waiting_for_confirmation(share: Path) -> bool:
    status = project_status(share, "ulm")
    return status.get("phase") == "Waiting" and "confirmation" in status.get("reason", "")


@pytest.fixture
def under_git(node, share: Path) -> Path:
    (share / "pipelines" / "gate.yaml").write_text(PIPELINE)
    (share / "projects" / "ulm.yaml").write_text(PROJECT)
    git(share, "init", "-q")
    git(share, "add", "pipelines", "projects")
    git(share, "commit", "-qm", "the lab's manifests")
    wait_for(lambda: waiting_for_confirmation(share), 60, "the hand-written project to wait at its gate")
    return share


def test_actions_change_only_their_fields_and_git_diff_shows_just_that(node, under_git):
    share = under_git
    winsctl(node.url, "set", "env", "ulm", "MIN_TRACK_LENGTH=40", "MODE-")
    assert without_generation(changes(share)) == [
        '-    MIN_TRACK_LENGTH: "30"   # frames',
        "-    MODE: 'fast'",
        '+    MIN_TRACK_LENGTH: "40"   # frames',
    ]
    winsctl(node.url, "confirm", "ulm")
    confirmed = without_generation(changes(share))
    assert confirmed[:2] == ["+  confirm:", "+    stage: review"]
    assert len(confirmed) == 4 and confirmed[2].startswith("+    requestedAt: ")
    assert confirmed[3] == "+    by: admin", "who confirmed is recorded"
    wait_for(lambda: project_status(share, "ulm").get("phase") == "Succeeded", 60, "the confirmed stage")
    winsctl(node.url, "pause", "ulm")
    assert without_generation(changes(share)) == ["+  paused: true"]
    winsctl(node.url, "resume", "ulm")
    resumed = without_generation(changes(share))
    assert resumed[:2] == ["-  paused: true", "+  runFrom:"], "a resume is recorded as a request"
    assert len(resumed) == 4 and resumed[2].startswith("+    requestedAt: ")
    assert resumed[3] == "+    by: admin"
    text = (share / "projects" / "ulm.yaml").read_text()
    assert text.startswith("# Ulm junction, flight of 2024-05-14\n")
    assert "  name: ulm   # the junction\n" in text and '  labels: {site: "ulm"}\n' in text
    assert "\n  # tuning\n" in text and '  tags: [drone, "4k"]\n' in text
    assert (share / "pipelines" / "gate.yaml").read_text() == PIPELINE, "no action touches the pipeline"


def test_apply_says_unchanged_keeps_what_actions_set_and_diff_exits_like_kubectl(node, under_git, tmp_path):
    share = under_git
    local = tmp_path / "ulm.yaml"
    local.write_text(PROJECT)
    assert winsctl(node.url, "apply", "-f", str(local)).stdout.strip() == "project/ulm configured", (
        "a hand-written project gets its owner when someone applies it"
    )
    assert without_generation(changes(share)) == ["+  owner: admin"]
    assert winsctl(node.url, "apply", "-f", str(local)).stdout.strip() == "project/ulm unchanged"

    exported = tmp_path / "exported.yaml"
    exported.write_text(winsctl(node.url, "get", "project", "ulm", "-o", "yaml").stdout)
    assert winsctl(node.url, "apply", "-f", str(exported)).stdout.strip() == "project/ulm unchanged", (
        "what the server sets (status, uid, generation, creation time) is no change"
    )

    winsctl(node.url, "pause", "ulm")
    changes(share)
    applied = winsctl(node.url, "apply", "-f", str(local))
    assert applied.stdout.splitlines()[0] == "project/ulm unchanged"
    assert "kept spec.paused" in applied.stdout, "apply says it kept the pause it does not manage"
    assert yaml.safe_load((share / "projects" / "ulm.yaml").read_text())["spec"]["paused"] is True

    same = winsctl(node.url, "apply", "-f", str(local), "--diff", check=False)
    assert same.returncode == 0, same.stderr
    local.write_text(PROJECT.replace('"30"', '"35"').replace("    MODE: 'fast'\n", ""))
    before = (share / "projects" / "ulm.yaml").read_text()
    differs = winsctl(node.url, "apply", "-f", str(local), "--diff", check=False)
    assert differs.returncode == 1, differs.stderr
    assert '-    MIN_TRACK_LENGTH: "30"   # frames' in differs.stdout.splitlines()
    assert '+    MIN_TRACK_LENGTH: "35"   # frames' in differs.stdout.splitlines()
    assert "spec.env.MODE" in differs.stderr, "a field the file drops is named, not silently removed"
    assert (share / "projects" / "ulm.yaml").read_text() == before, "--diff writes nothing"
    broken = winsctl(node.url, "apply", "-f", str(tmp_path / "missing.yaml"), "--diff", check=False)
    assert broken.returncode == 2, "errors exit 2, as kubectl diff's do"

    winsctl(node.url, "apply", "-f", str(local))
    assert without_generation(changes(share)) == [
        '-    MIN_TRACK_LENGTH: "30"   # frames',
        "-    MODE: 'fast'",
        '+    MIN_TRACK_LENGTH: "35"   # frames',
    ]
