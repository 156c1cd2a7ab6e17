"""winsctl explain (offline) and apply's errors at the lines of the user's files, against a fake API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.api.winsctl.test_unit import Fake, run
from winslow.api.winsctl import located

pytestmark = pytest.mark.timeout(60)

TEXT = """\
apiVersion: winslow/v1
kind: Pipeline
metadata:
  name: traffic
spec:
  stages:
    - name: detect
      image: busybox:1.36
      timeoutSecnds: 10
"""


def test_explain_needs_no_server(capsys: pytest.CaptureFixture[str]) -> None:
    fake = Fake({})
    code, out, err = run(fake, ["explain", "pipeline.spec.stages"], capsys)
    assert code == 0, err
    assert "timeoutSeconds  <number (more than 0)>" in out and "confirm  <boolean>" in out
    assert fake.requests == []


def test_explain_an_unknown_field_suggests_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(Fake({}), ["explain", "pipeline.spec.stages.confrim"], capsys)
    assert code == 1 and out == ""
    assert "error: pipeline.spec.stages has no field 'confrim'; did you mean `confirm`?" in err


def test_apply_names_file_line_and_column_of_a_schema_mistake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "traffic.yaml"
    path.write_text(TEXT)
    problem = {
        "field": "spec.stages[0].timeoutSecnds",
        "message": "unknown field; did you mean `timeoutSeconds`?",
    }
    answer = httpx.Response(422, json={"detail": "x", "problems": [problem]})
    code, _, err = run(Fake({("POST", "/api/v1/apply"): answer}), ["apply", "-f", str(path)], capsys)
    assert code == 1
    assert (
        f"error: {path}:9:7: spec.stages[0].timeoutSecnds: unknown field; did you mean `timeoutSeconds`?"
        in err
    )


def test_apply_of_several_files_places_each_problem_in_its_own_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    texts = {
        str(first): TEXT,
        str(second): "---\n" + TEXT + "---\n" + TEXT.replace("timeoutSecnds", "confirm"),
    }
    origins = [(str(first), 0, 1), (str(second), 0, 2), (str(second), 1, 2)]
    source = "a.yaml,b.yaml"
    problems = [
        {"field": f"{source}[document 1]: spec.stages[0].timeoutSecnds", "message": "unknown field"},
        {"field": f"{source}[document 2]: spec.stages[0].confirm", "message": "expected true or false"},
        {"field": "project x: spec.pipeline", "message": "pipeline 'y' does not exist"},
    ]
    assert located.render(problems, source, origins, texts) == "\n".join(
        [
            f"{second}:10:7: spec.stages[0].timeoutSecnds: unknown field",
            f"{second}:20:7: spec.stages[0].confirm: expected true or false",
            f"{source}: project x: spec.pipeline: pipeline 'y' does not exist",
        ]
    )


def test_apply_rewrites_yaml_syntax_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(TEXT.replace("      timeoutSecnds: 10\n", "     timeoutSeconds: 10\n"))
    fake = Fake({})
    code, _, err = run(fake, ["apply", "-f", str(path)], capsys)
    assert code == 1 and fake.requests == []
    assert f"error: {path}:9:6: invalid YAML: this line is indented differently" in err
    assert "<block end>" not in err


def test_apply_prints_the_servers_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(TEXT.replace("timeoutSecnds", "timeoutSeconds"))
    reply = {
        "dryRun": False,
        "results": [{"kind": "Pipeline", "name": "traffic", "result": "created"}],
        "warnings": ["pipeline/traffic: stage detect: no live node has image 'busybox:1.36' yet"],
    }
    fake = Fake({("POST", "/api/v1/apply"): httpx.Response(200, json=reply)})
    code, out, err = run(fake, ["apply", "-f", str(path)], capsys)
    assert code == 0
    assert out == "pipeline/traffic created\n"
    assert "warning: pipeline/traffic: stage detect: no live node has image 'busybox:1.36' yet" in err
