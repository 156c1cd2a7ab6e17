"""What one file from the share may cost: size, nesting depth, expanded size."""

from __future__ import annotations

import os
from dataclasses import dataclass

MiB = 1 << 20
MANIFEST_BYTES_ENV = "WINSLOW_MAX_MANIFEST_BYTES"
DEFAULT_MANIFEST_BYTES = MiB


@dataclass(frozen=True)
class Limits:
    """What one file may cost. Depth 64 is ten times what any manifest kind needs."""

    max_bytes: int
    max_depth: int = 64
    max_nodes: int = 1_000_000  # scalars and collections, with every alias expanded
    setting: str = ""  # what raises `max_bytes`, named in the error


def manifest_limits() -> Limits:
    """Users' manifests (and the global env): 1 MiB unless the node's environment says otherwise."""
    raw = os.environ.get(MANIFEST_BYTES_ENV, "")
    try:
        size = int(raw) if raw else DEFAULT_MANIFEST_BYTES
    except ValueError:
        size = DEFAULT_MANIFEST_BYTES
    return Limits(max(size, 1024), setting=MANIFEST_BYTES_ENV)


def state_limits() -> Limits:
    """Files nodes write: a StageRun copies its project's env, so a few manifests' worth."""
    manifest = manifest_limits()
    return Limits(4 * manifest.max_bytes + MiB, setting=MANIFEST_BYTES_ENV)
