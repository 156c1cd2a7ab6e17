"""`winsctl report utilisation`: the thesis's Table 7.1 and the weekday x hour map, from the API.

The node computes the figures (GET /api/v1/reports/utilisation), so the CLI, the API and the web
UI always agree; this module only asks and prints.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from typing import Any

from winslow.api.winsctl.client import Client
from winslow.api.winsctl.render import table

EXAMPLES = """Examples:
  winsctl report utilisation
  winsctl report utilisation --from 2026-01-15 --to 2026-03-06 --tz Europe/Berlin
  winsctl report utilisation --work-hours 7-17 --work-days Mon-Thu --weight gpu -o csv
"""


def add_parser(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report",
        parents=common,
        help="reports over the share's history",
        description="Reports over the share's history.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_subparsers(dest="report", required=True, metavar="REPORT")
    u = what.add_parser(
        "utilisation",
        parents=common,
        help="compute hours: automatic vs by a user, inside vs outside working hours (thesis Table 7.1)",
        description="Compute hours from the StageRun history (running stages count until now): in all, "
        "inside and outside working hours, started automatically or by a user, with shares and the gain "
        "(how much more ran than without automatic starts), and a weekday x hour map of stage-hours.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    u.add_argument("--from", dest="start", metavar="DATE", help="first day (YYYY-MM-DD) or date-time")
    u.add_argument("--to", dest="end", metavar="DATE", help="last day, included, or date-time")
    u.add_argument("--work-hours", default="8-18", metavar="START-END", help="default 8-18")
    u.add_argument("--work-days", default="Mon-Fri", metavar="DAYS", help="default Mon-Fri")
    u.add_argument("--tz", help="IANA time zone, e.g. Europe/Berlin (default: the node's local time)")
    u.add_argument("--weight", choices=["none", "gpu", "cpu"], default="none", help="count GPU- or CPU-hours")
    u.add_argument("-o", "--output", choices=["table", "json", "csv"], default="table")
    u.set_defaults(handler=cmd_report_utilisation)


def fetch(client: Client, args: argparse.Namespace) -> dict[str, Any]:
    params = {"workHours": args.work_hours, "workDays": args.work_days, "weight": args.weight}
    for key, value in (("from", args.start), ("to", args.end), ("tz", args.tz)):
        if value:
            params[key] = value
    data: dict[str, Any] = client.json("GET", "/api/v1/reports/utilisation", params=params)
    return data


def percent(value: float | None, sign: bool = False) -> str:
    if value is None:
        return ""
    return f"{value * 100:+.1f}%" if sign else f"{value * 100:.1f}%"


def render_table(data: dict[str, Any]) -> str:
    period = f"{data.get('from') or 'the beginning'} to {data['to']}"
    days = data["workDays"]
    work = f"{days[0]}-{days[-1]}" if len(days) > 1 else ",".join(days) or "no days"
    lines = [
        f"Utilisation from {period} ({data['runs']} StageRuns, {data['unit']}; working hours "
        f"{work} {data['workHours']}, {data['tz']})",
        "",
    ]
    headers = ["", "HOURS", "SHARE", "GAIN"]
    rows = [
        [r["label"], f"{r['hours']:.1f}h", percent(r["share"]), percent(r["gain"], True)]
        for r in data["rows"]
    ]
    lines += table(headers, [headers, *rows])
    lines += ["", f"{data['unit']} by weekday and hour (local time):", ""]
    running = data["heatmap"]["running"]
    head = ["   "] + [f"{h:>3}" for h in range(24)]
    lines.append(" ".join(head))
    for day, values in zip(data["heatmap"]["days"], running, strict=True):
        lines.append(" ".join([f"{day:<3}"] + [f"{v:>3.0f}" if v >= 0.5 else "  ." for v in values]))
    return "\n".join(lines)


def render_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["category", "hours", "share", "gain"])
    for r in data["rows"]:
        gain = "" if r["gain"] is None else f"{r['gain']:.6f}"
        writer.writerow([r["key"], f"{r['hours']:.6f}", f"{r['share']:.6f}", gain])
    return out.getvalue().rstrip("\n")


def cmd_report_utilisation(client: Client, args: argparse.Namespace) -> int:
    data = fetch(client, args)
    if args.output == "json":
        print(json.dumps(data, indent=2))
    elif args.output == "csv":
        print(render_csv(data))
    else:
        print(render_table(data))
    return 0
