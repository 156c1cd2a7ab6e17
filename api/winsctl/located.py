"""`winsctl apply`'s errors at the line and column of the files the user wrote.

The server validates the decoded documents and names each problem by document and field path;
the files are here, so their lines are found here, on the composed YAML of each file.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from winslow.resources.wording import documents, locate, path_parts

Origin = tuple[str, int, int]
"""(file, index of the document in its file, documents in the file)"""

_DOCUMENT = re.compile(r"^(?P<source>.*)\[document (?P<index>\d+)\](?:: (?P<field>.*))?$")


def _composed(text: str) -> list[yaml.Node]:
    try:
        return documents(text)
    except yaml.YAMLError:
        return []


def render(
    problems: list[dict[str, Any]], source: str, origins: list[Origin], texts: dict[str, str]
) -> str | None:
    """`FILE:LINE:COLUMN: FIELD: MESSAGE` lines, or None when a problem cannot be placed at all."""
    composed: dict[str, list[yaml.Node]] = {}
    lines = []
    for problem in problems:
        field, message = str(problem.get("field") or ""), str(problem.get("message") or "")
        index = 0 if len(origins) == 1 else None
        match = _DOCUMENT.match(field)
        if match and match.group("source") == source:
            index, field = int(match.group("index")), match.group("field") or ""
        if index is None or index >= len(origins):
            lines.append(f"{source}: {field}: {message}" if field else f"{source}: {message}")
            continue
        path, position, _ = origins[index]
        nodes = composed.setdefault(path, _composed(texts.get(path, "")))
        where = locate(nodes[position], path_parts(field)) if position < len(nodes) else None
        place = f"{path}:{where[0]}:{where[1]}" if where else path
        lines.append(f"{place}: {field}: {message}" if field else f"{place}: {message}")
    return "\n".join(lines) if lines else None
