"""Node labels and node selectors, in Kubernetes' syntax.

A node says what it is with labels (`winslow node --label gpu=a100`); a stage asks for a kind of
node with `nodeSelector: {gpu: a100}`, which a node matches when it has every one of those labels
with that value. Keys are a name of at most 63 letters, digits, '-', '_' and '.', starting and
ending with a letter or digit, with an optional DNS prefix (`example.com/gpu`); values are empty or
such a name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

KEY_RULE = (
    "a key is at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or "
    "digit, optionally after a DNS prefix and '/' (example.com/gpu)"
)
VALUE_RULE = (
    "a value is empty or at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
    "letter or digit"
)


def key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash:
        parts = prefix.split(".")
        if not prefix or len(prefix) > 253 or not all(_DNS_LABEL.match(p) for p in parts):
            return f"key {key!r}: its prefix must be a lowercase DNS name; {KEY_RULE}"
    if len(name) > 63 or not _NAME.match(name):
        return f"key {key!r}: {KEY_RULE}"
    return None


def value_problem(key: str, value: str) -> str | None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        return f"value {value!r} of {key}: {VALUE_RULE}"
    return None


def problems(labels: Mapping[str, str]) -> list[str]:
    found = []
    for key, value in labels.items():
        problem = key_problem(key) or value_problem(key, value)
        if problem:
            found.append(problem)
    return found


def _fixed(text: str) -> str:
    """A suggestion in the allowed alphabet, for an error message."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-_.")[:63] or "x"


def _suggest(key: str, value: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and key_problem(f"{prefix}/x"):
        prefix = prefix.lower() if not key_problem(f"{prefix.lower()}/x") else ""
        slash = "/" if prefix else ""
    fixed_key = f"{prefix}{slash}{name if not key_problem(name) else _fixed(name)}"
    return f"{fixed_key}={value if not value_problem(key, value) else _fixed(value)}"


def parse(item: str, flag: str = "--label") -> tuple[str, str]:
    """`KEY=VALUE` as given on the command line; ValueError names the flag and the fix."""
    key, eq, value = item.partition("=")
    key, value = key.strip(), value.strip()
    if not eq or not key:
        raise ValueError(f"{flag} {item!r}: write KEY=VALUE, for example {flag} gpu=a100")
    problem = key_problem(key) or value_problem(key, value)
    if problem:
        raise ValueError(f"{flag} {item!r}: {problem}; for example {flag} {_suggest(key, value)}")
    return key, value


def parse_all(items: Iterable[str], flag: str = "--label") -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in items:
        key, value = parse(item, flag)
        if key in labels and labels[key] != value:
            raise ValueError(f"{flag} {key}: given twice ({labels[key]!r} and {value!r}); give it once")
        labels[key] = value
    return labels


def matches(selector: Mapping[str, str] | None, labels: Mapping[str, str] | None) -> bool:
    """True when the node has every label of the selector with that value; an empty selector
    matches every node."""
    have = labels or {}
    return all(key in have and have[key] == value for key, value in (selector or {}).items())


def describe(labels: Mapping[str, str] | None) -> str:
    """`gpu=a100,disk=ssd`, as `kubectl get nodes --show-labels` writes them; '' when none."""
    return ",".join(f"{key}={value}" for key, value in sorted((labels or {}).items()))


def no_match(selector: Mapping[str, str], nodes: Mapping[str, Mapping[str, str]]) -> str:
    """Why no node takes a stage: `no live node has labels gpu=a100: node-a has gpu=t4, node-b has
    no labels`, with the live nodes' labels by name."""
    have = (
        ", ".join(f"{name} has {describe(nodes[name]) or 'no labels'}" for name in sorted(nodes))
        or "no node is live"
    )
    return f"no live node has labels {describe(selector)}: {have}"


def _scalars(value: Any) -> Any:
    """YAML turns `gpus: 2` into an int and `fast: yes` into a bool; label values are strings."""
    if isinstance(value, dict):
        return {k: _scalar(v) for k, v in value.items()}
    return value


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def _valid(selector: dict[str, str]) -> dict[str, str]:
    found = problems(selector)
    if found:
        raise PydanticCustomError("labels", "{problem}", {"problem": "; ".join(found)})
    return selector


Selector = Annotated[dict[str, str], BeforeValidator(_scalars), AfterValidator(_valid)]
