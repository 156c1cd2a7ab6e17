"""`winsctl token create|list|revoke PROJECT`: a project's trigger tokens (api.routes.triggers).

`create` writes the secret alone on stdout (`TOKEN=$(winsctl token create ulm)`) and what to do
with it on stderr: the secret is shown this once and stored only as its hash.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from winslow.api.winsctl.client import Client
from winslow.api.winsctl.render import local_time, table

EXAMPLES = """Examples:
  winsctl token create ulm --name ci       # prints the secret once
  winsctl token list ulm
  winsctl token revoke ulm 3f9a1c2e
  curl -X POST -H "Authorization: Bearer $TOKEN" -d '{"env": {"MIN_TRACK_LENGTH": "40"}, "from": "clean"}' \\
       https://node:8080/api/v1/projects/ulm/trigger
"""


def add_parser(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "token",
        parents=common,
        help="a project's trigger tokens: each starts the project's next run (for webhooks) and nothing else",
        description="A project's trigger tokens. `POST /api/v1/projects/PROJECT/trigger` with "
        '`Authorization: Bearer SECRET` and an optional JSON body {"env": {...}, "from": STAGE} '
        "resumes or reruns the project with that env, as `resume` and `set env` would. Only the "
        "project's owner, its members and admins make, list and revoke them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")

    def action(name: str, help: str, handler: Any) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = what.add_parser(
            name,
            parents=common,
            help=help,
            description=help,
            epilog=EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        q.add_argument("project")
        q.set_defaults(handler=handler)
        return q

    q = action("create", "make a trigger token; its secret is printed this once", cmd_token_create)
    q.add_argument("--name", default="", metavar="LABEL", help="what the token is for (shown by list)")
    q = action("list", "list the project's trigger tokens (never their secrets)", cmd_token_list)
    q.add_argument("-o", "--output", choices=["table", "json"], default="table")
    q = action("revoke", "revoke a trigger token, on every node at once", cmd_token_revoke)
    q.add_argument("id", help="the token's id, as `winsctl token list` shows it")


def _path(project: str) -> str:
    return f"/api/v1/projects/{quote(project, safe='')}/tokens"


def cmd_token_create(client: Client, args: argparse.Namespace) -> int:
    body = {"name": args.name} if args.name else None
    made: dict[str, Any] = client.json("POST", _path(args.project), json=body)
    label = f" ({made['name']})" if made.get("name") else ""
    print(
        f"trigger token {made['id']}{label} made for project/{args.project}; its secret follows, "
        "shown this once:\n"
        f'  curl -X POST -H "Authorization: Bearer $TOKEN" {client.server}/api/v1/projects/'
        f"{args.project}/trigger",
        file=sys.stderr,
    )
    print(made["token"])
    return 0


def cmd_token_list(client: Client, args: argparse.Namespace) -> int:
    data: dict[str, Any] = client.json("GET", _path(args.project))
    tokens = data.get("tokens", [])
    if args.output == "json":
        print(json.dumps(tokens, indent=2))
        return 0
    if not tokens:
        print(f"project/{args.project} has no trigger tokens", file=sys.stderr)
        return 0
    headers = ["ID", "NAME", "CREATED", "CREATED-BY", "LAST-USED"]
    rows = [
        [
            t["id"],
            t.get("name") or "-",
            local_time(t.get("created")),
            t.get("createdBy") or "-",
            local_time(t.get("lastUsed")) if t.get("lastUsed") else "never",
        ]
        for t in tokens
    ]
    print("\n".join(table(headers, [headers, *rows])))
    return 0


def cmd_token_revoke(client: Client, args: argparse.Namespace) -> int:
    client.request("DELETE", f"{_path(args.project)}/{quote(args.id, safe='')}")
    print(f"trigger token {args.id} of project/{args.project} revoked")
    return 0
