"""Manifest mistakes in the project's own words: what the YAML parser and pydantic report, said as
a user can act on it, with the line and column of the mistake and the field that was meant.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import BaseModel

from winslow.resources.schema import KINDS, model_at, names, suggest

VALIDATOR_STEPS = ("function-after", "function-before", "function-wrap", "union[")

# ------------------------------------------------------------------------------------- YAML syntax


def _line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's words (`expected <block end>, but found '?'`) as what to change."""
    problem = str(getattr(exc, "problem", None) or exc)
    context = str(getattr(exc, "context", None) or "")
    opened = _line(getattr(exc, "context_mark", None))
    since = f" (it starts at line {opened})" if opened else ""
    if problem.startswith("expected <block end>") or problem.startswith("did not find expected key"):
        what = "list" if "collection" in context else "mapping"
        return (
            f"this line is indented differently from the {what} it belongs to{since}: the keys of one "
            "mapping, and the `- ` items of one list, must start in the same column"
        )
    if problem.startswith("did not find expected '-' indicator"):
        return f"this line does not line up with the `- ` items of the list above{since}"
    if problem.startswith("mapping values are not allowed here"):
        return (
            "a `: ` inside a value, or a key indented under a value; put the value in quotes, or write "
            "a command as a block scalar (`|` or `>-`, see README: Writing manifests)"
        )
    if "'\\t'" in problem or "\\t" in problem:
        return "a tab character; YAML is indented with spaces only"
    if problem.startswith("could not find expected ':'"):
        return (
            f"a line that is neither `key: value` nor `- item`{since}; a value that goes on over several "
            "lines needs quotes or a block scalar (`|`)"
        )
    if "end of stream" in problem and "quoted scalar" in context:
        return f"a quote that is never closed{since}"
    if problem.startswith("expected ',' or ']'") or problem.startswith("expected ',' or '}'"):
        return f"a missing `,`, `]` or `}}` in a `[...]` list or `{{...}}` mapping{since}"
    if problem.startswith("found undefined alias"):
        return "an alias (`*name`) with no anchor (`&name`) before it; quote a value that starts with `*`"
    if problem.startswith("found character '@'") or problem.startswith("found character '`'"):
        return "a value that starts with `@` or a backquote; put it in quotes"
    if problem.startswith("found unhashable key"):
        return "a key that is a list or a mapping; a key is a plain word"
    return f"not valid YAML ({context + ': ' if context else ''}{problem})"


def yaml_where(exc: yaml.YAMLError) -> tuple[int | None, int | None]:
    """(line, column), counted from 1, of a YAML syntax error."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return None, None
    return mark.line + 1, mark.column + 1


# ---------------------------------------------------------------------------------- schema errors


def problem_loc(error: Any) -> tuple[int | str, ...]:
    """Where a validation error is: a validator of a whole list may say where in it (`at` in its
    context, resources.pipeline.check_stage_list), so that the file's line is the field's own."""
    at = (error.get("ctx") or {}).get("at") or ()
    return (*tuple(error["loc"]), *at)


def field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith(VALIDATOR_STEPS):
            continue
        else:
            path += f".{part}" if path else part
    return path


def _got(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping (`key: value` lines)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _unit(loc: tuple[int | str, ...]) -> str:
    last = next((p for p in reversed(loc) if isinstance(p, str) and not p.startswith(VALIDATOR_STEPS)), "")
    return " of seconds" if last.lower().endswith("seconds") else ""


def unknown_field(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> str:
    """For a field the models do not have: the one probably meant, else the ones there are."""
    holder = model_at(model, loc[:-1]) if model is not None else None
    word = str(loc[-1]) if loc else ""
    if holder is None:
        return "unknown field; remove it or check its spelling"
    valid = names(holder)
    hint = suggest(word, valid)
    if hint:
        return f"unknown field; did you mean `{hint}`?"
    return f"unknown field; the fields here are {', '.join(valid)}"


def schema_problem(error: Any, model: type[BaseModel] | None = None, *, quote: bool = True) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as a user can act on it.
    `quote`: repeat the value given (never for files on the share, which may hold secrets)."""
    kind = str(error["type"])
    loc = tuple(error["loc"])
    value = error.get("input")
    ctx = error.get("ctx") or {}
    got = f", got {_got(value)}" if quote else ""
    if kind == "extra_forbidden":
        return unknown_field(model, loc)
    if kind == "missing":
        path = field_path(loc)
        kind_name = model.__name__ if model is not None else ""
        if path and kind_name in KINDS:
            general = re.sub(r"\[\d+\]", "", path)
            return f"is required (see `winsctl explain {kind_name.lower()}.{general}`)"
        return "is required"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"expected a whole number{_unit(loc)}{got}"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"expected a number{_unit(loc)}{got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"expected true or false{got}"
    if kind == "string_type":
        hint = "; put it in quotes" if isinstance(value, int | float | bool) else ""
        return f"expected text{got}{hint}"
    if kind == "list_type":
        hint = (
            "; a command is a list: `[sh, -c, 'your command']`, or `- ` lines (README: Writing manifests)"
            if isinstance(value, str)
            else "; write `- item` lines or `[a, b]`"
        )
        return f"expected a list{got}{hint}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of fields (`key: value` lines){got}"
    if kind == "enum":
        expected = str(ctx.get("expected", "")).replace("'", "")
        choices = [c.strip() for c in re.split(r",| or ", expected) if c.strip()]
        meant = suggest(str(value), choices) if isinstance(value, str) else None
        return f"expected one of {', '.join(choices)}{got}" + (f"; did you mean `{meant}`?" if meant else "")
    if kind == "literal_error":
        return f"expected {ctx.get('expected', 'another value')}{got}"
    bounds = {
        "greater_than": "more than",
        "greater_than_equal": "at least",
        "less_than": "less than",
        "less_than_equal": "at most",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        limit = f"{limit:g}" if isinstance(limit, float) else limit
        return f"must be {bounds[kind]} {limit}{got}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length', 1)} item(s)"
    if kind == "too_long":
        return f"holds too many items (at most {ctx.get('max_length', '?')})"
    if kind.startswith(("datetime_", "date_")):
        return f"expected a timestamp such as 2024-05-01T12:00:00Z{got}"
    message = str(error["msg"])
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{message}{got}" if quote and isinstance(value, str | int | float) else message


# -------------------------------------------------------------------------------- where, in a file


_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def path_parts(path: str) -> list[int | str]:
    """`spec.stages[0].image` back into the parts of a location."""
    return [int(index) if index else name for index, name in _PART.findall(path)]


def locate(root: yaml.Node | None, loc: list[int | str]) -> tuple[int, int] | None:
    """(line, column) from 1 of the deepest part of `loc` the document has: a key's own place, so an
    unknown field points at itself and a missing one at its parent's key."""
    if root is None:
        return None
    node: yaml.Node = root
    where = (root.start_mark.line + 1, root.start_mark.column + 1)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(
                (kv for kv in node.value if isinstance(kv[0], yaml.ScalarNode) and kv[0].value == part), None
            )
            if pair is None:
                break
            key, node = pair
            where = (key.start_mark.line + 1, key.start_mark.column + 1)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            where = (node.start_mark.line + 1, node.start_mark.column + 1)
        else:
            break
    return where


def documents(text: str) -> list[yaml.Node]:
    """The composed documents of a text, empty ones left out (as `safe_load_all` users do)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found = []
    for node in yaml.compose_all(text, Loader=loader):
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            continue
        found.append(node)
    return found
