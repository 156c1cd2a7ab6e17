"""Users, groups and API tokens in `settings/users.yaml`.

Only a token's hash is stored, so a copy of the share (a backup, an NFS snapshot) grants no
access. Tokens are 32 random bytes, so a plain sha256 is as good as a slow password hash here.
The file is re-read when it changes on disk: an admin's edit, or `winslow user add` on another
machine, takes effect at once on every node without a restart.

A user may hold several tokens (`tokens:`, each with an id that names it in `winslow user token
list/rotate/revoke` and is no secret). Files written before tokens had ids hold one `token:
sha256:...`; it is read as a token whose id is derived from its hash, so the id stays the same
when the file is next written in the new form.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.reading import READER, state_limits
from winslow.resources.store import atomic_write, dump_yaml

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
HASH_PREFIX = "sha256:"


class UsersFileError(ValueError):
    """settings/users.yaml cannot be used as it is; the message says where and how to fix it."""


class TokenRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    hash: str = Field(description="sha256:<hex> of the token")
    created: datetime | None = None


class UserRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admin: bool = False
    groups: list[str] = Field(default_factory=list)
    tokens: list[TokenRecord] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _single_token(cls, data: Any) -> Any:
        """The form before tokens had ids: `token: sha256:...`."""
        if isinstance(data, dict) and "token" in data:
            data = dict(data)
            stored = data.pop("token")
            legacy = {"id": legacy_id(stored) if isinstance(stored, str) else "legacy", "hash": stored}
            tokens = data.get("tokens")
            data["tokens"] = [legacy, *(tokens if isinstance(tokens, list) else [])]
        return data


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: dict[str, UserRecord] = Field(default_factory=dict)


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown of a token: never the token, nor its hash."""

    id: str
    created: datetime | None


@dataclass(frozen=True)
class User:
    name: str
    admin: bool = False
    groups: frozenset[str] = frozenset()

    def wire(self) -> dict[str, Any]:
        return {"name": self.name, "admin": self.admin, "groups": sorted(self.groups)}


def check_name(name: str, what: str = "user") -> str:
    if len(name) > 63 or not _NAME.match(name):
        raise UsersFileError(
            f"{name!r} is not a valid {what} name: use lowercase letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit"
        )
    return name


def hash_token(token: str) -> str:
    return HASH_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def legacy_id(stored_hash: str) -> str:
    """A hash of the hash: stable, and it gives away nothing of the token."""
    return hashlib.sha256(stored_hash.encode()).hexdigest()[:8]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def new_token() -> str:
    """`wsl_` first: a token is recognisable in a leaked file, and never starts with `-`, which a
    command line (`winsctl --token TOKEN`) would take for an option."""
    return f"wsl_{secrets.token_urlsafe(32)}"


def _parse(data: Any) -> UsersFile:
    parsed = UsersFile.model_validate(data or {})
    for name, record in parsed.users.items():
        where = f"users.{name}"
        if len(name) > 63 or not _NAME.match(name):
            raise InvalidFileError.at(SOURCE, "is not a valid user name", None, where)
        for group in record.groups:
            if len(group) > 63 or not _NAME.match(group):
                raise InvalidFileError.at(
                    SOURCE, "holds a group name that is not valid", None, f"{where}.groups"
                )
        for index, token in enumerate(record.tokens):
            if not token.hash.startswith(HASH_PREFIX):
                raise InvalidFileError.at(
                    SOURCE,
                    "store `sha256:<hex>`, never the token itself",
                    None,
                    f"{where}.tokens[{index}].hash",
                )
    return parsed


SOURCE = "settings/users.yaml"


def _load(path: Path, *, fallback: bool) -> UsersFile:
    try:
        return READER.load(path, SOURCE, _parse, kind="users", limits=state_limits(), fallback=fallback)
    except NotFoundError:
        return UsersFile()
    except InvalidFileError as exc:
        if fallback:  # the API's answer, which may reach a client without a token: no user names
            problems = "; ".join(sorted({message for _, message in exc.problems}))
            raise UsersFileError(f"{path}: {problems} (the node's log says where)") from None
        raise UsersFileError(f"{path}: {exc.reason.removeprefix(SOURCE + ': ')}") from None


def read(path: Path) -> UsersFile:
    """The file as it is now: a change (`winslow user add`) must start from it, never from an
    older version. A copy, because the parsed file is shared with every other reader."""
    return _load(path, fallback=False).model_copy(deep=True)


def _write(path: Path, data: UsersFile) -> None:
    atomic_write(path, dump_yaml(data.model_dump(mode="json", exclude_none=True)))


def _new_record(token: str, taken: set[str], now: datetime | None) -> TokenRecord:
    token_id = secrets.token_hex(4)
    while token_id in taken:
        token_id = secrets.token_hex(4)
    return TokenRecord(id=token_id, hash=hash_token(token), created=now or _now())


def add(
    path: Path,
    name: str,
    *,
    admin: bool = False,
    groups: list[str] | None = None,
    now: datetime | None = None,
) -> str:
    """Adds a user and returns the new token: the only time it exists outside the user's hands."""
    check_name(name)
    for group in groups or []:
        check_name(group, "group")
    current = read(path)
    if name in current.users:
        raise UsersFileError(f"user {name!r} already exists in {path}")
    token = new_token()
    record = UserRecord(
        admin=admin, groups=sorted(set(groups or [])), tokens=[_new_record(token, set(), now)]
    )
    current.users[name] = record
    _write(path, current)
    return token


def _user(current: UsersFile, path: Path, name: str) -> UserRecord:
    record = current.users.get(name)
    if record is None:
        raise UsersFileError(f"there is no user {name!r} in {path}; `winslow user list` shows who there is")
    return record


def _chosen(record: UserRecord, name: str, token_id: str | None) -> list[TokenRecord]:
    """The token `token_id`, or every token of the user when None."""
    if token_id is None:
        return list(record.tokens)
    chosen = [t for t in record.tokens if t.id == token_id]
    if not chosen:
        raise UsersFileError(
            f"{name} has no token {token_id!r}; `winslow user token list {name}` shows its tokens' ids"
        )
    return chosen


def tokens(path: Path, name: str) -> list[TokenInfo]:
    return [TokenInfo(t.id, t.created) for t in _user(read(path), path, name).tokens]


def add_token(path: Path, name: str, *, now: datetime | None = None) -> tuple[str, TokenInfo]:
    """Another token beside the user's others (one per machine, say), so that one can be revoked alone."""
    current = read(path)
    record = _user(current, path, name)
    token = new_token()
    added = _new_record(token, {t.id for t in record.tokens}, now)
    record.tokens.append(added)
    _write(path, current)
    return token, TokenInfo(added.id, added.created)


def rotate_token(
    path: Path, name: str, token_id: str | None = None, *, now: datetime | None = None
) -> tuple[str, TokenInfo, list[str]]:
    """Replaces the token `token_id` (None: all the user's tokens) by a new one in one write, so no
    moment exists where the user has neither. Returns the new token and the ids it replaced."""
    current = read(path)
    record = _user(current, path, name)
    replaced = [t.id for t in _chosen(record, name, token_id)]
    token = new_token()
    added = _new_record(token, {t.id for t in record.tokens}, now)
    record.tokens = [t for t in record.tokens if t.id not in replaced] + [added]
    _write(path, current)
    return token, TokenInfo(added.id, added.created), replaced


def revoke_token(path: Path, name: str, token_id: str | None = None) -> list[str]:
    """Removes the token `token_id` (None: all of them; the user stays, without access, until it
    gets a new one with `winslow user token add`). Returns the ids removed."""
    current = read(path)
    record = _user(current, path, name)
    removed = [t.id for t in _chosen(record, name, token_id)]
    record.tokens = [t for t in record.tokens if t.id not in removed]
    _write(path, current)
    return removed


def create_first_admin(path: Path, name: str = "admin") -> str | None:
    """Creates the file with one admin, unless it exists: two nodes starting at once make one admin.

    Linking a finished temporary file to the final name fails if the name exists, so exactly one
    node wins and nobody ever reads half a file (the event log publishes the same way).
    """
    token = new_token()
    data = UsersFile(users={name: UserRecord(admin=True, tokens=[_new_record(token, set(), None)])})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    _write(tmp, data)
    try:
        os.link(tmp, path)
    except (FileExistsError, PermissionError):  # sshfs: EPERM when another node linked first
        if path.exists():
            return None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return token


class UserDirectory:
    """Answers "whose token is this?" from the share's reading path: the file is opened on every
    check (which a network share answers with its current version, unlike a stat stamp it may
    cache for seconds) and parsed once per version, so an admin's edit or `winslow user add` on
    another machine counts at once. While it cannot be read (half seen on a network share, or
    broken by hand) its last good version does, and the node's log says so once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parsed: UsersFile | None = None
        self._users: dict[str, tuple[User, tuple[tuple[str, str], ...]]] = {}

    def _load(self) -> dict[str, tuple[User, tuple[tuple[str, str], ...]]]:
        parsed = _load(self.path, fallback=True)
        if parsed is not self._parsed:
            self._users = {
                name: (User(name, r.admin, frozenset(r.groups)), tuple((t.hash, t.id) for t in r.tokens))
                for name, r in parsed.users.items()
            }
            self._parsed = parsed
        return self._users

    def authenticate(self, token: str) -> User | None:
        found = self.identify(token)
        return found[0] if found else None

    def identify(self, token: str) -> tuple[User, str] | None:
        """The token's user and the token's id. Every stored hash is compared, in constant time
        each, so the time taken says nothing of which user (if any) a token belongs to."""
        presented = hash_token(token).encode()
        found = None
        for user, held in self._load().values():
            for stored, token_id in held:
                if hmac.compare_digest(stored.encode(), presented):
                    found = (user, token_id)
        return found

    def holder(self, name: str, token_id: str) -> User | None:
        """The user `name` while it still holds the token `token_id`: a session made with a token
        ends when the token is revoked or rotated, on every node, with no other step."""
        entry = self._load().get(name)
        if entry is None or all(held_id != token_id for _, held_id in entry[1]):
            return None
        return entry[0]

    def all(self) -> list[User]:
        return [user for user, _ in sorted(self._load().values(), key=lambda u: u[0].name)]
