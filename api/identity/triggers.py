"""Per-project trigger tokens: a secret that starts its project's next run and can do nothing else.

The tokens of project P live in `settings/triggers/P.yaml`: id, label, who made it and when, the
uid of the project it was made for, and the sha256 of the secret, never the secret (as users'
tokens, api.users), so a copy of the share starts nothing. When a token was last used is in a
file beside it (`P.<id>.used`), rewritten on every use: rewriting the tokens file from a trigger
could bring back a token that another node revoked a moment before, whereas a `.used` file left
without its token grants nothing.

The tokens file is changed only under the event log's lock `triggers/P` (the API takes it:
api.routes.triggers) and replaced atomically; every check reads it anew through the share's
reading path, so a token revoked on one node is refused on every node at once. A token keeps the
uid of its project: a project deleted and applied again under the same name (by someone else,
say) is a new project, which the old project's tokens do not start.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.reading import READER, Limits, read_regular
from winslow.resources.store import atomic_write, dump_yaml

PREFIX = "wst_"
HASH_PREFIX = "sha256:"
MAX_TOKENS = 100
LIMITS = Limits(max_bytes=256 * 1024, max_depth=8, max_nodes=20_000)  # a token is about 250 bytes
USED_BYTES = 64
LABEL = r"^[A-Za-z0-9][A-Za-z0-9 _.:@/+-]{0,62}$"
_ID = re.compile(r"^[0-9a-f]{8}$")


class TriggersFileError(ValueError):
    """A project's tokens file cannot be used as it is; the message says which file and how."""


class TriggerToken(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9a-f]{8}$", description="names the token; no secret")
    name: str = Field(default="", max_length=63, description="a label: what the token is for")
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="sha256:<hex> of the secret")
    created: datetime
    created_by: str = Field(max_length=63)
    project_uid: str | None = Field(default=None, max_length=64, description="the project it starts")


class TriggersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[TriggerToken] = Field(default_factory=list, max_length=MAX_TOKENS)


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown of a token: never the secret, nor its hash."""

    id: str
    name: str
    created: datetime
    created_by: str
    last_used: datetime | None


def new_secret() -> str:
    """`wst_` first: told from a user's token (`wsl_`) and a session id (`wss_`) at a glance."""
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return HASH_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def source(project: str) -> str:
    return f"settings/triggers/{project}.yaml"


def used_path(path: Path, token_id: str) -> Path:
    """`settings/triggers/P.<id>.used` beside `P.yaml` (project names hold no dots)."""
    return path.with_name(f"{path.stem}.{token_id}.used")


def _load(path: Path, project: str, *, fallback: bool) -> TriggersFile:
    try:
        return READER.load(
            path,
            source(project),
            TriggersFile.model_validate,
            kind="triggers",
            limits=LIMITS,
            fallback=fallback,
        )
    except NotFoundError:
        return TriggersFile()
    except InvalidFileError as exc:
        raise TriggersFileError(
            f"{exc.reason}; an admin must fix or remove the file (its tokens stop working)"
        ) from None


def read(path: Path, project: str) -> TriggersFile:
    """The file as it is now (a change must start from it), as a copy: parsed files are shared."""
    return _load(path, project, fallback=False).model_copy(deep=True)


def _write(path: Path, data: TriggersFile) -> None:
    atomic_write(path, dump_yaml(data.model_dump(mode="json", by_alias=True, exclude_none=True)))


def _current(data: TriggersFile, uid: str | None) -> list[TriggerToken]:
    """The tokens of the project that has the name now; those of an earlier one are dead."""
    return [t for t in data.tokens if t.project_uid == uid]


def create(
    path: Path, project: str, uid: str | None, by: str, name: str = "", *, now: datetime | None = None
) -> tuple[str, TokenInfo]:
    """Adds a token and returns its secret: the only time it exists outside the caller's hands.
    The caller holds the file's lock. Tokens of an earlier project of the name are dropped."""
    current = read(path, project)
    tokens = _current(current, uid)
    if len(tokens) >= MAX_TOKENS:
        raise TriggersFileError(
            f"project {project!r} has {len(tokens)} trigger tokens, the most it may have; revoke some first"
        )
    taken = {t.id for t in tokens}
    token_id = secrets.token_hex(4)
    while token_id in taken:
        token_id = secrets.token_hex(4)
    secret = new_secret()
    made = TriggerToken(
        id=token_id,
        name=name,
        hash=hash_secret(secret),
        created=now or datetime.now(UTC).replace(microsecond=0),
        created_by=by,
        project_uid=uid,
    )
    _write(path, TriggersFile(tokens=[*tokens, made]))
    return secret, TokenInfo(made.id, made.name, made.created, made.created_by, None)


def revoke(path: Path, project: str, uid: str | None, token_id: str) -> bool:
    """Removes the token; False when the project has no such token. The caller holds the lock."""
    current = read(path, project)
    tokens = _current(current, uid)
    kept = [t for t in tokens if t.id != token_id]
    if len(kept) == len(tokens):
        return False
    if kept:
        _write(path, TriggersFile(tokens=kept))
    else:
        path.unlink(missing_ok=True)
        READER.forget(path)
    if _ID.match(token_id):
        with contextlib.suppress(OSError):
            used_path(path, token_id).unlink(missing_ok=True)
    return True


def listing(path: Path, project: str, uid: str | None) -> list[TokenInfo]:
    return [
        TokenInfo(t.id, t.name, t.created, t.created_by, last_used(path, project, t.id))
        for t in _current(_load(path, project, fallback=True), uid)
    ]


def identify(path: Path, project: str, secret: str) -> TriggerToken | None:
    """The token whose secret this is, or None. Every stored hash is compared, each in constant
    time, so the time taken says nothing of which token (if any) matched. A file half seen on a
    network share counts in its last good version here, as the users file does."""
    if not secret.startswith(PREFIX) or len(secret) > 512:
        return None
    presented = hash_secret(secret).encode()
    found = None
    for token in _load(path, project, fallback=True).tokens:
        if hmac.compare_digest(token.hash.encode(), presented):
            found = token
    return found


def belongs(token: TriggerToken, uid: str | None) -> bool:
    return token.project_uid == uid


def mark_used(path: Path, token_id: str, now: float) -> None:
    """Never fails a trigger: a full or read-only share only leaves "last used" behind."""
    with contextlib.suppress(OSError):
        atomic_write(used_path(path, token_id), f"{now!r}\n".encode(), durable=False)


def last_used(path: Path, project: str, token_id: str) -> datetime | None:
    try:
        raw = read_regular(
            used_path(path, token_id), f"settings/triggers/{project}.{token_id}.used", USED_BYTES
        )
        value = float(raw.decode("ascii").strip())
    except (NotFoundError, InvalidFileError, UnicodeDecodeError, ValueError):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    with contextlib.suppress(OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(value, UTC).replace(microsecond=0)
    return None
