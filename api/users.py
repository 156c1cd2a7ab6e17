"""Users, groups and API tokens in `settings/users.yaml`.

Only a token's hash is stored, so a copy of the share (a backup, an NFS snapshot) grants no
access. Tokens are 32 random bytes, so a plain sha256 is as good as a slow password hash here.
The file is re-read when it changes on disk: an admin's edit, or `winslow user add` on another
machine, takes effect at once on every node without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.reading import READER, state_limits
from winslow.resources.store import atomic_write, dump_yaml

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
HASH_PREFIX = "sha256:"


class UsersFileError(ValueError):
    """settings/users.yaml cannot be used as it is; the message says where and how to fix it."""


class UserRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admin: bool = False
    groups: list[str] = Field(default_factory=list)
    token: str = Field(description="sha256:<hex> of the user's token")


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: dict[str, UserRecord] = Field(default_factory=dict)


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
        if not record.token.startswith(HASH_PREFIX):
            raise InvalidFileError.at(
                SOURCE, "store `sha256:<hex>`, never the token itself", None, f"{where}.token"
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


def add(path: Path, name: str, *, admin: bool = False, groups: list[str] | None = None) -> str:
    """Adds a user and returns the new token: the only time it exists outside the user's hands."""
    check_name(name)
    for group in groups or []:
        check_name(group, "group")
    current = read(path)
    if name in current.users:
        raise UsersFileError(f"user {name!r} already exists in {path}")
    token = new_token()
    current.users[name] = UserRecord(admin=admin, groups=sorted(set(groups or [])), token=hash_token(token))
    atomic_write(path, dump_yaml(current.model_dump()))
    return token


def create_first_admin(path: Path, name: str = "admin") -> str | None:
    """Creates the file with one admin, unless it exists: two nodes starting at once make one admin.

    Linking a finished temporary file to the final name fails if the name exists, so exactly one
    node wins and nobody ever reads half a file (the event log publishes the same way).
    """
    token = new_token()
    data = UsersFile(users={name: UserRecord(admin=True, token=hash_token(token))})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    atomic_write(tmp, dump_yaml(data.model_dump()))
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
        self._users: dict[str, tuple[str, User]] = {}

    def _load(self) -> dict[str, tuple[str, User]]:
        parsed = _load(self.path, fallback=True)
        if parsed is not self._parsed:
            self._users = {
                name: (r.token, User(name, r.admin, frozenset(r.groups))) for name, r in parsed.users.items()
            }
            self._parsed = parsed
        return self._users

    def authenticate(self, token: str) -> User | None:
        return self._find(self._load(), token)

    @staticmethod
    def _find(users: dict[str, tuple[str, User]], token: str) -> User | None:
        presented = hash_token(token)
        found = None
        for stored, user in users.values():
            if hmac.compare_digest(stored.encode(), presented.encode()):
                found = user
        return found

    def empty(self) -> bool:
        return not self._load()

    def all(self) -> list[User]:
        return [user for _, user in sorted(self._load().values(), key=lambda u: u[1].name)]
