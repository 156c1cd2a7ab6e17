"""winsctl's habits against a fake API: help examples, selectors, completion, diff exit codes,
what delete and apply say, and uploads that meet another one."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.api.winsctl.test_unit import Fake, as_list, run
from winslow.api.winsctl import completion, selector
from winslow.api.winsctl.cli import build_parser
from winslow.api.winsctl.completion import subparsers


def every_parser(parser: argparse.ArgumentParser, path: str = "winsctl"):
    yield path, parser
    for name, sub in subparsers(parser).items():
        yield from every_parser(sub, f"{path} {name}")


def test_every_help_shows_examples_of_its_own_command():
    for path, parser in every_parser(build_parser()):
        text = parser.format_help()
        assert "\nExamples:\n" in text, f"{path} --help has no examples"
        examples = text.partition("\nExamples:\n")[2].splitlines()
        assert any(path.split()[-1] in line for line in examples), f"{path}: examples of another command"


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit:
        build_parser().parse_args(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.startswith("winsctl ")


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("site=ulm", {"site": "ulm"}, True),
        ("site==ulm", {"site": "bonn"}, False),
        ("site!=ulm", {}, True),
        ("tier", {"tier": ""}, True),
        ("!tier", {"tier": "gpu"}, False),
        ("site in (ulm, bonn),tier", {"site": "bonn", "tier": "x"}, True),
        ("site notin (ulm,bonn)", {"site": "ulm"}, False),
        ("app.kubernetes.io/name=x", {"app.kubernetes.io/name": "x"}, True),
    ],
)
def test_selectors_as_kubectl_reads_them(text, labels, expected):
    assert selector.matches(selector.parse(text), labels) is expected


@pytest.mark.parametrize("text", ["", "a=b,", "a b", "a in b", "=x", "a=(b)"])
def test_a_broken_selector_names_the_part(text):
    with pytest.raises(selector.SelectorError):
        selector.parse(text)


label = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)


@given(st.dictionaries(label, label, max_size=4), label, label)
def test_equality_and_inequality_split_every_label_set(labels, key, value):
    equal = selector.matches(selector.parse(f"{key}={value}"), labels)
    unequal = selector.matches(selector.parse(f"{key}!={value}"), labels)
    assert equal != unequal
    assert equal == (labels.get(key) == value)


def test_completion_covers_every_command_and_bash_reads_it(tmp_path):
    script = completion.script(build_parser(), "bash")
    for name in subparsers(build_parser()):
        assert f"        {name}) options=" in script
    (tmp_path / "c.bash").write_text(script)
    assert subprocess.run(["bash", "-n", str(tmp_path / "c.bash")]).returncode == 0
    assert completion.script(build_parser(), "zsh").startswith("#compdef winsctl\n")


def apply_reply(*results: dict) -> httpx.Response:
    return httpx.Response(200, json={"dryRun": True, "results": list(results)})


def manifest(tmp_path: Path) -> str:
    path = tmp_path / "m.yaml"
    path.write_text("kind: Project\nmetadata: {name: ulm}\n")
    return str(path)


def test_apply_diff_exits_like_kubectl_diff(tmp_path, capsys):
    same = Fake(
        {("POST", "/api/v1/apply"): apply_reply({"kind": "Project", "name": "ulm", "result": "unchanged"})}
    )
    code, out, _ = run(same, ["apply", "-f", manifest(tmp_path), "--diff"], capsys)
    assert code == 0 and out == "project/ulm unchanged (dry run)\n"
    assert json.loads(same.requests[0].content)["dryRun"] is True, "--diff writes nothing"
    failing = Fake({("POST", "/api/v1/apply"): httpx.Response(422, json={"detail": "spec.x: unknown"})})
    code, _, err = run(failing, ["apply", "-f", manifest(tmp_path), "--diff"], capsys)
    assert code == 2 and "spec.x: unknown" in err


def test_apply_names_what_it_removes_and_what_it_keeps(tmp_path, capsys):
    result = {
        "kind": "Project",
        "name": "ulm",
        "result": "updated",
        "diff": "-  members: [a]\n",
        "kept": ["spec.paused"],
        "removed": ["spec.members"],
    }
    fake = Fake({("POST", "/api/v1/apply"): httpx.Response(200, json={"dryRun": False, "results": [result]})})
    code, out, err = run(fake, ["apply", "-f", manifest(tmp_path)], capsys)
    assert code == 0
    assert out.splitlines()[0] == "project/ulm configured"
    assert "kept spec.paused" in out
    assert "warning: project/ulm: the file does not mention spec.members; they were removed" in err


def test_delete_says_what_it_left_warned_and_purged(capsys):
    fake = Fake(
        {
            ("DELETE", "/api/v1/pipelines/traffic"): httpx.Response(
                200,
                json={
                    "deleted": "traffic",
                    "warnings": ["pipeline 'traffic' is still named by project(s) ulm"],
                },
            ),
            ("DELETE", "/api/v1/projects/ulm"): lambda request: httpx.Response(
                200,
                json={"deleted": "ulm", "warnings": [], "purged": ["workspaces/ulm"]}
                if request.url.params.get("purge") == "true"
                else {"deleted": "ulm", "warnings": [], "left": ["workspaces/ulm (3 files, 1.0 KiB)"]},
            ),
        }
    )
    code, out, err = run(fake, ["delete", "pipeline", "traffic"], capsys)
    assert code == 0 and "warning: pipeline 'traffic' is still named by project(s) ulm" in err
    code, out, _ = run(fake, ["delete", "project", "ulm"], capsys)
    assert "left on the share: workspaces/ulm (3 files, 1.0 KiB)" in out and "--purge" in out
    code, out, _ = run(fake, ["delete", "project", "ulm", "--purge"], capsys)
    assert "removed workspaces/ulm" in out
    code, _, err = run(fake, ["delete", "pipeline", "traffic", "--purge"], capsys)
    assert code == 1 and "pipelines have none" in err


def test_logs_of_an_unknown_project_is_not_found(capsys):
    fake = Fake({("GET", "/api/v1/stageruns"): httpx.Response(200, json=as_list())})
    code, _, err = run(fake, ["logs", "nope"], capsys)
    assert code == 1 and "project 'nope' not found" in err


def test_filters_are_checked_before_any_request(capsys):
    fake = Fake({})
    code, _, err = run(fake, ["get", "nodes", "--tag", "x"], capsys)
    assert code == 1 and "nodes have no tags" in err
    code, _, err = run(fake, ["get", "projects", "ulm", "-l", "a=b"], capsys)
    assert code == 1 and "give one or the other" in err
    assert fake.requests == []


def test_a_second_upload_is_told_another_one_is_in_progress(tmp_path, capsys):
    source = tmp_path / "clip.bin"
    source.write_bytes(b"x")
    busy_head = Fake(
        {
            ("HEAD", "/api/v1/files/resources/clip.bin"): lambda request: httpx.Response(
                409 if request.url.params.get("upload") else 404
            )
        }
    )
    code, _, err = run(busy_head, ["cp", "-q", str(source), "resources/clip.bin"], capsys)
    assert code == 1 and "error: resources/clip.bin: upload in progress" in err
    busy_put = Fake(
        {
            ("HEAD", "/api/v1/files/resources/clip.bin"): httpx.Response(404),
            ("HEAD", "/api/v1/files/resources"): httpx.Response(200, headers={"X-Winslow-Type": "directory"}),
            ("PUT", "/api/v1/files/resources/clip.bin"): httpx.Response(
                409, json={"detail": "another upload of this file is in progress; try again when it ends"}
            ),
        }
    )
    code, _, err = run(busy_put, ["cp", "-q", str(source), "resources/clip.bin"], capsys)
    assert code == 1 and "error: resources/clip.bin: upload in progress" in err
