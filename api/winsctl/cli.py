"""The argument parser and `main`.

Longer than most modules here: the argument parser of every verb, with its examples.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from winslow.api.winsctl import completion
from winslow.api.winsctl.client import DEFAULT_SERVER, Client, CliError, connection
from winslow.api.winsctl.commands import (
    client_version,
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
from winslow.api.winsctl.explain import add_parser as add_explain_parser
from winslow.api.winsctl.files import cmd_cp
from winslow.api.winsctl.report import add_parser as add_report_parser
from winslow.api.winsctl.tokens import add_parser as add_token_parser
from winslow.api.winsctl.tree import cmd_ls, cmd_mkdir, cmd_rm


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
        epilog=examples(
            "winsctl apply -f manifests/hello/",
            "winsctl get projects -o wide",
            "winsctl logs -f hello-world",
            "winsctl COMMAND --help        # each command's options and examples",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"winsctl {client_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = [global_options(True)]

    def verb(
        name: str,
        handler: Callable[[Client, argparse.Namespace], int],
        help: str,
        within: Any = sub,
        *,
        example: Sequence[str] = (),
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = within.add_parser(
            name,
            parents=common,
            help=help,
            description=help,
            epilog=examples(*example) if example else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler)
        return p

    p = verb(
        "apply",
        cmd_apply,
        "create or update pipelines and projects from YAML, all or nothing",
        example=(
            "winsctl apply -f traffic.yaml -f projects/",
            "winsctl apply -f projects/ulm.yaml --diff   # what would change; exit 1 if anything",
            "cat ulm.yaml | winsctl apply -f -",
        ),
    )
    p.add_argument(
        "-f", "--filename", action="append", required=True, help="file, directory or - (repeatable)"
    )
    p.add_argument("--dry-run", action="store_true", help="validate and report without writing")
    p.add_argument(
        "--diff",
        action="store_true",
        help="show the changes to the files on the share without writing them (as kubectl diff): "
        "exit 0 when there are none, 1 when there are, 2 on errors",
    )
    add_explain_parser(sub, common)

    p = verb(
        "get",
        cmd_get,
        "list objects, or show one",
        example=(
            "winsctl get projects",
            "winsctl get pj -l site=ulm,tier!=test --tag drone -o wide",
            "winsctl get stageruns --project ulm -w",
            "winsctl get project ulm -o yaml > ulm.yaml",
        ),
    )
    p.add_argument("kind", type=kind_arg, help="pipeline|project|stagerun|node (plural and short forms work)")
    p.add_argument("name", nargs="?")
    p.add_argument("-o", "--output", choices=["table", "wide", "json", "yaml", "name"], default="table")
    p.add_argument("--project", help="only StageRuns of this project")
    p.add_argument(
        "-l",
        "--selector",
        help="only objects whose labels match: k=v, k!=v, k, !k, 'k in (a,b)', 'k notin (a,b)', "
        "comma-separated",
    )
    p.add_argument("--tag", action="append", default=[], help="only projects with this tag (repeatable: all)")
    p.add_argument("-w", "--watch", action="store_true", help="keep polling and print rows that change")
    p.add_argument("--timeout", type=float, help="stop watching after this many seconds")

    p = verb(
        "describe",
        cmd_describe,
        "show one object in detail, with a project's stages and StageRun history",
        example=(
            "winsctl describe project ulm",
            "winsctl describe sr ulm.3.detect",
            "winsctl describe node ws-01",
        ),
    )
    p.add_argument("kind", type=kind_arg)
    p.add_argument("name")

    p = verb(
        "delete",
        cmd_delete,
        "delete pipelines or projects",
        example=(
            "winsctl delete project ulm            # says what it leaves on the share",
            "winsctl delete project ulm --purge    # the workspace, logs and StageRun files too",
            "winsctl delete pipeline traffic       # warns when projects still use it",
        ),
    )
    p.add_argument("kind", type=kind_arg)
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument(
        "--purge", action="store_true", help="projects: remove the workspace, logs and StageRun files too"
    )

    p = verb(
        "logs",
        cmd_logs,
        "print a StageRun's log; a project name means its latest StageRun",
        example=("winsctl logs ulm", "winsctl logs -f ulm.3.detect", "winsctl logs clean --project ulm"),
    )
    p.add_argument("stagerun", nargs="?", help="PROJECT.N.STAGE, a project, or a stage with --project")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming until the run ends")
    p.add_argument("--project", help="with a stage name as argument: the latest run of that stage")
    p.add_argument(
        "--raw",
        action="store_true",
        help="write the log's bytes as they are. Without it, control characters other than newline, "
        "tab and carriage return are shown as `cat -v` shows them (ESC as ^[, BEL as ^G, the C1 CSI as M-^[) "
        "and bytes that are not UTF-8 as U+FFFD, so a stage cannot retitle, clear or drive your terminal",
    )

    for action, help, example in (
        ("pause", "let the running stage finish, then start nothing more", ("winsctl pause ulm",)),
        (
            "resume",
            "continue a paused or failed project",
            (
                "winsctl resume ulm",
                "winsctl resume ulm --from clean   # rerun clean and all after it",
                "winsctl resume ulm --from train --matrix LR=0.1,0.01 --matrix BATCH=8,16   # a sweep",
            ),
        ),
        (
            "confirm",
            "let a stage waiting for confirmation start",
            ("winsctl confirm ulm", "winsctl confirm ulm --stage analyse   # ahead of time"),
        ),
    ):
        p = verb(action, cmd_project_action, help, example=example)
        p.add_argument("project")
        if action == "resume":
            p.add_argument("--from", dest="from_stage", metavar="STAGE", help="rerun from this stage")
            p.add_argument(
                "--keep-snapshot",
                action="store_true",
                help="rerun the pipeline as the project took it when it started. Without it, a resume "
                "takes the pipeline as it is now when it changed since (a fix reaches the project), "
                "and says what changed",
            )
            p.add_argument(
                "--matrix",
                action="append",
                metavar="VAR=V1,V2",
                help="with --from: sweep that stage over these values, one run per combination of all "
                "--matrix flags (instead of the stage's own matrix); repeat for more variables",
            )
        if action == "confirm":
            p.add_argument("--stage", help="the stage to confirm (default: the one waiting)")

    p = verb(
        "kill",
        cmd_kill,
        "stop a project's running stage (the project pauses) or one StageRun",
        example=("winsctl kill ulm", "winsctl kill ulm.3.detect"),
    )
    p.add_argument("target", metavar="PROJECT|STAGERUN")

    p = verb(
        "set", cmd_set_env, "change project settings", example=("winsctl set env ulm MIN_TRACK_LENGTH=40",)
    )
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = verb(
        "env",
        cmd_set_env,
        "set or unset project env (from the next StageRun on)",
        within=what,
        example=("winsctl set env ulm MIN_TRACK_LENGTH=40 DEBUG-", "winsctl set env ulm --unset DEBUG"),
    )
    p.add_argument("project")
    p.add_argument("pairs", nargs="*", metavar="KEY=VALUE", help="KEY=VALUE to set, KEY- to remove")
    p.add_argument("--unset", action="append", default=[], metavar="KEY")

    p = verb(
        "cp",
        cmd_cp,
        "copy files to or from resources/ and workspaces/ (resumable)",
        example=(
            "winsctl cp video.mp4 workspaces/ulm/input/",
            "winsctl cp -r workspaces/ulm/output ./results",
            "winsctl cp -r clips/ resources/2024-05/",
        ),
    )
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("-r", "--recursive", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary")

    p = verb(
        "ls",
        cmd_ls,
        "list a directory of resources/ or workspaces/ (no path: both)",
        example=("winsctl ls", "winsctl ls -l workspaces/ulm/output", "winsctl ls resources/ -o json"),
    )
    p.add_argument("path", nargs="?", help="resources/... or workspaces/PROJECT/...")
    p.add_argument("-l", "--long", action="store_true", help="type, size and modification time")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")

    p = verb(
        "rm",
        cmd_rm,
        "remove files or directories from resources/ or workspaces/",
        example=("winsctl rm workspaces/ulm/input/old.mp4", "winsctl rm -r workspaces/ulm/output/tries"),
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-r", "--recursive", action="store_true", help="remove directories and what they hold")
    p.add_argument("-f", "--force", action="store_true", help="no error for paths that do not exist")

    p = verb(
        "mkdir",
        cmd_mkdir,
        "make directories in resources/ or workspaces/",
        example=("winsctl mkdir resources/2024-05", "winsctl mkdir -p workspaces/ulm/input/day1/raw"),
    )
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-p", "--parents", action="store_true", help="make parents too; no error if it exists")

    p = verb(
        "top",
        cmd_top,
        "show node utilisation, or each project's disk use on the share",
        example=("winsctl top nodes", "winsctl top projects", "winsctl top projects -o json"),
    )
    p.add_argument("kind", type=kind_arg, choices=["nodes", "projects"], metavar="nodes|projects")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")

    p = verb(
        "version",
        cmd_version,
        "print client and server versions",
        example=("winsctl version", "winsctl version --client"),
    )
    p.add_argument("--client", action="store_true", help="do not ask the server")
    add_report_parser(sub, common)
    add_token_parser(sub, common)

    p = verb(
        "completion",
        cmd_completion,
        "print a shell completion script",
        example=(
            "source <(winsctl completion bash)                      # this shell",
            "winsctl completion bash > /etc/bash_completion.d/winsctl",
            "source <(winsctl completion zsh)                       # in ~/.zshrc",
        ),
    )
    p.add_argument("shell", choices=completion.SHELLS)
    return parser


def examples(*lines: str) -> str:
    return "Examples:\n" + "\n".join(f"  {line}" for line in lines)


def cmd_completion(_: Client, args: argparse.Namespace) -> int:
    print(completion.script(build_parser(), args.shell), end="")
    return 0


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
        return exc.code
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
