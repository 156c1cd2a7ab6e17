import pytest

from winslow.resources.errors import ManifestError
from winslow.resources.manifest import parse_text
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project

PIPELINE = """
apiVersion: winslow/v1
kind: Pipeline
metadata: {name: demo}
spec:
  env: {A: 1, B: true}
  stages:
    - name: detect
      image: busybox
      resources: {cpu: 2, memory: 16Gi, gpu: 1}
    - name: analyse
      image: busybox
      confirm: true
"""


def errors_of(text: str, source: str = "pipelines/demo.yaml") -> str:
    with pytest.raises(ManifestError) as caught:
        parse_text(text, source)
    return str(caught.value)


def test_valid_pipeline_parses_with_typed_fields():
    (pipeline,) = parse_text(PIPELINE, "pipelines/demo.yaml")
    assert isinstance(pipeline, Pipeline)
    assert pipeline.spec.env == {"A": "1", "B": "true"}
    assert pipeline.spec.stages[0].resources.memory_bytes == 16 << 30
    assert pipeline.spec.stages[1].confirm


def test_unknown_field_names_the_path():
    message = errors_of(PIPELINE.replace("confirm: true", "confrim: true"))
    assert "pipelines/demo.yaml: spec.stages[1].confrim: unknown field" in message


def test_missing_image():
    message = errors_of(PIPELINE.replace("      image: busybox\n      confirm", "      confirm"))
    assert "spec.stages[1].image: is required" in message


def test_blank_image():
    message = errors_of(PIPELINE.replace("image: busybox\n      confirm", "image: ' '\n      confirm"))
    assert "spec.stages[1].image" in message and "name the container image" in message


def test_duplicate_stage_names():
    message = errors_of(PIPELINE.replace("name: analyse", "name: detect"))
    assert "spec.stages" in message and "'detect' is used twice" in message


def test_bad_quantity_suggests_spelling():
    message = errors_of(PIPELINE.replace("memory: 16Gi", "memory: 16 GB"))
    assert "spec.stages[0].resources.memory: '16 GB' is not a quantity; use 16Gi" in message


def test_name_not_dns_label():
    message = errors_of(PIPELINE.replace("name: demo", "name: My_Demo"))
    assert "metadata.name" in message and "'my-demo'" in message


def test_wrong_api_version_and_kind():
    assert "apiVersion" in errors_of(PIPELINE.replace("winslow/v1", "v1"))
    assert "kind" in errors_of(PIPELINE.replace("kind: Pipeline", "kind: Pipe"))


def test_yaml_syntax_error_names_line():
    assert "line" in errors_of("apiVersion: [\n")


def test_project_needs_pipeline_or_stages():
    text = "apiVersion: winslow/v1\nkind: Project\nmetadata: {name: p}\nspec: {env: {}}\n"
    assert "set `pipeline: NAME`" in errors_of(text, "projects/p.yaml")
    (project,) = parse_text(text.replace("spec: {env: {}}", "spec: {pipeline: demo}"), "projects/p.yaml")
    assert isinstance(project, Project)


def test_multi_document_errors_name_the_document():
    message = errors_of(
        PIPELINE + "---\n" + PIPELINE.replace("image: busybox", "image: busybox\n      bad: 1", 1)
    )
    assert "[document 1]" in message


def test_a_stage_has_a_process_limit_of_its_own_or_the_default():
    (pipeline,) = parse_text(PIPELINE.replace("gpu: 1}", "gpu: 1, pids: 20000}"), "pipelines/demo.yaml")
    assert isinstance(pipeline, Pipeline)
    assert [s.resources.pids for s in pipeline.spec.stages] == [20000, 4096]
    message = errors_of(PIPELINE.replace("gpu: 1}", "gpu: 1, pids: 3}"))
    assert "spec.stages[0].resources.pids" in message
