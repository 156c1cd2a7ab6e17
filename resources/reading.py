"""The one way a node reads a YAML file from the share: bounded, never blocking, said once.

Every file a node reads (manifests, project status, StageRuns, node files, users, the global
env) comes through `Reader.load`, because anyone who can write to the share can put anything
there, and a network share can show half of a file that is being replaced:

- only a regular file is read: it is opened with O_NOFOLLOW|O_NONBLOCK and checked with fstat,
  so a FIFO or a device at a manifest's name is refused at once instead of blocking the node;
- its size is capped before it is read (manifests: 1 MiB, `WINSLOW_MAX_MANIFEST_BYTES`);
- it must be UTF-8;
- its nesting depth, and its size once aliases are expanded, are checked on libyaml's event
  stream (a state machine with its own stacks) before libyaml's composer, which recurses on the
  C stack and kills the process with a segmentation fault at about 50,000 levels, sees it;
- a version that was parsed once (same path, same content hash) is not parsed again: a large
  manifest costs a read and a hash, and an unchanged one costs no parsing at all;
- a version that does not parse is read again a few times, a short while apart (the half-seen
  file of a network share settles), and then the last good version of the path is used where
  the caller allows it (files nodes write: status, StageRuns, node files, users, env); a user's
  manifest is reported invalid instead. Either way the problem is logged once per version at
  WARNING, with its path, and the error names file, line and field but never a value.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from winslow.resources.errors import InvalidFileError, ManifestError, NotFoundError
from winslow.resources.limits import Limits, manifest_limits, state_limits
from winslow.resources.regularfile import Refused, read_regular, read_versioned
from winslow.resources.yamldecode import decode, invalid_from

__all__ = ["READER", "Limits", "Reader", "manifest_limits", "read_regular", "state_limits"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class _Entry:
    version: bytes
    value: Any = None
    error: InvalidFileError | None = None
    settled: bool = False  # a bad version retried long enough: fail at once from now on
    good: Any = None  # the last valid value of this path, from this or an earlier version
    warned: bytes | None = None


class Reader:
    """Parsed files by path and content hash, with the last good version of each path.

    Values are shared between all who read the same version: callers never change them in
    place (the code base changes models with `model_copy`). The paths least recently read are
    forgotten beyond `capacity`, so files deleted long ago do not stay in memory.
    """

    def __init__(self, *, attempts: int = 3, pause: float = 0.01, capacity: int = 50_000) -> None:
        self.attempts = attempts
        self.pause = pause
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def _put(self, key: tuple[str, str], entry: _Entry) -> None:
        """Under the lock."""
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def load(
        self,
        path: Path,
        source: str,
        parse: Callable[[Any], T],
        *,
        kind: str,
        limits: Limits,
        fallback: bool,
    ) -> T:
        """`parse` turns the decoded document into the value (a pydantic model, say); it may raise
        ValidationError or InvalidFileError. Raises NotFoundError or InvalidFileError only, the
        latter only when `fallback` is False or no version of the path was ever valid."""
        key = (str(path), kind)
        failure: InvalidFileError | None = None
        version = b""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.pause * attempt)
            try:
                raw = read_versioned(path, source, limits.max_bytes, limits.setting)
            except NotFoundError:
                with self._lock:
                    self._entries.pop(key, None)
                raise
            except Refused as refused:
                failure, version = refused.error, refused.version
                self._remember(key, version, failure)
                if refused.retry:
                    continue
                break  # a FIFO, a device, a file over the limit: reading again changes nothing
            version = hashlib.blake2b(raw, digest_size=16).digest()
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
            if entry is not None and entry.version == version:
                if entry.error is None:
                    return entry.value
                failure = entry.error
                if entry.settled:
                    break
                continue  # the same bad bytes: wait for the file to settle
            try:
                value = self._parse(raw, source, parse, limits)
            except InvalidFileError as exc:
                failure = exc
                self._remember(key, version, exc)
                continue
            with self._lock:
                self._put(key, _Entry(version, value=value, good=value))
            return value
        assert failure is not None
        return self._give_up(key, path, version, failure, fallback)

    def _parse(self, raw: bytes, source: str, parse: Callable[[Any], T], limits: Limits) -> T:
        document = decode(raw, source, limits)
        try:
            return parse(document)
        except InvalidFileError as exc:
            exc.document = document
            raise
        except ValidationError as exc:
            raise invalid_from(exc, source, raw.decode(), document) from None
        except ManifestError as exc:
            raise InvalidFileError(exc.source, exc.problems, document=document) from None
        except Exception as exc:  # a parser's own bug must not become anyone else's 500
            raise InvalidFileError.at(source, f"could not be read ({type(exc).__name__})", None) from None

    def _remember(self, key: tuple[str, str], version: bytes, error: InvalidFileError) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._put(key, _Entry(version, error=error))
            elif entry.version != version or entry.error is None:
                entry.version, entry.value, entry.error, entry.settled = version, None, error, False

    def _give_up(
        self, key: tuple[str, str], path: Path, version: bytes, failure: InvalidFileError, fallback: bool
    ) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = _Entry(version, error=failure)
                self._put(key, entry)
            entry.settled = True
            first = entry.warned != version
            entry.warned = version
            good = entry.good
        use_good = fallback and good is not None
        if first:
            action = (
                "using its last good version until it is fixed" if use_good else "not used until it is fixed"
            )
            log.warning(
                "unreadable file on the share: path=%s problem=%r action=%r",
                path,
                failure.reason,
                action,
                extra={"path": str(path), "problem": failure.reason},
            )
        if use_good:
            return good
        raise failure.again(last_good=good)

    def forget(self, path: Path) -> None:
        """Drops what is known of a path (its file was deleted on purpose)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == str(path)]:
                del self._entries[key]


READER = Reader()
"""One per process: the API and the reconcilers share what they parsed."""
