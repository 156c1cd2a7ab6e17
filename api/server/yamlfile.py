"""Writing a user's manifest back as they wrote it: only the fields that changed change.

People keep `pipelines/` and `projects/` in an editor and under git. A node that pauses a
project, or applies a file, edits their file in place with ruamel.yaml's round-trip loader, so
comments, key order, quoting, flow style and indentation survive and `git diff` shows the
action and nothing else. Which fields changed is decided on the validated manifests (before and
after, without defaults), never on the text: `cpu: 500m` stays as written while it means 0.5.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from typing import Any

import yaml as pyyaml
from pydantic.alias_generators import to_snake
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

WIDTH = 1 << 16  # never re-wrap a long line the user wrote


class NotEditable(ValueError):
    """The text is not one YAML mapping that can be edited in place."""


def edited(text: str, before: Mapping[str, Any], after: Mapping[str, Any], given: Any = None) -> str:
    """`text` (whose validated content is `before`) changed to mean `after`.

    Values that `given` (the document a user applied) sets are written as it spells them;
    fields it does not mention (server-set metadata, kept action fields) as `after` has them.
    """
    yaml = _yaml(*indents(text))
    yaml.explicit_start = text.lstrip().startswith("---")
    try:
        document = yaml.load(text)
    except YAMLError as exc:
        raise NotEditable(f"cannot be edited in place: {exc}") from None
    if not isinstance(document, CommentedMap):
        raise NotEditable("is not one YAML mapping")
    merge(document, before, after, given)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def plain(data: Mapping[str, Any]) -> str:
    """A new file: the document in the order it was given, block style."""
    out = io.StringIO()
    _yaml(2, 2, 0).dump(fresh(data), out)
    return out.getvalue()


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = WIDTH
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def indents(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file uses them; ruamel does not
    guess them, and dumping with other ones would re-indent every line."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping = sequence = offset = None
    for parent, line in itertools.pairwise(lines):
        if not parent.rstrip().endswith(":") or parent.lstrip().startswith("-"):
            continue
        depth = len(line) - len(line.lstrip()) - (len(parent) - len(parent.lstrip()))
        body = line.lstrip()
        if body == "-" or body.startswith("- "):
            if offset is None:
                offset = depth
                sequence = depth + 1 + len(body[1:]) - len(body[1:].lstrip())
        elif mapping is None and depth > 0:
            mapping = depth
    offset = offset if offset is not None and offset >= 0 else 0
    return mapping or 2, sequence or offset + 2, offset


def merge(target: CommentedMap, before: Mapping[str, Any], after: Mapping[str, Any], given: Any) -> None:
    """Make `target` mean `after`, touching only keys whose value differs from `before`."""
    spelled = given if isinstance(given, Mapping) else {}
    for key in before:
        if key not in after and (found := _key(target, key)) is not None:
            delete(target, found)
    for key, value in after.items():
        found = _key(target, key)
        old = before.get(key)
        if found is not None and key in before and old == value:
            continue
        own = spelled.get(_key(spelled, key) or key)
        current = target.get(found) if found is not None else None
        if isinstance(value, Mapping):
            if isinstance(current, CommentedMap):
                merge(current, old if isinstance(old, Mapping) else {}, value, own)
                continue
            new: Any = CommentedMap()
            merge(new, {}, value, own)
        elif isinstance(value, list):
            if (
                isinstance(current, CommentedSeq)
                and isinstance(old, list)
                and len(current) == len(old) == len(value)
            ):
                _merge_items(current, old, value, own)
                continue
            new = fresh(own if isinstance(own, list) and len(own) == len(value) else value)
        else:
            new = own if own is not None and not isinstance(own, Mapping | list) else scalar(value, current)
        if found is not None:
            target[found] = new
        else:
            append(target, key, new)


def _merge_items(target: CommentedSeq, before: list[Any], after: list[Any], given: Any) -> None:
    for index, value in enumerate(after):
        if before[index] == value:
            continue
        own = given[index] if isinstance(given, list) and len(given) == len(after) else None
        if isinstance(value, Mapping) and isinstance(target[index], CommentedMap):
            merge(target[index], before[index] if isinstance(before[index], Mapping) else {}, value, own)
        else:
            target[index] = fresh(own if own is not None else value)


def _key(mapping: Mapping[str, Any], wire: str) -> str | None:
    """The key as the file spells it: the wire name, or the snake_case one the models accept too."""
    for candidate in (wire, to_snake(wire)):
        if candidate in mapping:
            return candidate
    return None


def fresh(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = fresh(item)
        return out
    if isinstance(value, list):
        return CommentedSeq(fresh(item) for item in value)
    return scalar(value)


def scalar(value: Any, like: Any = None) -> Any:
    """A string in the quotes of the value it replaces (`like`); else in quotes if a YAML 1.1
    reader (PyYAML, which nodes read with) would not read it back as itself: ruamel writes YAML
    1.2, where `1:1` is a string, and 1.1 reads 61."""
    if not isinstance(value, str) or isinstance(value, DoubleQuotedScalarString | SingleQuotedScalarString):
        return value
    if isinstance(like, DoubleQuotedScalarString | SingleQuotedScalarString):
        return type(like)(value)
    try:
        same = pyyaml.safe_load(value) == value
    except pyyaml.YAMLError:
        same = False
    return value if same and value == value.strip() else SingleQuotedScalarString(value)


def append(target: CommentedMap, key: str, value: Any) -> None:
    """Add `key` last. The comment lines after the old last value come before whatever follows
    this mapping (ruamel files them under that value), so they move after the new one."""
    lines = _take_following(target, list(target)[-1]) if len(target) else []
    target[key] = value
    _give_following(target, key, lines)


def delete(target: CommentedMap, key: Any) -> None:
    """Remove `key`, keeping the comment lines that followed its value (ruamel files them under
    the key, so they would go with it): they move before the next key, or after the previous."""
    keys = list(target)
    position = keys.index(key)
    lines = _take_following(target, key)
    del target[key]
    target.ca.items.pop(key, None)
    if not lines:
        return
    if position + 1 < len(keys):
        entry = target.ca.items.setdefault(keys[position + 1], [None, None, None, None])
        marks = [CommentToken(f"{line.strip()}\n", CommentMark(_column(line))) for line in lines]
        entry[1] = marks + (entry[1] or [])
    elif position > 0:
        _give_following(target, keys[position - 1], lines)


def _column(line: str) -> int:
    return len(line) - len(line.lstrip())


def _tail(target: CommentedMap | CommentedSeq, key: Any) -> tuple[dict[Any, Any], Any, int]:
    """Where ruamel keeps the comment after `key`'s value: under its last (deepest) element."""
    value = target[key]
    if isinstance(value, CommentedMap | CommentedSeq) and len(value) and not value.fa.flow_style():
        last = list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1
        return _tail(value, last)
    return target.ca.items, key, 0 if isinstance(target, CommentedSeq) else 2


def _take_following(target: CommentedMap | CommentedSeq, key: Any) -> list[str]:
    """Detach the whole-line comments (and blank lines) after `key`'s value; its own end-of-line
    comment stays."""
    items, holder, slot = _tail(target, key)
    entry = items.get(holder) or [None, None, None, None]
    token = entry[slot]
    if not isinstance(token, CommentToken):
        return []
    first, *rest = token.value.split("\n")
    if first:
        token.value = f"{first}\n"
    else:
        entry[slot] = None
    return rest[:-1]


def _give_following(target: CommentedMap | CommentedSeq, key: Any, lines: list[str]) -> None:
    if not lines:
        return
    items, holder, slot = _tail(target, key)
    entry = items.setdefault(holder, [None, None, None, None])
    tail = "".join(f"{line}\n" for line in lines)
    token = entry[slot]
    if isinstance(token, CommentToken):
        token.value = token.value.rstrip("\n") + "\n" + tail
    else:
        entry[slot] = CommentToken(f"\n{tail}", CommentMark(0))
