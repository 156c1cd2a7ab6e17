"""The argument parser and `main`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from winslow.api.winsctl.client import DEFAULT_SERVER, Client, CliError, connection
from winslow.api.winsctl.commands import (
    cmd_apply,
    cmd_delete,
    cmd_describe,
    cmd_get,
    cmd_kill,
    cmd_logs,
    cmd_project_action,
    cmd_set_env,
    cmd_top,
    cmd_version,
    kind_arg,
)
from winslow.api.winsctl.files import cmd_cp
from winslow.api.winsctl.report import add_parser as add_report_parser


def global_options(suppress: bool) -> argparse.ArgumentParser:
    """Shared by every subparser with SUPPRESS defaults, so `--server` works before or after the verb."""
    parser = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--server", default=default, help=f"API URL (env WINSLOW_SERVER; default {DEFAULT_SERVER})"
    )
    parser.add_argument("--token", default=default, help="bearer token (env WINSLOW_TOKEN, or config file)")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="winsctl",
        parents=[global_options(False)],
        description="Control a Winslow cluster through any node's REST API.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [global_options(True)]

    def verb(
        name: str, handler: Callable[[Client, argparse.Namespace], int], help: str, within: Any = sub
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = within.add_parser(name, parents=common, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    p = verb("apply", cmd_apply, "create or update pipelines and projects from YAML, all or nothing")
    p.add_argument(
        "-f", "--filename", action="append", required=True, help="file, directory or - (repeatable)"
    )
    p.add_argument("--dry-run", action="store_true", help="validate and report without writing")
    p.add_argument("--diff", action="store_true", help="show what changes")

    p = verb("get", cmd_get, "list objects, or show one")
    p.add_argument("kind", type=kind_arg, help="pipeline|project|stagerun|node (plural and short forms work)")
    p.add_argument("name", nargs="?")
    p.add_argument("-o", "--output", choices=["table", "wide", "json", "yaml", "name"], default="table")
    p.add_argument("--project", help="only StageRuns of this project")
    p.add_argument("-w", "--watch", action="store_true", help="keep polling and print rows that change")
    p.add_argument("--timeout", type=float, help="stop watching after this many seconds")

    p = verb("describe", cmd_describe, "show one object in detail, with a project's StageRun history")
    p.add_argument("kind", type=kind_arg)
    p.add_argument("name")

    p = verb("delete", cmd_delete, "delete pipelines or projects")
    p.add_argument("kind", type=kind_arg)
    p.add_argument("names", nargs="+", metavar="NAME")

    p = verb("logs", cmd_logs, "print a StageRun's log; a project name means its latest StageRun")
    p.add_argument("stagerun", nargs="?", help="PROJECT.N.STAGE, a project, or a stage with --project")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming until the run ends")
    p.add_argument("--project", help="with a stage name as argument: the latest run of that stage")

    for action, help in (
        ("pause", "let the running stage finish, then start nothing more"),
        ("resume", "continue a paused or failed project"),
        ("confirm", "let a stage waiting for confirmation start"),
    ):
        p = verb(action, cmd_project_action, help)
        p.add_argument("project")
        if action == "resume":
            p.add_argument("--from", dest="from_stage", metavar="STAGE", help="rerun from this stage")
        if action == "confirm":
            p.add_argument("--stage", help="the stage to confirm (default: the one waiting)")

    p = verb("kill", cmd_kill, "stop a project's running stage (the project pauses) or one StageRun")
    p.add_argument("target", metavar="PROJECT|STAGERUN")

    p = verb("set", cmd_set_env, "change project settings")
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = verb("env", cmd_set_env, "set or unset project env (from the next StageRun on)", within=what)
    p.add_argument("project")
    p.add_argument("pairs", nargs="*", metavar="KEY=VALUE", help="KEY=VALUE to set, KEY- to remove")
    p.add_argument("--unset", action="append", default=[], metavar="KEY")

    p = verb("cp", cmd_cp, "copy files to or from resources/ and workspaces/ (resumable)")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("-r", "--recursive", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")

    p = verb("top", cmd_top, "show node utilisation")
    p.add_argument("kind", type=kind_arg, choices=["nodes"], metavar="nodes")

    p = verb("version", cmd_version, "print client and server versions")
    p.add_argument("--client", action="store_true", help="do not ask the server")
    add_report_parser(sub, common)
    return parser


def main(
    argv: Sequence[str] | None = None, *, client_factory: Callable[[str, str | None], Client] | None = None
) -> int:
    args = build_parser().parse_args(argv)
    try:
        server, token = connection(args)
        client = (client_factory or Client)(server, token)
        try:
            return args.handler(client, args)
        finally:
            client.close()
    except CliError as exc:
        sys.stdout.flush()
        for line in str(exc).splitlines() or ["failed"]:
            print(f"error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `winsctl logs x | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except httpx.HTTPError as exc:  # a transfer cut mid-stream; cp keeps its partial file
        print(f"error: connection to the server failed: {exc}; run the same command again", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
