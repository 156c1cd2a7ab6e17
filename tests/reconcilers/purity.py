"""A guard that makes a decision fail loudly if it reads a clock, draws randomness or touches
the share: reconcilers' decide functions take all of that from their observation (issue 24)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from unittest import mock

FORBIDDEN = (
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "time.perf_counter",
    "time.sleep",
    "secrets.token_hex",
    "secrets.token_bytes",
    "secrets.token_urlsafe",
    "os.urandom",
    "random.random",
    "random.getrandbits",
    "builtins.open",
    "os.open",
    "os.stat",
    "os.lstat",
    "os.listdir",
    "os.scandir",
    "socket.socket",
)

F = TypeVar("F", bound=Callable[..., Any])


class Impure(AssertionError):
    pass


@contextlib.contextmanager
def forbidden() -> Iterator[None]:
    def refuse(target: str) -> Callable[..., Any]:
        def called(*_: Any, **__: Any) -> Any:
            raise Impure(f"a decision called {target}: take it from the observation instead")

        return called

    with contextlib.ExitStack() as stack:
        for target in FORBIDDEN:
            stack.enter_context(mock.patch(target, refuse(target)))
        yield


def pure(decide: F) -> F:
    """`decide`, run under the guard on every call."""

    @functools.wraps(decide)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        with forbidden():
            return decide(*args, **kwargs)

    return guarded  # type: ignore[return-value]
