"""resources.wording: manifest mistakes in the project's words, at their line, with the field meant."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from winslow.resources.errors import InvalidFileError, ManifestError
from winslow.resources.limits import manifest_limits
from winslow.resources.manifest import parse_text
from winslow.resources.pipeline import Pipeline
from winslow.resources.wording import documents, locate, path_parts, yaml_problem
from winslow.resources.yamldecode import decode, invalid_from

pytestmark = pytest.mark.timeout(60)

GOOD_STAGE = "    - name: detect\n      image: busybox:1.36\n"


def pipeline_text(stage_lines: str) -> str:
    return (
        "apiVersion: winslow/v1\nkind: Pipeline\nmetadata:\n  name: traffic\nspec:\n  stages:\n"
        + GOOD_STAGE
        + stage_lines
    )


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ManifestError) as caught:
        parse_text(text, "traffic.yaml")
    return caught.value.problems


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        (
            "      timeoutSeconds: ten\n",
            "spec.stages[0].timeoutSeconds",
            "expected a number of seconds, got 'ten'",
        ),
        ("      retry: {count: two}\n", "spec.stages[0].retry.count", "expected a whole number, got 'two'"),
        (
            "      timeoutSecnds: 10\n",
            "spec.stages[0].timeoutSecnds",
            "unknown field; did you mean `timeoutSeconds`?",
        ),
        ("      retry: {cont: 2}\n", "spec.stages[0].retry.cont", "unknown field; did you mean `count`?"),
        ("      confirm: maybe\n", "spec.stages[0].confirm", "expected true or false, got 'maybe'"),
        (
            "      command: echo hi\n",
            "spec.stages[0].command",
            "expected a list, got 'echo hi'; a command is a list",
        ),
        ("      args: [--fps, 25]\n", "spec.stages[0].args[1]", "expected text, got 25; put it in quotes"),
        (
            "      workspace: {mode: standlone}\n",
            "spec.stages[0].workspace.mode",
            "expected one of incremental, standalone, continuation, got 'standlone'; "
            "did you mean `standalone`?",
        ),
        ("      timeoutSeconds: -1\n", "spec.stages[0].timeoutSeconds", "must be more than 0, got -1"),
        (
            "      resources: {memory: 16 GB}\n",
            "spec.stages[0].resources.memory",
            "'16 GB' is not a quantity; use 16Gi",
        ),
        (
            "      zzzzzz: 1\n",
            "spec.stages[0].zzzzzz",
            "unknown field; the fields here are name, image, command",
        ),
    ],
)
def test_schema_mistakes_are_said_in_the_projects_words(extra: str, field: str, message: str) -> None:
    found = problems(pipeline_text(extra))
    assert len(found) == 1, found
    assert found[0][0] == field
    assert found[0][1].startswith(message), found[0][1]
    assert "Input should" not in found[0][1]


def test_a_missing_field_points_at_explain() -> None:
    text = "apiVersion: winslow/v1\nkind: Pipeline\nmetadata:\n  name: t\nspec:\n  stages:\n    - name: a\n"
    assert problems(text) == [
        ("spec.stages[0].image", "is required (see `winsctl explain pipeline.spec.stages.image`)")
    ]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "a:\n  b: 1\n c: 2\n",
            3,
            "indented differently from the mapping it belongs to (it starts at line 1)",
        ),
        ("spec:\n  stages:\n  - name: a\n    image: b\n   ? c\n", 5, "indented differently"),
        ("command: echo a: b\n", 1, "a `: ` inside a value"),
        ("a:\n\tb: 1\n", 2, "a tab character; YAML is indented with spaces only"),
        ('a: "abc\nb: 2\n', 3, "a quote that is never closed (it starts at line 1)"),
        ("a: [1, 2\nb: 3\n", 2, "a missing `,`, `]` or `}`"),
    ],
)
def test_yaml_syntax_errors_are_rewritten_with_line_and_column(text: str, line: int, words: str) -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        yaml.safe_load(text)
    assert words in yaml_problem(caught.value)
    found = problems(text)
    assert found[0][1].startswith(f"line {line}, column "), found
    assert "<block end>" not in found[0][1] and "found '?'" not in found[0][1]


def test_locate_finds_the_key_of_a_field_and_the_parent_of_a_missing_one() -> None:
    text = "---\n" + pipeline_text("      timeoutSecnds: 10\n")
    root = documents(text)[0]
    assert locate(root, path_parts("spec.stages[0].timeoutSecnds")) == (10, 7)
    assert locate(root, path_parts("spec.stages[0].image")) == (9, 7)
    assert locate(root, path_parts("spec.stages[0].retry")) == (8, 7)  # the item, where retry would go
    assert path_parts("spec.stages[12].x") == ["spec", "stages", 12, "x"]


def test_a_file_on_the_share_gets_the_did_you_mean_but_never_its_values() -> None:
    text = pipeline_text("      timeoutSecnds: 10\n      timeoutSeconds: ten\n")
    document = decode(text.encode(), "pipelines/traffic.yaml", manifest_limits())
    with pytest.raises(ValidationError) as caught:
        Pipeline.model_validate(document)
    error = invalid_from(caught.value, "pipelines/traffic.yaml", text, document)
    assert isinstance(error, InvalidFileError)
    rendered = error.render()
    assert (
        "pipelines/traffic.yaml: line 9: spec.stages[0].timeoutSecnds: unknown field; "
        "did you mean `timeoutSeconds`?" in rendered
    )
    assert "line 10: spec.stages[0].timeoutSeconds: expected a number of seconds" in rendered
    assert "ten" not in rendered
