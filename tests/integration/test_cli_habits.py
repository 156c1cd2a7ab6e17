"""Issue 11, item 7: the CLI habits people expect, against a real node and real Docker."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.harness import pipeline, project, project_status, stage, stageruns, wait_for, winsctl, write_yaml

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]


def token() -> str:
    return str(yaml.safe_load(Path(os.environ["WINSLOW_CONFIG"]).read_text())["token"])


def settled(share, name, phase="Succeeded"):
    active = any(r["status"]["phase"] in ("Pending", "Running") for r in stageruns(share, name))
    return project_status(share, name).get("phase") == phase and not active


def test_ls_mkdir_and_rm_work_on_the_share_like_their_shell_namesakes(node, share, tmp_path):
    assert winsctl(node.url, "ls").stdout.split() == ["resources/", "workspaces/"]
    nested = winsctl(node.url, "mkdir", "resources/flights/day1", check=False)
    assert nested.returncode == 1 and "use -p" in nested.stderr
    winsctl(node.url, "mkdir", "-p", "resources/flights/day1")
    assert (share / "resources" / "flights" / "day1").is_dir()
    again = winsctl(node.url, "mkdir", "resources/flights", check=False)
    assert again.returncode == 1 and "exists" in again.stderr
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x" * 3000)
    winsctl(node.url, "cp", "-q", str(clip), "resources/flights/day1/")
    assert winsctl(node.url, "ls", "resources/flights").stdout.split() == ["day1/"]
    assert winsctl(node.url, "ls", "resources/flights/day1").stdout.split() == ["clip.mp4"]
    long = winsctl(node.url, "ls", "-l", "resources/flights/day1").stdout.splitlines()
    assert long[0].split() == ["TYPE", "SIZE", "MODIFIED", "NAME"]
    assert long[1].split()[0] == "-" and long[1].split()[1] == "2.9Ki" and long[1].endswith("clip.mp4")
    listed = json.loads(winsctl(node.url, "ls", "resources/flights/day1", "-o", "json").stdout)
    assert [(e["name"], e["size"]) for e in listed["entries"]] == [("clip.mp4", 3000)]
    missing = winsctl(node.url, "ls", "resources/nothing", check=False)
    assert missing.returncode == 1 and "no such file or directory" in missing.stderr
    refused = winsctl(node.url, "rm", "resources/flights", check=False)
    assert refused.returncode == 1 and "use -r" in refused.stderr
    assert (share / "resources" / "flights" / "day1" / "clip.mp4").exists()
    winsctl(node.url, "rm", "resources/flights/day1/clip.mp4")
    assert not (share / "resources" / "flights" / "day1" / "clip.mp4").exists()
    winsctl(node.url, "rm", "-r", "resources/flights")
    assert not (share / "resources" / "flights").exists()
    gone = winsctl(node.url, "rm", "resources/flights", check=False)
    assert gone.returncode == 1 and "no such file" in gone.stderr
    winsctl(node.url, "rm", "-f", "resources/flights")
    outside = winsctl(node.url, "ls", "run/events", check=False)
    assert outside.returncode == 1 and "not a path on the share" in outside.stderr


def test_selectors_tags_wide_and_describe_show_what_people_filter_by(node, share, tmp_path):
    ulm = project("ulm", "two", tags=["drone", "4k"])
    ulm["metadata"]["labels"] = {"site": "ulm", "tier": "gpu"}
    bonn = project("bonn", "two", tags=["drone"])
    bonn["metadata"]["labels"] = {"site": "bonn"}
    manifest = write_yaml(
        tmp_path / "m.yaml", pipeline("two", stage("detect", "true"), stage("count", "true")), ulm, bonn
    )
    winsctl(node.url, "apply", "-f", str(manifest))

    def names(*args: str) -> list[str]:
        return winsctl(node.url, "get", "projects", *args, "-o", "name").stdout.split()

    assert names() == ["project/ulm", "project/bonn"]
    assert names("-l", "site=ulm") == ["project/ulm"]
    assert names("--selector", "site!=ulm") == ["project/bonn"]
    assert names("-l", "tier") == ["project/ulm"]
    assert names("-l", "!tier,site in (ulm,bonn)") == ["project/bonn"]
    assert names("--tag", "drone") == ["project/ulm", "project/bonn"]
    assert names("--tag", "drone", "--tag", "4k") == ["project/ulm"]
    bad = winsctl(node.url, "get", "projects", "-l", "site=", "-l", "a b", check=False)
    assert bad.returncode == 1 and "is not a requirement" in bad.stderr
    wide = winsctl(node.url, "get", "projects", "-o", "wide").stdout.splitlines()
    tags = wide[0].split().index("TAGS")
    assert [line.split()[tags] for line in wide[1:]] == ["drone,4k", "drone"]
    wait_for(lambda: settled(share, "ulm"), 90, "ulm to run both stages")
    described = winsctl(node.url, "describe", "project", "ulm").stdout
    assert "Tags:" in described and "drone, 4k" in described
    assert "Labels:" in described and "site=ulm" in described
    lines = described.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Stages (snapshot of pipeline two"))
    assert [line.split()[0] for line in lines[start + 2 : start + 4]] == ["detect", "count"]


def test_version_completion_and_help_examples(node, share, tmp_path):
    version = subprocess.run(
        [sys.executable, "-m", "winslow.api.winsctl", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("winsctl ")
    for args in ([], ["get"], ["cp"], ["delete"], ["completion"]):
        shown = subprocess.run(
            [sys.executable, "-m", "winslow.api.winsctl", *args, "--help"], capture_output=True, text=True
        )
        examples = shown.stdout.partition("\nExamples:\n")[2]
        assert shown.returncode == 0 and "winsctl " in examples.splitlines()[0], args
    winsctl(node.url, "apply", "-f", str(write_yaml(tmp_path / "m.yaml", pipeline("p", stage("a", "true")))))
    script = winsctl(node.url, "completion", "bash").stdout
    assert "complete -F _winsctl winsctl" in script

    def complete(*words: str) -> list[str]:
        """What bash offers for the last word, with `winsctl` talking to the test's node."""
        program = (
            f'winsctl() {{ "{sys.executable}" -m winslow.api.winsctl --server {node.url} "$@"; }}\n'
            f"source {tmp_path / 'completion.bash'}\n"
            f"COMP_WORDS=(winsctl {' '.join(repr(w) for w in words)}); COMP_CWORD={len(words)}\n"
            '_winsctl; printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return sorted(done.stdout.split())

    (tmp_path / "completion.bash").write_text(script)
    assert complete("ge") == ["get"]
    assert complete("get", "pi") == ["pipelines"]
    assert complete("get", "pipelines", "") == ["p"], "names come from the server"
    assert complete("apply", "--d") == ["--diff", "--dry-run"]
    assert complete("delete", "projects", "--p") == ["--purge"]
    assert complete("completion", "") == ["bash", "zsh"]
    assert complete("ls", "res") == ["resources/"]
    zsh = winsctl(node.url, "completion", "zsh").stdout
    assert zsh.startswith("#compdef winsctl") and "bashcompinit" in zsh


def test_logs_of_an_unknown_project_says_not_found(node, share):
    missing = winsctl(node.url, "logs", "no-such-project", check=False)
    assert missing.returncode != 0
    assert "project 'no-such-project' not found" in missing.stderr


def test_a_second_upload_to_the_same_path_says_upload_in_progress(node, share, tmp_path):
    """The first upload stalls mid-body (a slow link) and holds the file; the second is told why."""
    first = socket.create_connection(("127.0.0.1", node.port))
    head = (
        "PUT /api/v1/files/resources/clip.bin HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token()}\r\nContent-Length: 1000000\r\n\r\n"
    )
    first.sendall(head.encode() + b"x" * 1000)
    try:
        wait_for(lambda: (share / "resources" / ".clip.bin.upload").exists(), 10, "the first upload to begin")
        source = tmp_path / "clip.bin"
        source.write_bytes(b"y" * 100)
        second = winsctl(node.url, "cp", "-q", str(source), "resources/clip.bin", check=False)
        assert second.returncode == 1
        assert "resources/clip.bin: upload in progress" in second.stderr, second.stderr
        assert not (share / "resources" / "clip.bin").exists()
    finally:
        first.close()
    time.sleep(0.5)
    source.write_bytes(b"y" * 100)
    wait_for(
        lambda: winsctl(node.url, "cp", "-q", str(source), "resources/clip.bin", check=False).returncode == 0,
        30,
        "the upload to be free again",
    )
    assert (share / "resources" / "clip.bin").read_bytes() == b"y" * 100


def test_delete_warns_about_used_pipelines_and_purges_only_when_asked(node, share, tmp_path):
    manifest = write_yaml(
        tmp_path / "m.yaml",
        pipeline("keep", stage("one", "echo made > /workspace/out")),
        pipeline("slow", stage("wait", "sleep 60")),
        project("left", "keep"),
        project("purged", "keep"),
        project("busy", "slow"),
    )
    winsctl(node.url, "apply", "-f", str(manifest))
    wait_for(lambda: settled(share, "left") and settled(share, "purged"), 90, "both projects to run")

    used = winsctl(node.url, "delete", "pipeline", "keep")
    assert "pipeline/keep deleted" in used.stdout
    assert "warning: pipeline 'keep' is still named by project(s) left, purged" in used.stderr

    left = winsctl(node.url, "delete", "project", "left")
    assert "project/left deleted" in left.stdout
    assert "left on the share: workspaces/left (" in left.stdout and "logs/left (" in left.stdout
    assert "--purge" in left.stdout
    assert (share / "workspaces" / "left").is_dir() and (share / "logs" / "left").is_dir()

    purged = winsctl(node.url, "delete", "project", "purged", "--purge")
    assert "project/purged deleted" in purged.stdout and "removed workspaces/purged" in purged.stdout
    for folder in ("workspaces/purged", "logs/purged", "run/stageruns/purged"):
        assert not (share / folder).exists(), folder

    later = winsctl(node.url, "delete", "project", "left", "--purge")
    assert "purged what it left" in later.stdout
    assert not (share / "workspaces" / "left").exists()

    wait_for(lambda: project_status(share, "busy").get("phase") == "Running", 60, "the slow stage to run")
    refused = winsctl(node.url, "delete", "project", "busy", "--purge", check=False)
    assert refused.returncode == 1 and "still runs busy.1.wait" in refused.stderr
    assert (share / "projects" / "busy.yaml").exists(), "nothing was deleted"
    winsctl(node.url, "kill", "busy")
    wait_for(lambda: settled(share, "busy", "Paused") or settled(share, "busy", "Failed"), 60, "the kill")
    winsctl(node.url, "delete", "project", "busy", "--purge")
    assert not (share / "workspaces" / "busy").exists()
