"""Manifests that explain themselves, on a real node: `winsctl explain`, `apply` errors at the line
of the file with the field meant, and the warning for an image no node has."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.harness import IMAGE, NodeProcess, wait_for, winsctl

pytestmark = [pytest.mark.docker, pytest.mark.timeout(120)]

BAD = f"""\
apiVersion: winslow/v1
kind: Pipeline
metadata:
  name: traffic
spec:
  stages:
    - name: detect
      image: {IMAGE}
      command: [sh, -c, "echo hi"]
      timeoutSecnds: 60
"""


def test_explain_prints_the_stage_fields() -> None:
    out = winsctl("http://127.0.0.1:9", "explain", "pipeline.spec.stages").stdout  # no server needed
    for field in ("name", "image", "command", "confirm", "retry", "workspace", "timeoutSeconds"):
        assert f"\n  {field}  <" in out


def test_apply_names_the_line_and_the_field_meant_and_writes_nothing(
    node: NodeProcess, share: Path, tmp_path: Path
) -> None:
    path = tmp_path / "traffic.yaml"
    path.write_text(BAD)
    result = winsctl(node.url, "apply", "-f", str(path), check=False)
    assert result.returncode == 1
    assert (
        f"error: {path}:10:7: spec.stages[0].timeoutSecnds: unknown field; did you mean `timeoutSeconds`?"
        in result.stderr
    )
    assert not (share / "pipelines" / "traffic.yaml").exists()

    path.write_text(BAD.replace("timeoutSecnds: 60", "timeoutSeconds: ten"))
    result = winsctl(node.url, "apply", "-f", str(path), check=False)
    assert (
        f"{path}:10:7: spec.stages[0].timeoutSeconds: expected a number of seconds, got 'ten'"
        in result.stderr
    )
    assert "Input should" not in result.stderr


def test_apply_warns_when_no_live_node_has_the_image(node: NodeProcess, share: Path, tmp_path: Path) -> None:
    node_file = share / "run" / "nodes" / f"{node.name}.yaml"

    def images() -> list[str] | None:
        try:
            found = yaml.safe_load(node_file.read_text())["status"].get("images")
        except (OSError, TypeError, KeyError, yaml.YAMLError):
            return None
        return [tag for image in found for tag in image["tags"]] if found is not None else None

    assert IMAGE in wait_for(images, 30, "the node to publish its images")
    path = tmp_path / "traffic.yaml"
    doc = yaml.safe_load(BAD.replace("timeoutSecnds", "timeoutSeconds"))
    doc["spec"]["stages"].append({"name": "analyse", "image": "winslow-test/nowhere:1", "command": ["true"]})
    path.write_text(yaml.safe_dump(doc))
    result = winsctl(node.url, "apply", "-f", str(path))
    assert result.stdout == "pipeline/traffic created\n"
    assert (
        "warning: pipeline/traffic: stage analyse: no live node has image 'winslow-test/nowhere:1' yet; "
        "the node that runs the stage will pull it when the stage starts"
    ) in result.stderr
    assert IMAGE not in result.stderr
