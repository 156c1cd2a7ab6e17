"""A stage's `when:` condition: a CEL expression (the Common Expression Language Kubernetes uses
for validation rules) that decides whether the stage runs or becomes Skipped.

    when: results.judge.verdict == "good"
    when: double(results.train.accuracy) > 0.9 && env.MODE != "dry-run"
    when: results.sweep.exists(c, double(c.results.loss) < 0.1)
    when: phases.lint == "Skipped"

Over three names: `results` (stage → its results; for a matrix stage a list of
`{matrix: {VAR: value}, results: {key: value}}`, one per combination), `env` (the stage's
environment) and `phases` (stage → phase). Results are text, as the stage printed them: CEL does
not compare text with numbers, so `double(...)` or `int(...)` converts them; the error for
forgetting it says so.

CEL rather than Python or a template language: it cannot loop forever, touch files or import
anything, so a condition written by any project member is safe to evaluate on every node. It is
compiled once per expression (the parse is the slow part) and each evaluation is a walk of that
tree. A condition that is not valid, names what is not there, or gives anything but true or false
is an error that names the expression and what went wrong, never a silent false: a stage that
should have run must not be skipped because of a typo.
"""

from __future__ import annotations

import difflib
import functools
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError, tree_dump
from celpy.evaluation import CELEvalError, base_functions

MAX_EXPRESSION = 2000
"""Characters of one condition: a condition is a line or two; more is a mistake or an attack."""

MAX_DEPTH = 300
"""Levels of the parsed tree (a parenthesis is about ten): deeper would exhaust the evaluator's
recursion, which is a crash of the scheduler, not a failed condition."""

MAX_REASON = 400
"""Characters of an error's explanation: celpy's own messages can run to kilobytes."""

NAMES = ("results", "env", "phases")

_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
    | {"duration", "timestamp", "google", "dyn"}
)
_BINDING_MACROS = {"map": 1, "filter": 1, "all": 1, "exists": 1, "exists_one": 1, "reduce": 2}
_METHOD_MACROS = frozenset({*_BINDING_MACROS, "min"})
_FUNCTIONS = frozenset(name for name in base_functions if name.isidentifier()) - {"_in_"}

StageResults = Mapping[str, str]
CombinationResults = Mapping[str, Mapping[str, str]]
"""One combination of a matrix stage: `{"matrix": {VAR: value}, "results": {key: value}}`."""
Results = Mapping[str, StageResults | Sequence[CombinationResults]]


class ConditionError(ValueError):
    """A condition that could not decide: invalid, or failing on the values it was given. The stage
    fails with this message, which names the expression and the error."""

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__(f"when: {_quoted(expression)}: {reason}")


def _quoted(expression: str) -> str:
    flat = " ".join(expression.split())
    return f"`{flat if len(flat) <= 200 else flat[:197] + '...'}`"


_LOCK = threading.Lock()
"""celpy's parser is one shared object that keeps the text it parses: one parse at a time."""


@functools.cache
def _environment() -> celpy.Environment:
    # Made on first use, not on import: celpy raises the process's recursion limit to 2500 when
    # an Environment is made, which a module that never evaluates a condition need not do.
    return celpy.Environment()


@dataclass(frozen=True)
class Condition:
    """A compiled condition, to evaluate as often as needed."""

    expression: str
    _runner: celpy.Runner = field(repr=False, compare=False)

    def evaluate(
        self,
        results: Results | None = None,
        env: Mapping[str, str] | None = None,
        phases: Mapping[str, str] | None = None,
    ) -> bool:
        """True to run the stage, False to skip it; ConditionError when the expression fails on
        these values or gives anything but true or false."""
        context = {
            "results": json_to_cel(_plain(results or {})),
            "env": json_to_cel(_plain(env or {})),
            "phases": json_to_cel(_plain(phases or {})),
        }
        try:
            value = self._runner.evaluate(context)
        except CELEvalError as error:
            raise ConditionError(self.expression, _reason(error, self.expression)) from None
        except RecursionError:
            raise ConditionError(self.expression, "is nested too deeply to evaluate") from None
        except Exception as error:  # celpy lets a few of Python's own errors through
            raise ConditionError(self.expression, _clip(f"{type(error).__name__}: {error}")) from None
        if isinstance(value, CELEvalError):
            raise ConditionError(self.expression, _reason(value, self.expression))
        if not isinstance(value, celtypes.BoolType):
            raise ConditionError(
                self.expression,
                f"gives {_kind(value)} {_clip(repr(_shown(value)), 80)}, not true or false; compare it "
                '(results.judge.verdict == "good")',
            )
        return bool(value)


def _plain(value: Any) -> Any:
    """Mappings and sequences as the dicts and lists `json_to_cel` takes."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _shown(value: Any) -> Any:
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.MapType):
        return {_shown(k): _shown(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [_shown(v) for v in value]
    if isinstance(value, celtypes.StringType):
        return str(value)
    return value


_KINDS = {
    "StringType": "text",
    "DoubleType": "a number",
    "IntType": "a whole number",
    "UintType": "an unsigned number",
    "BoolType": "true or false",
    "MapType": "a map",
    "ListType": "a list",
    "BytesType": "bytes",
    "NoneType": "null",
    "TimestampType": "a timestamp",
    "DurationType": "a duration",
    "TypeType": "a type",
}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value).__name__, type(value).__name__)


_OPERATORS = {
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_in": "in",
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
    "unary_not": "!",
    "unary_neg": "-",
}
_OVERLOAD = re.compile(r"no matching overload for .*?'(\w+)'\)? applied to '\((.*)\)'")
_TYPE = re.compile(r"celtypes\.(\w+)'")
_MISSING = re.compile(r"no such member in mapping: '(.*)'")
_UNDECLARED = re.compile(r"undeclared reference to '([^']*)'")


def _reason(error: CELEvalError, expression: str) -> str:
    """celpy's error as something to act on; its own text names Python classes and may dump the
    whole activation."""
    text = str(error.args[0]) if error.args else str(error)
    part = ""
    if error.tree is not None:
        try:
            part = " ".join(tree_dump(error.tree).split())
        except Exception:  # the dump is a courtesy; never let it hide the error
            part = ""
    compact = "".join(expression.split())
    where = f"`{_clip(part, 120)}`: " if part and "".join(part.split()) != compact else ""
    overload = _OVERLOAD.search(text)
    if overload is not None:
        operator = _OPERATORS.get(overload.group(1), overload.group(1))
        kinds = [_KINDS.get(t, t) for t in _TYPE.findall(overload.group(2))]
        hint = ""
        if "text" in kinds and any(k in kinds for k in ("a number", "a whole number")):
            hint = (
                "; results are text: convert them with double(...) or int(...), as in "
                "double(results.train.accuracy) > 0.9"
            )
        return f"{where}cannot apply `{operator}` to {' and '.join(kinds) or 'these values'}{hint}"
    missing = _MISSING.search(text)
    if missing is not None:
        name = missing.group(1)
        if part.startswith("results.") and part.count(".") == 1:
            what = f"no results of stage {name!r} (it has not run, was skipped, or is no stage)"
        elif part.startswith("results."):
            what = f"no result {name!r} (the stage did not report it)"
        elif part.startswith("env."):
            what = f"no variable {name!r} in env"
        elif part.startswith("phases."):
            what = f"no stage {name!r} in phases"
        else:
            what = f"no {name!r} there"
        example = part or "results.judge.verdict"
        return f"{where}{what}; test for it first with has(), as in has({example}) && ..."
    undeclared = _UNDECLARED.search(text)
    if undeclared is not None:
        return f"unknown name or function {undeclared.group(1)!r}; the names are {', '.join(NAMES)}"
    if "divide by zero" in text:
        return f"{where}division by zero"
    detail = ""
    if len(error.args) > 2 and isinstance(error.args[2], tuple) and error.args[2]:
        inner = error.args[2][0]
        detail = f" ({inner.decode(errors='replace') if isinstance(inner, bytes) else inner})"
    return _clip(where + text.split(" (in activation")[0] + detail)


def _clip(text: str, limit: int = MAX_REASON) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse(expression: str) -> Any:
    """The expression's tree; ConditionError for an expression that is empty, too long, not CEL,
    nested too deeply, or naming what does not exist."""
    if not expression.strip():
        raise ConditionError(
            expression, 'is empty; write a condition such as results.judge.verdict == "good"'
        )
    if len(expression) > MAX_EXPRESSION:
        raise ConditionError(expression, f"is {len(expression)} characters long, more than {MAX_EXPRESSION}")
    try:
        with _LOCK:
            tree = _environment().compile(expression)
    except CELParseError as error:
        raise ConditionError(expression, _syntax(expression, error)) from None
    except RecursionError:
        raise ConditionError(expression, "is nested too deeply") from None
    if _depth(tree) > MAX_DEPTH:
        raise ConditionError(expression, "is nested too deeply; split it, or use fewer parentheses")
    unknown = _unknown_names(tree)
    if unknown:
        raise ConditionError(expression, unknown)
    return tree


def _syntax(expression: str, error: CELParseError) -> str:
    line, column = error.line, error.column
    if line is None or column is None:
        return "is not valid CEL: it ends too soon (an operator, `?` or bracket without what follows)"
    source = expression.splitlines()[line - 1] if expression.splitlines() else expression
    shown = source[: column - 1] + "⟨here⟩" + source[column - 1 :]
    where = f"line {line}, column {column}" if "\n" in expression.strip() else f"column {column}"
    return f"is not valid CEL at {where}: {_clip(' '.join(shown.split()), 200)}"


# The parse tree is lark's; a token is a `str`, anything else a subtree with `data` and
# `children` (lark is not imported here: it comes with cel-python and is not our dependency).


def _depth(tree: Any) -> int:
    deepest = 0
    work: list[tuple[Any, int]] = [(tree, 1)]
    while work:
        node, depth = work.pop()
        deepest = max(deepest, depth)
        if not isinstance(node, str):
            work.extend((child, depth + 1) for child in node.children)
    return deepest


def _subtrees(tree: Any) -> Iterator[Any]:
    work = [tree]
    while work:
        node = work.pop()
        yield node
        work.extend(child for child in node.children if not isinstance(child, str))


def _unknown_names(tree: Any) -> str | None:
    """A name that is neither a variable, nor bound by a macro (`c` in `exists(c, ...)`), nor a
    type; or a function that does not exist. Found now rather than at run time, when the stage
    would fail after its needs have run for hours."""
    bound: set[str] = set()
    used: list[str] = []
    functions: list[str] = []
    methods: list[str] = []
    for node in _subtrees(tree):
        if node.data == "ident":
            used.append(str(node.children[0]))
        elif node.data == "ident_arg":
            functions.append(str(node.children[0]))
        elif node.data == "member_dot_arg":
            method = str(node.children[1])
            methods.append(method)
            arguments = node.children[2] if len(node.children) > 2 else None
            if arguments is not None and not isinstance(arguments, str):
                for argument in arguments.children[: _BINDING_MACROS.get(method, 0)]:
                    if not isinstance(argument, str):
                        bound.update(str(n.children[0]) for n in _subtrees(argument) if n.data == "ident")
    for name in used:
        if name not in NAMES and name not in bound and name not in _TYPE_NAMES:
            meant = _suggest(name, list(NAMES))
            hint = f"did you mean {meant!r}? " if meant else ""
            return f"unknown name {name!r}; {hint}the names are {', '.join(NAMES)}"
    for name in functions:
        if name not in _FUNCTIONS and name not in {"has", "dyn"}:
            return _unknown_function(name)
    for name in methods:
        if name not in _FUNCTIONS and name not in _METHOD_MACROS:
            return _unknown_function(name)
    return None


def _unknown_function(name: str) -> str:
    choices = sorted(_FUNCTIONS | _METHOD_MACROS | {"has"})
    meant = _suggest(name, choices)
    hint = f"did you mean {meant!r}? " if meant else ""
    return f"unknown function {name!r}; {hint}the functions are {', '.join(choices)}"


def _suggest(word: str, choices: list[str]) -> str | None:
    # resources.schema has one; importing it would tie this module to every model
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return close[0] if close else None


@functools.lru_cache(maxsize=256)
def condition(expression: str) -> Condition:
    """The compiled condition; ConditionError when it is not valid (see `check`). Cached by its
    text, so the scheduler may ask again on every pass at no cost."""
    tree = _parse(expression)
    with _LOCK:
        runner = _environment().program(tree)
    return Condition(expression, runner)


def evaluate(
    expression: str,
    results: Results | None = None,
    env: Mapping[str, str] | None = None,
    phases: Mapping[str, str] | None = None,
) -> bool:
    """Whether the stage with this condition runs; ConditionError names the expression and why it
    could not decide."""
    return condition(expression).evaluate(results, env, phases)


def check(expression: str) -> str | None:
    """For a pipeline being applied: what is wrong with the condition, or None. Checks what can be
    known without a run: the syntax, the length, the names and the functions; not the results,
    which do not exist yet."""
    try:
        condition(expression)
    except ConditionError as error:
        return error.reason
    return None
