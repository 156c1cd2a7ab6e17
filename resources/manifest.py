"""Turning YAML text into typed manifests, with errors that name the file, the field and the fix."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from winslow.resources.base import API_VERSION
from winslow.resources.errors import ManifestError
from winslow.resources.node import Node
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project
from winslow.resources.quota import Quota
from winslow.resources.stagerun import StageRun
from winslow.resources.wording import field_path, problem_loc, schema_problem, yaml_problem, yaml_where

Manifest = Pipeline | Project | Quota | StageRun | Node
KINDS: dict[str, type[Manifest]] = {
    "Pipeline": Pipeline,
    "Project": Project,
    "Quota": Quota,
    "StageRun": StageRun,
    "Node": Node,
}
USER_KINDS = ("Pipeline", "Project", "Quota")


def _problem(error: Any, model: type[Manifest] | None = None) -> tuple[str, str]:
    """The field path and what is wrong, in the project's words (resources.wording)."""
    return field_path(problem_loc(error)), schema_problem(error, model)


def parse(data: Any, source: str, kinds: tuple[str, ...] = tuple(KINDS)) -> Manifest:
    """Validate one decoded document; `source` names where it came from, for the message."""
    if not isinstance(data, dict):
        raise ManifestError.single(source, "", "is not a mapping; a manifest starts with `apiVersion:`")
    kind = data.get("kind")
    if data.get("apiVersion") != API_VERSION:
        raise ManifestError.single(
            source, "apiVersion", f"{data.get('apiVersion')!r} is not supported; use {API_VERSION}"
        )
    if kind not in kinds:
        raise ManifestError.single(source, "kind", f"{kind!r} is not one of {', '.join(kinds)}")
    try:
        return KINDS[kind].model_validate(data)
    except ValidationError as exc:
        raise ManifestError(source, [_problem(e, KINDS[kind]) for e in exc.errors()]) from None


def parse_text(text: str, source: str, kinds: tuple[str, ...] = tuple(KINDS)) -> list[Manifest]:
    """All documents of a (possibly multi-document) YAML text."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        line, column = yaml_where(exc)
        where = f"line {line}, column {column}: " if line else ""
        raise ManifestError.single(source, "", f"{where}{yaml_problem(exc)}") from None
    if not documents:
        raise ManifestError.single(source, "", "holds no manifest")
    label = source if len(documents) == 1 else None
    return [parse(doc, label or f"{source}[document {i}]", kinds) for i, doc in enumerate(documents)]


def dump(manifest: Manifest) -> str:
    """Compact YAML: what users wrote, without every default spelled out."""
    body = manifest.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude_none=True)
    document = {"apiVersion": manifest.api_version, "kind": manifest.kind, **body}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
