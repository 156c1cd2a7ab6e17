"""Rows from a stage's output: each line in which a log parser's pattern is found (see
resources.logparsers) is a row of that parser's CSV, its time then its named groups.

Pure: output in, rows out; writing them is controller.parsedlogs's. The output comes in pieces
that may split a line anywhere (even inside a UTF-8 character) from a program nobody vetted, so
a line is bounded (the rest of an endless line is skipped, as resources.stageoutput does), a
value is bounded and kept on one line, and bytes that are not UTF-8 never stop it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from winslow.resources.logparsers import TIME, Regex, check, columns, compile_pattern
from winslow.resources.stageoutput import Lines

MAX_VALUE = 256  # characters of one captured value that are kept

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$")
_UNSAFE = re.compile(r'[,"\x00-\x1f\x7f]')


@dataclass(frozen=True)
class Parser:
    """A stage's parser, compiled: its name (its file's), its pattern and its columns."""

    name: str
    regex: Regex
    columns: tuple[str, ...]

    @property
    def header(self) -> tuple[str, ...]:
        return (TIME, *self.columns)


def compiled(declared: Iterable[tuple[str, str]]) -> list[Parser]:
    """Parsers from (name, pattern) pairs. One that is not valid (a pipeline is checked when it
    is applied, so only a file written by hand or by another version could hold one) is left
    out, not raised: a stage's output is read whatever its parsers."""
    parsers = []
    for name, pattern in declared:
        if check(pattern) is None:
            regex = compile_pattern(pattern)
            parsers.append(Parser(name, regex, tuple(columns(regex))))
    return parsers


@dataclass(frozen=True)
class Row:
    """One matching line: its parser, its time and the values of the named groups (a group that
    took no part in the match is empty)."""

    parser: str
    time: str
    values: tuple[str, ...]

    def csv(self) -> bytes:
        return csv_line((self.time, *self.values))


def csv_line(fields: Sequence[str]) -> bytes:
    """One line of CSV ending in `\\n`, a field quoted only where it holds `,` or `"`."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue().encode()


def _clean(value: str | None) -> str:
    """Bounded, and on one line: control characters (a progress bar's `\\r`) become spaces."""
    return _CONTROL.sub(" ", value[:MAX_VALUE]) if value else ""


def line_time(stamp: str) -> str:
    """The runtime's time of a line (Docker: RFC 3339 with nanoseconds) as ISO 8601 in UTC to the
    millisecond (`2026-01-02T03:04:05.123Z`), which every browser's Date parses. A time of another
    form is kept as it is where it is safe in a CSV field, else left empty."""
    found = _STAMP.match(stamp)
    if found is None:
        return stamp if len(stamp) <= 64 and not _UNSAFE.search(stamp) else ""
    return f"{found.group(1)}.{(found.group(2) or '').ljust(3, '0')[:3]}Z"


def parse_line(parsers: Sequence[Parser], line: str, time: str) -> list[Row]:
    """A row for each parser whose pattern is found in the line (anywhere: a search)."""
    rows = []
    for parser in parsers:
        found = parser.regex.search(line)
        if found is not None:
            rows.append(Row(parser.name, time, tuple(_clean(found.group(c)) for c in parser.columns)))
    return rows


class LineParser:
    """Fed the output in pieces as they come, each with the runtime's time of it; returns the rows
    of the lines each piece completes (a line's time is that of the piece that ends it). A last
    line without its newline is never read: a stage that ended mid-line did not finish it."""

    def __init__(self, parsers: Sequence[Parser]) -> None:
        self.parsers = list(parsers)
        self._lines = Lines()

    def feed(self, data: bytes, stamp: str) -> list[Row]:
        if not self.parsers:
            return []
        return [
            row for line in self._lines.feed(data) for row in parse_line(self.parsers, line, line_time(stamp))
        ]
