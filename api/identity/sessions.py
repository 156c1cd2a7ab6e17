"""Browser sessions on the share: the web UI's cookie holds a session id, never the user's token.

A session is a file under `settings/sessions/`, named by the sha256 of its id, so a copy of the
share (a backup, a snapshot) holds nothing a browser could present. Every node reads the same
folder and checks the file on every request, with no cache: ending a session (sign-out, `winslow
user revoke`) removes the file, and the session ends on every node at once.

The record (`<hash>.yaml`: user, the id of the token it was made with, creation and absolute
expiry) is written once and never again. When it was last used (for the idle expiry) is in a
second file beside it (`<hash>.seen`), rewritten at most once a minute: rewriting the record
itself would, if another node removed it a moment before, bring an ended session back; a `.seen`
file brought back without its record ends nothing and is pruned.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.reading import READER, Limits, Reader, read_regular
from winslow.resources.store import atomic_write, dump_yaml, listdir_or_empty

log = logging.getLogger(__name__)

PREFIX = "wss_"
IDLE_SECONDS = 12 * 3600
MAX_SECONDS = 7 * 24 * 3600
TOUCH_SECONDS = 60.0
PRUNE_SECONDS = 3600.0
IDLE_ENV = "WINSLOW_SESSION_IDLE_SECONDS"
MAX_ENV = "WINSLOW_SESSION_MAX_SECONDS"
MAX_ID_LENGTH = 128  # an id is 47 characters; anything longer is not one, and is not hashed
LIMITS = Limits(max_bytes=4096, max_depth=4, max_nodes=64)  # a record is about 150 bytes
SEEN_BYTES = 64
_RECORD = re.compile(r"^([0-9a-f]{64})\.yaml$")
_SEEN = re.compile(r"^([0-9a-f]{64})\.seen$")
_CSRF_CONTEXT = b"winslow csrf v1"


class SessionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(max_length=63)
    token: str = Field(max_length=32, description="the id of the token signed in with")
    created: float = Field(allow_inf_nan=False, description="seconds since the epoch")
    expires: float = Field(allow_inf_nan=False, description="seconds since the epoch; ends it, used or not")


@dataclass(frozen=True)
class Session:
    user: str
    token: str
    created: float
    expires: float
    seen: float


def new_id() -> str:
    """`wss_` first: a session id is told from an API token (`wsl_`) in a log or a leaked file."""
    return PREFIX + secrets.token_urlsafe(32)


def file_name(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_value(session_id: str) -> str:
    """The CSRF value of a session, derived from its id: a state-changing request made with the
    cookie must carry this value in a header. A value an attacker planted in the CSRF cookie (from
    a sibling subdomain, say) is not it, and the value gives away nothing of the id."""
    digest = hmac.new(session_id.encode(), _CSRF_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def seconds_from_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = default
    if not math.isfinite(value) or value <= 0:
        log.warning("%s=%r is not a positive number of seconds; using %g", name, raw, default)
        return default
    return value


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class SessionStore:
    """The sessions of one share. Pure but for the files: the clock is injected."""

    def __init__(
        self,
        folder: Path,
        clock: Callable[[], float],
        *,
        idle_seconds: float | None = None,
        max_seconds: float | None = None,
        touch_seconds: float = TOUCH_SECONDS,
        reader: Reader = READER,
    ) -> None:
        self.folder = folder
        self.clock = clock
        self.idle_seconds = idle_seconds or seconds_from_env(IDLE_ENV, IDLE_SECONDS)
        self.max_seconds = max_seconds or seconds_from_env(MAX_ENV, MAX_SECONDS)
        self.touch_seconds = touch_seconds
        self.reader = reader
        self._touch_failing = False
        self._pruned_at: float | None = None

    def _record_path(self, name: str) -> Path:
        return self.folder / f"{name}.yaml"

    def _seen_path(self, name: str) -> Path:
        return self.folder / f"{name}.seen"

    def create(self, user: str, token: str) -> str:
        """A new session for `user`, signed in with the token `token` (its id); returns the session
        id, which exists nowhere else than in the caller's hands. Raises OSError when the share
        cannot be written: a sign-in that could not be stored must fail."""
        self._prune_now_and_then()
        session_id = new_id()
        now = self.clock()
        record = SessionRecord(user=user, token=token, created=now, expires=now + self.max_seconds)
        atomic_write(self._record_path(file_name(session_id)), dump_yaml(record.model_dump()))
        return session_id

    def find(self, session_id: str) -> Session | None:
        """The session while it lasts; None when it never was, has ended or expired, or its files
        cannot be read (whatever is there instead, the answer is "no session", never an error).
        Marks it used, at most once a minute."""
        if not session_id.startswith(PREFIX) or len(session_id) > MAX_ID_LENGTH:
            return None
        name = file_name(session_id)
        session = self._read(name)
        if session is None:
            return None
        now = self.clock()
        if self._expired(session, now):
            self._remove(name)
            return None
        if now - session.seen >= self.touch_seconds:
            self._touch(name, now)
        return session

    def end(self, session_id: str) -> bool:
        """Ends the session (on every node: they all read the share). Raises OSError when the share
        cannot be written, so that sign-out can say so instead of pretending."""
        if not session_id.startswith(PREFIX) or len(session_id) > MAX_ID_LENGTH:
            return False
        return self._remove(file_name(session_id), quiet=False)

    def of_user(self, user: str) -> list[Session]:
        """The user's live sessions, for listing."""
        now = self.clock()
        found = []
        for name in self._names():
            session = self._read(name)
            if session is not None and session.user == user and not self._expired(session, now):
                found.append(session)
        return found

    def end_user(self, user: str, tokens: Collection[str] | None = None) -> int:
        """Ends the user's sessions (only those made with one of `tokens`, if given); returns how
        many. Raises OSError when the share cannot be written."""
        ended = 0
        for name in self._names():
            session = self._read(name)
            if session is None or session.user != user:
                continue
            if tokens is not None and session.token not in tokens:
                continue
            ended += self._remove(name, quiet=False)
        return ended

    def prune(self) -> int:
        """Removes expired sessions and `.seen` files left without their record; files that cannot
        be read are left for an admin (the reading path has logged them)."""
        now = self.clock()
        removed = 0
        entries = listdir_or_empty(self.folder)
        records = set()
        for entry in entries:
            match = _RECORD.match(entry)
            if match is None:
                continue
            records.add(match.group(1))
            session = self._read(match.group(1))
            if session is not None and self._expired(session, now):
                removed += self._remove(match.group(1))
        for entry in entries:
            match = _SEEN.match(entry)
            if match is not None and match.group(1) not in records:
                with contextlib.suppress(OSError):
                    self._seen_path(match.group(1)).unlink(missing_ok=True)
        return removed

    def _names(self) -> list[str]:
        return sorted(m.group(1) for e in listdir_or_empty(self.folder) if (m := _RECORD.match(e)))

    def _expired(self, session: Session, now: float) -> bool:
        """Limits lowered on the node (the environment) count for sessions made before."""
        expires = min(session.expires, session.created + self.max_seconds)
        return now >= expires or now - max(session.seen, session.created) >= self.idle_seconds

    def _read(self, name: str) -> Session | None:
        path = self._record_path(name)
        source = f"settings/sessions/{name}.yaml"
        try:
            record = self.reader.load(
                path, source, SessionRecord.model_validate, kind="session", limits=LIMITS, fallback=False
            )
        except (NotFoundError, InvalidFileError):
            return None
        try:
            raw = read_regular(self._seen_path(name), f"settings/sessions/{name}.seen", SEEN_BYTES)
        except NotFoundError:
            seen: float | None = record.created
        except InvalidFileError:
            return None
        else:
            seen = _finite(raw.decode("ascii", errors="replace").strip())
        if seen is None:
            return None
        return Session(record.user, record.token, record.created, record.expires, seen)

    def _touch(self, name: str, now: float) -> None:
        """Never fails the request: a full or read-only share only stops the idle clock from being
        reset (logged once until a write succeeds again)."""
        try:
            atomic_write(self._seen_path(name), f"{now!r}\n".encode(), durable=False)
        except OSError as exc:
            if not self._touch_failing:
                log.warning(
                    "cannot note a session's use on the share (%s); sessions may end after %g s idle "
                    "though in use, until the share can be written again",
                    exc.strerror or exc,
                    self.idle_seconds,
                )
            self._touch_failing = True
        else:
            self._touch_failing = False

    def _remove(self, name: str, *, quiet: bool = True) -> bool:
        """The record first: without it the session is over, whatever happens to the rest."""
        record = self._record_path(name)
        try:
            try:
                record.unlink()
                existed = True
            except FileNotFoundError:
                existed = False
            self._seen_path(name).unlink(missing_ok=True)
        except IsADirectoryError:
            return False  # not a session, whatever it is; reading it says "no session"
        except OSError:
            if quiet:
                return False
            raise
        self.reader.forget(record)
        return existed

    def _prune_now_and_then(self) -> None:
        now = self.clock()
        if self._pruned_at is not None and 0 <= now - self._pruned_at < PRUNE_SECONDS:
            return
        self._pruned_at = now
        try:
            self.prune()
        except OSError as exc:
            log.warning("cannot prune expired sessions in %s: %s", self.folder, exc.strerror or exc)
