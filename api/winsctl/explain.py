"""`winsctl explain PATH`: the manifest reference of one field, offline, from the models."""

from __future__ import annotations

import argparse

from winslow.api.winsctl.client import Client, CliError
from winslow.resources.schema import UnknownPath, explain


def cmd_explain(_: Client, args: argparse.Namespace) -> int:
    try:
        print(explain(args.path), end="")
    except UnknownPath as exc:
        raise CliError(str(exc)) from None
    return 0


def add_parser(sub: argparse._SubParsersAction, common: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "explain",
        parents=common,
        help="describe the fields of a manifest kind (works offline)",
        description="Print the fields at PATH of a manifest kind with their type, default and "
        "description, as kubectl explain does; the full reference is docs/manifests.md.",
        epilog="Examples:\n  winsctl explain pipeline.spec.stages\n  winsctl explain project\n"
        "  winsctl explain pipeline.spec.stages.workspace.mode",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="PATH", help="KIND[.FIELD...], e.g. pipeline.spec.stages")
    p.set_defaults(handler=cmd_explain)
