"""The client config file (`server:` and `token:`) that `winsctl` reads and `winslow node` seeds.

`WINSLOW_CONFIG` names another file, so tests and second clusters never touch the user's own.
The file holds a secret, so it is written with mode 0600 inside a 0700 folder.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """The config file exists but cannot be used; the message names the file."""


def config_file() -> Path:
    explicit = os.environ.get("WINSLOW_CONFIG")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "winslow" / "config.yaml"


def load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with `server:` and `token:`")
    return data


def save(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(data, fh, sort_keys=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
