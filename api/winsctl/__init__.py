"""winsctl: a kubectl-like client that speaks only the REST API, so any node can serve it.

Nothing here touches the share directly: every node serves the same API, and keeping the CLI on
the wire means it works from a laptop as well as from a node, with the node's access control.
"""

from winslow.api.winsctl.cli import main
from winslow.api.winsctl.client import Client

__all__ = ["Client", "main"]
