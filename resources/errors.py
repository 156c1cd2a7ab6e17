"""Errors a user can act on: each names the file or request, the field path and the fix."""

from __future__ import annotations


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


class NotFoundError(LookupError):
    """The named object does not exist on the share."""


class ConflictError(RuntimeError):
    """A compare-and-swap lost: someone else changed the object first."""
