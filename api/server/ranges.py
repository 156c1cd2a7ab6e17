"""HTTP byte ranges: `Range` on downloads (resuming them) and `Content-Range` on uploads (resuming those).

One range per request is all a resuming client needs; a `Range` header asking for several, or one
that does not parse, is ignored as RFC 9110 allows, and the whole file is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d{0,19})\s*-\s*(\d{0,19})\s*")
_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d{1,19})-(\d{1,19})/(\d{1,19})\s*")


class Unsatisfiable(ValueError):
    """The range starts at or beyond the end of the file: 416."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as on the wire
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def header(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.total}"


def requested(header: str | None, size: int) -> ByteRange | None:
    """The single range a `Range` header asks for, clipped to the file; None means the whole file."""
    match = _RANGE.fullmatch(header or "")
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return ByteRange(max(size - suffix, 0), size - 1, size)
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    end = min(int(last), size - 1) if last != "" else size - 1
    return ByteRange(start, end, size)


def content_range(header: str) -> ByteRange:
    """`bytes START-END/TOTAL` of an upload; ValueError with the expected form otherwise."""
    match = _CONTENT_RANGE.fullmatch(header)
    if match is None:
        raise ValueError(f"Content-Range {header!r}: expected `bytes START-END/TOTAL`")
    start, end, total = (int(g) for g in match.groups())
    if not start <= end < total:
        raise ValueError(f"Content-Range {header!r}: need START <= END < TOTAL")
    return ByteRange(start, end, total)
