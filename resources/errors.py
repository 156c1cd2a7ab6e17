"""Errors a user can act on: each names the file or request, the field path and the fix."""

from __future__ import annotations

import errno
from typing import Any

SHARE_UNWRITABLE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
"""A share that takes no writes for now (full, over quota, read-only): wait, never fail a run."""


class ManifestError(ValueError):
    """A manifest that cannot be accepted; nothing was written because of it."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = []
        for field, message in self.problems:
            where = f"{self.source}: {field}" if field else self.source
            lines.append(f"{where}: {message}")
        return "\n".join(lines)

    @classmethod
    def single(cls, source: str, field: str, message: str) -> ManifestError:
        return cls(source, [(field, message)])


SHOWN_PROBLEMS = 10


class InvalidFileError(ManifestError):
    """A file on the share that exists but cannot be used: not a regular file, too large, not
    UTF-8, not YAML, nested too deeply, or not valid for its kind.

    It names the file, the line and the field, never a value from the file: the message may reach
    anyone who may see the path (a StageRun's file holds its project's environment). `document`
    is the decoded YAML when it decoded, for access decisions only (who owns a broken project),
    never for display. `last_good` is the last valid version of the path this node read, if any.
    """

    def __init__(
        self,
        source: str,
        problems: list[tuple[str, str]],
        lines: list[int | None] | None = None,
        *,
        name: str | None = None,
        document: Any = None,
        last_good: Any = None,
    ) -> None:
        self.lines: list[int | None] = lines if lines is not None else [None for _ in problems]
        self.name = name
        self.document = document
        self.last_good = last_good
        super().__init__(source, problems)

    def render(self) -> str:
        parts = []
        for (field, message), line in list(zip(self.problems, self.lines, strict=True))[:SHOWN_PROBLEMS]:
            where = [self.source] + ([f"line {line}"] if line else []) + ([field] if field else [])
            parts.append(f"{': '.join(where)}: {message}")
        if len(self.problems) > SHOWN_PROBLEMS:
            parts.append(f"and {len(self.problems) - SHOWN_PROBLEMS} more problems in {self.source}")
        return "; ".join(parts)

    @property
    def reason(self) -> str:
        return self.render()

    def again(self, *, last_good: Any = None, name: str | None = None) -> InvalidFileError:
        """A fresh copy to raise: a cached exception raised twice would pile up tracebacks."""
        return InvalidFileError(
            self.source,
            self.problems,
            self.lines,
            name=name or self.name,
            document=self.document,
            last_good=last_good,
        )

    @classmethod
    def at(cls, source: str, message: str, line: int | None = None, field: str = "") -> InvalidFileError:
        lines: list[int | None] = [line]
        return cls(source, [(field, message)], lines)


class NotFoundError(LookupError):
    """The named object does not exist on the share."""


class ConflictError(RuntimeError):
    """A compare-and-swap lost: someone else changed the object first."""
