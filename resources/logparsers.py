"""Log parsers: a stage's `logParsers`, each a name and a pattern whose named groups become the
columns of a CSV file (`.winslow/parsed/NAME.csv` in the run's workspace) that the project page
charts. Reading output into rows is resources.parsedrows's; writing them controller.parsedlogs's.

A pattern is Google RE2, not Python's `re`: RE2 matches in time linear in the line, so a user's
regular expression can never hang the node's thread that reads a stage's output (no
backtracking, hence no look-around and no backreferences), and its memory is bounded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import re2  # type: ignore[import-untyped]  # google-re2 ships no types
from pydantic import AfterValidator, Field, field_validator
from pydantic_core import PydanticCustomError

from winslow.resources.base import DnsLabel, Model

MAX_PARSERS = 16  # parsers a stage may declare
MAX_PATTERN = 1024  # characters of a pattern
MAX_COLUMNS = 16  # named groups of one pattern
MAX_MEMORY = 8 << 20  # what RE2 may use for one pattern
TIME = "time"
"""The first column of every row: the time the runtime gave the line."""

Regex = Any  # a compiled RE2 pattern (re2._Regexp)

_NAMED = re.compile(r"(?<!\\)(?:\\\\)*\(\?P?<([^>]*)>")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a user's mistake is answered, not written to the node's stderr
    options.max_mem = MAX_MEMORY
    return options


def compile_pattern(pattern: str) -> Regex:
    """Raises re2.error for what RE2 does not accept."""
    return re2.compile(pattern, _options())


def columns(regex: Regex) -> list[str]:
    """The named groups in the order the pattern names them."""
    return [name for name, _ in sorted(regex.groupindex.items(), key=lambda item: item[1])]


def check(pattern: str) -> str | None:
    """What is wrong with a pattern, said with its fix; None when it is fine."""
    try:
        regex = compile_pattern(pattern)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        why = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        if "too large" in why:
            return f"{why}: the pattern needs more than RE2's {MAX_MEMORY >> 20} MiB; repeat less"
        return (
            f"{why}: the pattern is Google RE2 syntax, which has no look-around and no "
            r"backreferences (write `(?P<loss>[0-9.]+)`, not `(?=...)` or `\1`)"
        )
    found = columns(regex)
    if not found:
        return r"the pattern names no group: name each value to record, for example `loss (?P<loss>[0-9.]+)`"
    named = _NAMED.findall(pattern)
    twice = sorted({name for name in named if named.count(name) > 1})
    if twice:
        return f"the pattern names the group {twice[0]!r} twice; give each group its own name"
    if TIME in found:
        return f"a group is named {TIME!r}, the first column of every row (the line's time); rename it"
    if len(found) > MAX_COLUMNS:
        return f"the pattern names {len(found)} groups; at most {MAX_COLUMNS} are recorded, so name fewer"
    bad = [name for name in found if not _COLUMN.match(name)]
    if bad:
        return f"the group name {bad[0]!r} is not a plain name; use letters, digits and '_'"
    return None


class LogParser(Model):
    """Turns lines of the stage's output into rows of `.winslow/parsed/NAME.csv` in its workspace:
    each line in which the pattern is found adds a row, `time` then the pattern's named groups."""

    name: DnsLabel = Field(
        description="names the file, `.winslow/parsed/NAME.csv`, and the chart; unique in the stage",
        examples=["loss"],
    )
    pattern: str = Field(
        max_length=MAX_PATTERN,
        description="a regular expression in Google RE2 syntax (no look-around, no backreferences), "
        "searched for in each line; its named groups `(?P<epoch>[0-9]+)` are the columns",
        examples=[r"epoch (?P<epoch>\d+) loss (?P<loss>[\d.]+)"],
    )

    @field_validator("pattern")
    @classmethod
    def _valid_pattern(cls, pattern: str) -> str:
        problem = check(pattern)
        if problem:
            raise PydanticCustomError("log_parser", "{problem}", {"problem": problem})
        return pattern


def _unique_names(parsers: list[LogParser]) -> list[LogParser]:
    seen: set[str] = set()
    for index, parser in enumerate(parsers):
        if parser.name in seen:
            raise PydanticCustomError(
                "log_parser",
                "{problem}",
                {
                    "problem": f"parser name {parser.name!r} is used twice (again at index {index}); "
                    "give each parser of the stage its own name: it names the file .winslow/parsed/NAME.csv"
                },
            )
        seen.add(parser.name)
    return parsers


LogParsers = Annotated[list[LogParser], Field(max_length=MAX_PARSERS), AfterValidator(_unique_names)]
