"""YAML from the share, decoded without ever crashing the process, and errors that name the
file, the line and the field but never a value.

Nesting depth, and size once aliases are expanded, are checked on libyaml's event stream (a
state machine with its own stacks) before libyaml's composer, which recurses on the C stack and
kills the process with a segmentation fault at about 50,000 levels, sees the text.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from winslow.resources.errors import InvalidFileError
from winslow.resources.limits import Limits
from winslow.resources.schema import KINDS
from winslow.resources.wording import VALIDATOR_STEPS, field_path, problem_loc, schema_problem

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_COLLECTION_START = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_COLLECTION_END = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def decode(raw: bytes, source: str, limits: Limits) -> Any:
    """Bytes to the YAML document they hold, or InvalidFileError; never crashes the process."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidFileError.at(
            source, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8", line
        ) from None
    check_shape(text, source, limits)
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    except Exception as exc:  # a constructor's own error: a timestamp with month 13, say
        raise InvalidFileError.at(source, f"is not valid YAML ({type(exc).__name__})") from None


def check_shape(text: str, source: str, limits: Limits) -> None:
    """Depth and expanded size from the parser's events, which never recurse; stops at the limit."""
    depth = nodes = 0
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = []
    open_anchors: set[str] = set()
    try:
        for event in yaml.parse(text, Loader=_Loader):
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, _COLLECTION_START):
                depth += 1
                nodes += 1
                if depth > limits.max_depth:
                    raise InvalidFileError.at(
                        source, f"is nested deeper than {limits.max_depth} levels", line
                    )
                stack.append((event.anchor, nodes))
                if event.anchor:
                    open_anchors.add(event.anchor)
            elif isinstance(event, _COLLECTION_END):
                depth -= 1
                anchor, first = stack.pop()
                if anchor:
                    sizes[anchor] = nodes - first + 1
                    open_anchors.discard(anchor)
            elif isinstance(event, yaml.ScalarEvent):
                nodes += 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor in open_anchors:
                    raise InvalidFileError.at(source, "has an alias inside the node it refers to", line)
                nodes += sizes.get(event.anchor or "", 1)
            if nodes > limits.max_nodes:
                raise InvalidFileError.at(
                    source, f"holds more than {limits.max_nodes} values once its aliases are expanded", line
                )
    except yaml.YAMLError as exc:
        if "nesting depth" in str(getattr(exc, "problem", "")):  # libyaml >= 0.2.5 stops at 1000 itself
            mark = getattr(exc, "problem_mark", None)
            message = f"is nested deeper than {limits.max_depth} levels"
            raise InvalidFileError.at(source, message, mark.line + 1 if mark else None) from None
        raise _yaml_error(exc, source) from None


def _yaml_error(exc: yaml.YAMLError, source: str) -> InvalidFileError:
    """Line and the parser's words, never the snippet of the file that PyYAML would quote."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    context = getattr(exc, "context", None)
    words = f"{context}: {problem}" if context else str(problem)
    return InvalidFileError.at(source, f"is not valid YAML ({words})", mark.line + 1 if mark else None)


def _node_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The line of the deepest part of `loc` the document has: a key's own line, so a missing
    field points at its parent's key."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(part, str) and part.startswith(VALIDATOR_STEPS):
            continue
        if isinstance(node, yaml.MappingNode):
            pair = next(
                (kv for kv in node.value if isinstance(kv[0], yaml.ScalarNode) and kv[0].value == part), None
            )
            if pair is None:
                break
            node, line = pair[1], pair[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _message(error: Any) -> str:
    """Pydantic's words without the input; a validator of ours may quote the value, so not those."""
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field; remove it or check its spelling"
    if kind == "missing":
        return "is required"
    message, value = str(error["msg"]), error.get("input")
    quoted = isinstance(value, str | int | float) and str(value) != "" and str(value) in message
    if kind in ("value_error", "assertion_error") or quoted:
        return "is not a valid value (values from the file are not repeated here)"
    return message


def invalid_from(exc: ValidationError, source: str, text: str, document: Any) -> InvalidFileError:
    try:
        root = yaml.compose(text, Loader=_Loader)  # depth was checked: composing cannot overflow
    except Exception:
        root = None
    problems, lines = [], []
    model = KINDS.get(str(document.get("kind"))) if isinstance(document, dict) else None
    for error in exc.errors():
        loc = problem_loc(error)
        said = _message(error)
        if error["type"] not in ("value_error", "assertion_error"):
            friendly = schema_problem(error, model, quote=False)  # names the field meant, not the value
            value = error.get("input")
            if not (isinstance(value, str | int | float) and str(value) and str(value) in friendly):
                said = friendly
        problems.append((field_path(loc), said))
        lines.append(_node_line(root, loc))
    return InvalidFileError(source, problems, lines, document=document)
