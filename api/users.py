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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


def read(path: Path) -> UsersFile:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return UsersFile()
    except yaml.YAMLError as exc:
        raise UsersFileError(f"{path}: not valid YAML ({exc})") from None
    try:
        parsed = UsersFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise UsersFileError(f"{path}: {problems}") from None
    for name, record in parsed.users.items():
        check_name(name)
        for group in record.groups:
            check_name(group, "group")
        if not record.token.startswith(HASH_PREFIX):
            raise UsersFileError(f"{path}: users.{name}.token: store `sha256:<hex>`, never the token itself")
    return parsed


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
    """Answers "whose token is this?", re-reading the file when its stamp changes, and once a
    second at most when a token is not known: on a network share the stamp itself is cached for
    seconds, and a user just added on another machine must not be refused meanwhile."""

    RECHECK = 1.0

    def __init__(self, path: Path, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.monotonic = monotonic
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, tuple[str, User]] = {}
        self._rechecked = float("-inf")

    def _load(self, *, fresh: bool = False) -> dict[str, tuple[str, User]]:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        if fresh or stamp != self._stamp or stamp is None:
            parsed = read(self.path)
            self._users = {
                name: (r.token, User(name, r.admin, frozenset(r.groups))) for name, r in parsed.users.items()
            }
            self._stamp = stamp
        return self._users

    def authenticate(self, token: str) -> User | None:
        found = self._find(self._load(), token)
        if found is None and self.monotonic() - self._rechecked >= self.RECHECK:
            self._rechecked = self.monotonic()
            found = self._find(self._load(fresh=True), token)
        return found

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
