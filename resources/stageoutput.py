"""What a stage reports in its output: results (`WINSLOW_RESULT: key=value`) and progress
(`WINSLOW_PROGRESS: 42`).

Read as the output arrives, in pieces that may split a line anywhere (even inside a UTF-8
character), from a program nobody vetted: a line is bounded (the rest of an endless line is
skipped), results are bounded in number and size, and bytes that are not UTF-8 never stop it.
Unlike the original Winslow, a value is everything after the first `=` (a URL's query stays
whole), and a percentage that a tool prints for its own reasons is the stage's progress only
where the stage opted in (`progress: percent-lines`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from winslow.resources.pipeline import ProgressForm

LINE_LIMIT = 8192  # bytes of one line that are looked at; a longer line's rest is skipped
RESULT_KEYS = 64  # results a stage may report; a new key beyond them is ignored
RESULT_VALUE = 1024  # characters of a value that are kept

_RESULT = re.compile(r"^\s*WINSLOW_RESULT:\s*([A-Za-z_][A-Za-z0-9_.\-]{0,63})\s*=(.*)$")
_PROGRESS = re.compile(r"^\s*WINSLOW_PROGRESS:\s*(-?[0-9]+(?:\.[0-9]+)?)\s*%?\s*$")
_PERCENT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s?%")


class Lines:
    """Whole lines out of pieces of output that may split them anywhere. A line longer than
    LINE_LIMIT is skipped whole (a program's endless line must not grow a buffer without end); a
    last line without its newline is never given: a stage that ended mid-line did not finish it."""

    def __init__(self) -> None:
        self._line = bytearray()
        self._skipping = False  # within a line longer than LINE_LIMIT

    def feed(self, data: bytes) -> Iterator[str]:
        """The lines `data` completes, decoded (bytes that are not UTF-8 become U+FFFD)."""
        start = 0
        while True:
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            if not self._skipping:
                self._line += piece
                if len(self._line) > LINE_LIMIT:
                    self._line.clear()
                    self._skipping = True
            if end < 0:
                return
            if not self._skipping:
                yield bytes(self._line).decode("utf-8", errors="replace").rstrip("\r")
            self._line.clear()
            self._skipping = False
            start = end + 1


class StageOutput:
    """Fed the output in pieces as they come; `results` and `progress` say what it reported so far."""

    def __init__(self, form: ProgressForm = ProgressForm.MARKER) -> None:
        self.form = form
        self.results: dict[str, str] = {}
        self.progress: float | None = None
        self._lines = Lines()

    def feed(self, data: bytes) -> None:
        for line in self._lines.feed(data):
            self._read(line)

    def _read(self, line: str) -> None:
        result = _RESULT.match(line)
        if result is not None:
            key, value = result.group(1), result.group(2).strip()
            if key in self.results or len(self.results) < RESULT_KEYS:
                self.results[key] = value[:RESULT_VALUE]
            return
        marker = _PROGRESS.match(line)
        if marker is not None:
            self.progress = _clamped(marker.group(1))
        elif self.form is ProgressForm.PERCENT_LINES:
            found = _PERCENT.findall(line)
            if found:
                self.progress = _clamped(found[-1])


def _clamped(number: str) -> float:
    return min(100.0, max(0.0, float(number)))
