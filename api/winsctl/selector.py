"""Label selectors as kubectl spells them, and tag filters, applied to what a listing returned.

`-l tier=gpu,site!=ulm,reviewed,!draft,site in (ulm,bonn),site notin (x)`: every requirement
must hold. The API lists whole collections (a share holds hundreds of projects, not millions),
so filtering here keeps the API simple and works against every node version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Requirement = Callable[[Mapping[str, str]], bool]

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)\s*$")
_EQUALITY = re.compile(rf"^\s*(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(?P<neg>!?)\s*(?P<key>{_KEY})\s*$")


class SelectorError(ValueError):
    pass


def parse(selector: str) -> list[Requirement]:
    """Each requirement of a selector; raises SelectorError naming the part that is not one."""
    requirements = []
    for part in _split(selector):
        if not part.strip():
            raise SelectorError(f"{selector!r}: an empty requirement (two commas, or one at an end)")
        requirements.append(_requirement(part, selector))
    return requirements


def _split(selector: str) -> list[str]:
    """Commas split requirements, except inside the parentheses of `in (a,b)`."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(selector[start:index])
            start = index + 1
    parts.append(selector[start:])
    return parts


def _requirement(part: str, selector: str) -> Requirement:
    if match := _SET.match(part):
        key, values = match["key"], {v.strip() for v in match["values"].split(",")}
        if match["op"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQUALITY.match(part):
        key, value = match["key"], match["value"]
        if match["op"] == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS.match(part):
        key = match["key"]
        if match["neg"]:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise SelectorError(
        f"{selector!r}: {part.strip()!r} is not a requirement; use KEY=VALUE, KEY!=VALUE, KEY, !KEY, "
        "KEY in (V1,V2) or KEY notin (V1,V2), separated by commas"
    )


def matches(requirements: list[Requirement], labels: Mapping[str, Any] | None) -> bool:
    found = {str(k): str(v) for k, v in (labels or {}).items()}
    return all(requirement(found) for requirement in requirements)


def tagged(tags: list[str], have: Any) -> bool:
    """Every wanted tag is among the project's."""
    return set(tags) <= {str(t) for t in have or []}
