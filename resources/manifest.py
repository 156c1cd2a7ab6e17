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
from winslow.resources.stagerun import StageRun

Manifest = Pipeline | Project | StageRun | Node
KINDS: dict[str, type[Manifest]] = {
    "Pipeline": Pipeline,
    "Project": Project,
    "StageRun": StageRun,
    "Node": Node,
}
USER_KINDS = ("Pipeline", "Project")


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(("function-after", "function-before", "union[")):
            continue
        else:
            path += f".{part}" if path else part
    return path


def _problem(error: Any) -> tuple[str, str]:
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        return field_path(error["loc"]), "unknown field; remove it or check its spelling"
    if kind == "missing":
        return field_path(error["loc"]), "is required"
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{error['input']!r}: {message}"
    return field_path(error["loc"]), message


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
        raise ManifestError(source, [_problem(e) for e in exc.errors()]) from None


def parse_text(text: str, source: str, kinds: tuple[str, ...] = tuple(KINDS)) -> list[Manifest]:
    """All documents of a (possibly multi-document) YAML text."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ManifestError.single(
            source, "", f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if not documents:
        raise ManifestError.single(source, "", "holds no manifest")
    label = source if len(documents) == 1 else None
    return [parse(doc, label or f"{source}[document {i}]", kinds) for i, doc in enumerate(documents)]


def dump(manifest: Manifest) -> str:
    """Compact YAML: what users wrote, without every default spelled out."""
    body = manifest.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude_none=True)
    document = {"apiVersion": manifest.api_version, "kind": manifest.kind, **body}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
