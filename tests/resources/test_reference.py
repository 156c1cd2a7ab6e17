"""resources.reference and resources.schema: the field reference and `explain`, from the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from winslow.resources import reference, schema
from winslow.resources.manifest import parse_text
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project

pytestmark = pytest.mark.timeout(60)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "manifests.md"


def test_docs_manifests_md_is_what_the_models_generate() -> None:
    assert DOCS.read_text() == reference.markdown(), (
        "docs/manifests.md is out of date with the models; run "
        "`python3 -m winslow.resources.reference > docs/manifests.md`"
    )


def walk(model: type, seen: set[type] | None = None) -> list[tuple[str, schema.FieldDoc]]:
    seen = seen or {model}
    found = []
    for field in schema.fields_of(model):
        found.append((model.__name__, field))
        if field.model is not None and field.model not in seen:
            found += walk(field.model, seen | {field.model})
    return found


@pytest.mark.parametrize("kind", [Pipeline, Project])
def test_every_field_users_write_says_what_it_is_for(kind: type) -> None:
    undocumented = [f"{owner}.{f.name}" for owner, f in walk(kind) if not f.description]
    assert undocumented == []


def test_reference_uses_the_names_users_write_with_types_and_defaults() -> None:
    text = reference.markdown()
    for row in (
        "| `timeoutSeconds` | number (more than 0) | — |",
        "| `confirm` | boolean | `false` |",
        "| `backoffSeconds` | number (at least 0) | `10.0` |",
        '| `mode` | one of incremental, standalone, continuation | `"incremental"` |',
        "| `name` | name (lowercase letters, digits and '-', at most 63) | **required** |",
    ):
        assert row in text
    assert "### `pipeline.spec.stages[].workspace`" in text
    assert "### `project.spec.runFrom`" in text
    assert "## StageRun" in text
    assert "timeout_seconds" not in text


def test_explain_stages_lists_each_field_with_type_default_and_description() -> None:
    text = schema.explain("pipeline.spec.stages")
    assert "KIND:     Pipeline" in text
    for field in ("name", "image", "command", "args", "env", "resources", "confirm", "retry", "workspace"):
        assert f"\n  {field}  <" in text
    assert "  timeoutSeconds  <number (more than 0)>" in text
    assert "  confirm  <boolean>\n    wait for a user's" in text
    assert "default: false" in text


def test_explain_a_kind_and_a_leaf() -> None:
    assert "  spec  <object>  -required-" in schema.explain("project")
    assert "  metadata  <object>  -required-" in schema.explain("Projects")
    leaf = schema.explain("pipeline.spec.stages[0].workspace.mode")
    assert "FIELD:    mode <one of incremental, standalone, continuation>" in leaf
    assert "FIELDS:" not in leaf


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (
            "pipeline.spec.stage",
            "pipeline.spec has no field 'stage'; did you mean `stages`? Fields: env, stages",
        ),
        ("pipeline.spec.stages.timeoutsecond", "did you mean `timeoutSeconds`?"),
        ("pipline", "unknown kind 'pipline'; did you mean `pipeline`?"),
        ("pipeline.spec.stages.image.tag", "pipeline.spec.stages.image is a string; it has no field 'tag'"),
        ("project.spec.zzz", "Fields: pipeline, stages, env"),
    ],
)
def test_explain_an_unknown_path_names_the_valid_ones(path: str, words: str) -> None:
    with pytest.raises(schema.UnknownPath) as caught:
        schema.explain(path)
    assert words in str(caught.value)


@pytest.mark.parametrize("kind", sorted(reference.EXAMPLES))
def test_the_reference_examples_are_valid_manifests(kind: str) -> None:
    (manifest,) = parse_text(reference.EXAMPLES[kind], f"example {kind}")
    assert manifest.kind == kind
