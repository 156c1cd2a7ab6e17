"""Where everything lives on the share (docs/design.md, section 3). Every share path is built here."""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from winslow.resources.errors import InvalidFileError, NotFoundError
from winslow.resources.project import NotifyTarget
from winslow.resources.reading import READER, manifest_limits, state_limits
from winslow.resources.store import Store, atomic_write, dump_yaml


class ShareLayout:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.store = Store(self.root)
        self.settings = self.root / "settings"
        self.env_file = self.settings / "env.yaml"
        self.notify_file = self.settings / "notify.yaml"  # user -> targets told of all their projects
        self.users_file = self.settings / "users.yaml"
        self.sessions = self.settings / "sessions"  # one file per signed-in browser
        self.triggers = self.settings / "triggers"  # one file per project with trigger tokens
        self.resources = self.root / "resources"
        self.workspaces = self.root / "workspaces"
        self.logs = self.root / "logs"
        self.run = self.root / "run"
        self.events = self.run / "events"
        self.nodes = self.run / "nodes"
        self.outbox = self.run / "outbox"  # one file per notification not sent yet (reconcilers.notify)
        self.share_file = self.run / "share.yaml"

    def ensure(self) -> None:
        """A missing share is created: a local directory is the single-machine default."""
        self.store.ensure()
        for folder in (self.settings, self.resources, self.workspaces, self.logs, self.events, self.nodes):
            folder.mkdir(parents=True, exist_ok=True)
        if not self.share_file.exists():
            atomic_write(self.share_file, dump_yaml({"uid": secrets.token_hex(8)}))

    @cached_property
    def uid(self) -> str:
        """Tells this share's containers from another's on a Docker engine that several use."""

        def parse(data: Any) -> str:
            if not isinstance(data, dict) or not isinstance(data.get("uid"), str | int):
                raise InvalidFileError.at("run/share.yaml", "is required", None, "uid")
            return str(data["uid"])

        return READER.load(
            self.share_file, "run/share.yaml", parse, kind="share", limits=state_limits(), fallback=True
        )

    def project_dir(self, project: str) -> Path:
        return self.workspaces / project

    def project_input(self, project: str) -> Path:
        return self.workspaces / project / "input"

    def project_output(self, project: str) -> Path:
        return self.workspaces / project / "output"

    def stage_workspace(self, project: str, run: str) -> Path:
        return self.workspaces / project / "stages" / run

    def log_file(self, project: str, run: str) -> Path:
        return self.logs / project / f"{run}.log"

    def trigger_file(self, project: str) -> Path:
        return self.triggers / f"{project}.yaml"

    def node_file(self, node: str) -> Path:
        return self.nodes / f"{node}.yaml"

    def subscriptions(self) -> dict[str, list[NotifyTarget]]:
        """`settings/notify.yaml`: each user's targets for all the projects they own or are a member
        of (`alice: [{email: alice@example.org}]`). Its last good version while it cannot be read."""
        try:
            return READER.load(
                self.notify_file,
                "settings/notify.yaml",
                _subscriptions,
                kind="notify",
                limits=manifest_limits(),
                fallback=True,
            )
        except NotFoundError:
            return {}

    def priority_limit(self) -> int:
        """The highest `spec.priority` a user who is no admin may give a project
        (`settings/scheduling.yaml`: `userPriorityLimit`, default 0)."""
        try:
            return READER.load(
                self.settings / "scheduling.yaml",
                "settings/scheduling.yaml",
                _priority_limit,
                kind="scheduling",
                limits=manifest_limits(),
                fallback=True,
            )
        except (NotFoundError, InvalidFileError):
            return 0

    def user_groups(self) -> dict[str, frozenset[str]]:
        """Each user's groups, from `settings/users.yaml` (api.identity.users owns the file; a quota
        of a group covers its members' projects). Its last good version while it cannot be read."""
        try:
            return READER.load(
                self.users_file,
                "settings/users.yaml",
                _groups,
                kind="groups",
                limits=state_limits(),
                fallback=True,
            )
        except NotFoundError:
            return {}

    def global_env(self) -> dict[str, str]:
        """Its last good version while the file cannot be read; InvalidFileError if never."""
        try:
            return dict(
                READER.load(
                    self.env_file,
                    "settings/env.yaml",
                    _env,
                    kind="env",
                    limits=manifest_limits(),
                    fallback=True,
                )
            )
        except NotFoundError:
            return {}


def _subscriptions(data: Any) -> dict[str, list[NotifyTarget]]:
    if data is None:
        return {}
    return _SUBSCRIPTIONS.validate_python(data)


_SUBSCRIPTIONS = TypeAdapter(dict[str, list[NotifyTarget]])


def _priority_limit(data: Any) -> int:
    value = data.get("userPriorityLimit", 0) if isinstance(data, dict) else 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidFileError.at(
            "settings/scheduling.yaml", "is not a whole number", None, "userPriorityLimit"
        )
    return value


def _groups(data: Any) -> dict[str, frozenset[str]]:
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        return {}
    return {
        str(name): frozenset(str(g) for g in record.get("groups") or [] if isinstance(g, str))
        for name, record in users.items()
        if isinstance(record, dict)
    }


def _env(data: Any) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidFileError.at("settings/env.yaml", "must map variable names to values", 1)
    return {str(k): str(v) for k, v in data.items()}
