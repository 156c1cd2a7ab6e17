"""`winsctl ls`, `rm` and `mkdir`: the share's file trees (resources/, workspaces/) as a shell
user expects them, over the files API (GET lists, DELETE removes, POST makes a directory)."""

from __future__ import annotations

import argparse
import json
import posixpath
from typing import Any

from winslow.api.winsctl.client import REMOTE_ROOTS, Client, CliError
from winslow.api.winsctl.files import (
    files_url,
    is_dir_entry,
    is_remote,
    is_upload_entry,
    listing_entries,
    remote_entry,
    unfinished_upload,
)
from winslow.api.winsctl.render import human_bytes, local_time, table


def remote_path(path: str) -> str:
    """A path under resources/ or workspaces/, normalised; anything else is refused here."""
    clean = posixpath.normpath(path.strip()).strip("/")
    if not is_remote(clean) or clean.startswith("..") or "/../" in f"/{clean}/":
        raise CliError(
            f"{path}: not a path on the share; paths start with {' or '.join(f'{r}/' for r in REMOTE_ROOTS)}"
        )
    return clean


def cmd_ls(client: Client, args: argparse.Namespace) -> int:
    if args.path is None:
        entries: list[dict[str, Any]] = [{"name": root, "type": "directory"} for root in REMOTE_ROOTS]
        where = ""
    else:
        where = remote_path(args.path)
        entry = remote_entry(client, where) or unfinished_upload(client, where)
        if entry is None:
            raise CliError(f"{where}: no such file or directory on {client.server}")
        if is_dir_entry(entry):
            entries = listing_entries(client.json("GET", files_url(where)))
        else:
            entries = [entry]
            where = posixpath.dirname(where)
    if args.output == "json":
        print(json.dumps({"path": where, "entries": entries}, indent=2))
        return 0
    if args.long:
        headers = ["TYPE", "SIZE", "MODIFIED", "NAME"]
        rows = [
            [
                "d" if is_dir_entry(e) else "u" if is_upload_entry(e) else "-",
                "-" if is_dir_entry(e) else human_bytes(e.get("size")),
                local_time(e.get("mtime")),
                f"{e.get('name')} (unfinished upload)" if is_upload_entry(e) else shown(e),
            ]
            for e in entries
        ]
        print("\n".join(table(headers, [headers, *rows])))
    else:
        for e in entries:
            print(shown(e))
    return 0


def shown(entry: dict[str, Any]) -> str:
    if is_upload_entry(entry):
        return f"{entry.get('name')} (unfinished upload, {human_bytes(entry.get('size'))})"
    return f"{entry.get('name')}/" if is_dir_entry(entry) else str(entry.get("name"))


def cmd_rm(client: Client, args: argparse.Namespace) -> int:
    for path in args.paths:
        where = remote_path(path)
        entry = remote_entry(client, where)
        leftover = unfinished_upload(client, where) if entry is None else None
        if entry is None and leftover is None:
            if args.force:
                continue
            raise CliError(f"{where}: no such file or directory on {client.server} (-f ignores this)")
        if is_dir_entry(entry) and not args.recursive:
            raise CliError(f"{where} is a directory; use -r to remove it with everything in it")
        client.request("DELETE", files_url(where) + ("?upload=true" if leftover is not None else ""))
        print(f"{where}: unfinished upload deleted" if leftover is not None else f"{where} deleted")
    return 0


def cmd_mkdir(client: Client, args: argparse.Namespace) -> int:
    for path in args.paths:
        where = remote_path(path)
        entry = remote_entry(client, where)
        if entry is not None:
            if args.parents and is_dir_entry(entry):
                continue
            raise CliError(f"{where} exists" + ("" if is_dir_entry(entry) else " and is a file"))
        parent = posixpath.dirname(where)
        anchor = parent in REMOTE_ROOTS or (parent.startswith("workspaces/") and parent.count("/") == 1)
        if not args.parents and not anchor and not is_dir_entry(remote_entry(client, parent)):
            raise CliError(f"{parent}: no such directory; use -p to create it too")
        client.request("POST", files_url(where))
        print(f"{where} created")
    return 0
