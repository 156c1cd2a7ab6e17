"""The manifest kinds as users write them: fields by their camelCase names, with type, default and
description, read from the models themselves so the reference and `winsctl explain` never drift.
"""

from __future__ import annotations

import ast
import difflib
import enum
import functools
import inspect
import itertools
import json
import textwrap
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from winslow.resources.base import check_dns_label
from winslow.resources.pipeline import Pipeline
from winslow.resources.project import Project
from winslow.resources.quantity import parse_cpu
from winslow.resources.quota import Quota
from winslow.resources.stagerun import StageRun

KINDS: dict[str, type[BaseModel]] = {
    "Pipeline": Pipeline,
    "Project": Project,
    "Quota": Quota,
    "StageRun": StageRun,
}
"""The kinds a user reads or writes (Node files are the daemons' own)."""


@dataclass(frozen=True)
class FieldDoc:
    name: str
    """As written in a manifest (the alias)."""
    shape: str
    required: bool
    default: str | None
    description: str
    example: str | None
    model: type[BaseModel] | None
    """The object this field holds (itself, or in a list or map), if any."""


def wire_name(name: str, info: FieldInfo) -> str:
    return info.alias or name


def names(model: type[BaseModel]) -> list[str]:
    """The field names a manifest may use at this level."""
    return [wire_name(n, f) for n, f in model.model_fields.items()]


def _validators(metadata: list[Any]) -> list[Any]:
    return [getattr(m, "func", None) for m in metadata if isinstance(m, AfterValidator | BeforeValidator)]


def _special(metadata: list[Any]) -> str | None:
    funcs = _validators(metadata)
    if parse_cpu in funcs:
        return "CPU quantity (cores: 2, 0.5 or 500m)"
    if any(getattr(f, "__name__", "") == "_memory" for f in funcs):
        return "memory quantity (bytes, or 512Mi, 16Gi, 2G)"
    if check_dns_label in funcs:
        return "name (lowercase letters, digits and '-', at most 63)"
    return None


def type_name(annotation: Any, metadata: list[Any] | None = None) -> str:
    """The type in a user's words."""
    special = _special(metadata or [])
    if special:
        return special
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0], list(args[1:]))
    if origin in (Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        if len(kept) == 1:
            return type_name(kept[0])
        if set(kept) == {str, int}:
            return "string or integer"
        return " or ".join(type_name(a) for a in kept)
    if origin is list:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {type_name(args[0])} to {type_name(args[1])}" if args else "map"
    if origin is Literal:
        return " or ".join(json.dumps(a) for a in args)
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "one of " + ", ".join(str(m.value) for m in annotation)
        if issubclass(annotation, BaseModel):
            return "object"
        if issubclass(annotation, bool):
            return "boolean"
        if issubclass(annotation, int):
            return "integer"
        if issubclass(annotation, float):
            return "number"
        if issubclass(annotation, str):
            return "string"
        if issubclass(annotation, datetime):
            return "timestamp (RFC 3339, e.g. 2024-05-01T12:00:00Z)"
    return getattr(annotation, "__name__", str(annotation))


def inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly or inside Optional, a list, a map or Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = inner_model(arg)
        if found is not None:
            return found
    return None


def _shown(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, BaseModel):
        return "(the defaults of its fields)"
    return json.dumps(value)


def default_of(info: FieldInfo) -> str | None:
    if info.default_factory is not None:
        return _shown(info.default_factory())  # type: ignore[call-arg]
    if info.is_required() or info.default is None:
        return None
    return _shown(info.default)


def _bounds(info: FieldInfo) -> str:
    words = []
    for item in info.metadata:
        for attr, word in (("ge", "at least"), ("gt", "more than"), ("le", "at most"), ("lt", "less than")):
            value = getattr(item, attr, None)
            if value is not None:
                words.append(f"{word} {value}")
        if getattr(item, "min_length", None):
            words.append(f"at least {item.min_length} item{'s' if item.min_length > 1 else ''}")
    return f" ({', '.join(words)})" if words else ""


ENVELOPE = {
    "apiVersion": "the manifest format's version; always winslow/v1",
    "kind": "which kind of manifest this is",
}


@functools.cache
def attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """The docstrings written under fields (`x: int = 0` then `\"\"\"...\"\"\"`), by field name."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for first, second in itertools.pairwise(body):
            if (
                isinstance(first, ast.AnnAssign)
                and isinstance(first.target, ast.Name)
                and isinstance(second, ast.Expr)
                and isinstance(second.value, ast.Constant)
                and isinstance(second.value.value, str)
            ):
                found[first.target.id] = " ".join(second.value.value.split())
    return found


def fields_of(model: type[BaseModel]) -> list[FieldDoc]:
    docs = []
    written = attribute_docs(model)
    for name, info in model.model_fields.items():
        examples = info.examples or []
        docs.append(
            FieldDoc(
                name=wire_name(name, info),
                shape=type_name(info.annotation, list(info.metadata)) + _bounds(info),
                required=info.is_required(),
                default=default_of(info),
                description=info.description or written.get(name) or ENVELOPE.get(wire_name(name, info), ""),
                example=json.dumps(examples[0]) if examples else None,
                model=inner_model(info.annotation),
            )
        )
    return docs


class UnknownPath(LookupError):
    """A path that names no field; the message lists the valid ones and a likely spelling."""


def suggest(word: str, choices: list[str]) -> str | None:
    """The closest valid name, by spelling or by case (`timeoutseconds`)."""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


def kind_of(word: str) -> type[BaseModel]:
    lowered = {k.lower(): m for k, m in KINDS.items()}
    plural = {f"{k}s": m for k, m in lowered.items()}
    found = lowered.get(word.lower()) or plural.get(word.lower())
    if found is None:
        hint = suggest(word, list(KINDS))
        raise UnknownPath(
            f"unknown kind {word!r}"
            + (f"; did you mean `{hint.lower()}`?" if hint else "")
            + f" Kinds: {', '.join(k.lower() for k in KINDS)}"
        )
    return found


@dataclass(frozen=True)
class Explained:
    path: str
    model: type[BaseModel] | None
    field: FieldDoc | None
    """The field the path ends at (None for a kind itself)."""


def resolve(path: str) -> Explained:
    """`pipeline.spec.stages`: the kind, then fields by their manifest names (a `[0]` is allowed)."""
    parts = [p for p in path.replace("[]", "").split(".") if p]
    if not parts:
        raise UnknownPath("name a kind, for example `pipeline` or `pipeline.spec.stages`")
    model: type[BaseModel] | None = kind_of(parts[0])
    walked = next(k for k, m in KINDS.items() if m is model).lower()
    field: FieldDoc | None = None
    for part in parts[1:]:
        part = part.split("[", 1)[0]
        if model is None:
            raise UnknownPath(f"{walked} is a {field.shape if field else 'value'}; it has no field {part!r}")
        by_name = {f.name: f for f in fields_of(model)}
        if part not in by_name:
            hint = suggest(part, list(by_name))
            raise UnknownPath(
                f"{walked} has no field {part!r}"
                + (f"; did you mean `{hint}`?" if hint else "")
                + f" Fields: {', '.join(by_name)}"
            )
        field = by_name[part]
        model = field.model
        walked += f".{part}"
    return Explained(walked, model, field)


def model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that holds the last part of a pydantic error location (for the names valid there)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        infos = {wire_name(n, f): f for n, f in current.model_fields.items()}
        infos.update(current.model_fields)
        info = infos.get(part)
        if info is None:
            continue  # a validator step (function-after[...]) or a map key
        current = inner_model(info.annotation)
    return current


def _field_lines(field: FieldDoc, indent: str) -> list[str]:
    head = f"{indent}{field.name}  <{field.shape}>" + ("  -required-" if field.required else "")
    lines = [head]
    if field.description:
        lines += textwrap.wrap(
            field.description, 96, initial_indent=indent + "  ", subsequent_indent=indent + "  "
        )
    if field.default is not None:
        lines.append(f"{indent}  default: {field.default}")
    if field.example:
        lines.append(f"{indent}  example: {field.example}")
    return lines


def explain(path: str) -> str:
    """What `winsctl explain PATH` prints: kubectl's layout, from the models; UnknownPath if none."""
    found = resolve(path)
    kind = found.path.split(".", 1)[0]
    out = [f"KIND:     {next(k for k in KINDS if k.lower() == kind)}"]
    if found.field is not None:
        out.append(f"FIELD:    {found.path.rsplit('.', 1)[1]} <{found.field.shape}>")
        out += ["", "DESCRIPTION:"]
        out += textwrap.wrap(
            found.field.description or "(none)", 96, initial_indent="  ", subsequent_indent="  "
        )
        if found.field.default is not None:
            out.append(f"  default: {found.field.default}")
        if found.field.example:
            out.append(f"  example: {found.field.example}")
    if found.model is not None:
        doc = " ".join((found.model.__doc__ or "").split())
        if found.field is None and doc and found.model.__module__.startswith("winslow."):
            out += ["", "DESCRIPTION:", *textwrap.wrap(doc, 96, initial_indent="  ", subsequent_indent="  ")]
        out += ["", "FIELDS:"]
        for field in fields_of(found.model):
            out += _field_lines(field, "  ")
            out.append("")
        out.append(f"See `winsctl explain {found.path}.FIELD` for a field's own fields.")
    return "\n".join(out).rstrip("\n") + "\n"
