"""Hostile and broken input against real nodes (issue 14): one test per case of the issue.

Every test here failed on the code before the fix, for the reason its docstring gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.harness import NodeProcess, wait_for
from winslow.api.identity import users
from winslow.api.winsctl import clientconfig
from winslow.controller.layout import ShareLayout


@dataclass
class Cast:
    """The node's admin (seeded by the node), alice (owns what she makes) and carol (no rights)."""

    url: str
    tokens: dict[str, str]

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[who]}"}, timeout=30
        )


@pytest.fixture
def cast(node: NodeProcess, share: Path) -> Cast:
    layout = ShareLayout(share)
    admin = clientconfig.load(clientconfig.config_file())["token"]
    tokens = {"admin": str(admin)}
    for name in ("alice", "carol"):
        tokens[name] = users.add(layout.users_file, name)
    return Cast(node.url, tokens)


def node_log(node: NodeProcess) -> str:
    return node.logfile.read_text(errors="replace")


def warned(node: NodeProcess, path: str) -> int:
    """How often the node logged, at WARNING, that it could not read `path` (share-relative)."""
    return sum(
        1
        for line in node_log(node).splitlines()
        if "WARNING" in line and "unreadable file" in line and path in line
    )


def listed(client: httpx.Client, kind: str) -> dict[str, dict]:
    reply = client.get(f"/api/v1/{kind}")
    assert reply.status_code == 200, reply.text
    return {item["metadata"]["name"]: item for item in reply.json()["items"]}


def wait_invalid(client: httpx.Client, kind: str, name: str, timeout: float = 30) -> dict:
    return wait_for(
        lambda: (item := listed(client, kind).get(name)) and item["status"]["phase"] == "Invalid" and item,
        timeout,
        f"{kind} {name} to be listed as Invalid",
    )
