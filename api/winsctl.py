"""winsctl: a kubectl-like client that speaks only the REST API, so any node can serve it.

Nothing here touches the share directly: every node serves the same API, and keeping the CLI on
the wire means it works from a laptop as well as from a node, with the node's access control.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import yaml
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from api import clientconfig
from api.clientconfig import config_file

DEFAULT_SERVER = "http://127.0.0.1:8080"
CHUNK = 1 << 20  # bounded memory for files of tens of GB
POLL_INTERVAL = 1.0
RECONNECT_DELAY = 1.0
MAX_RECONNECTS = 30
REMOTE_ROOTS = ("resources", "workspaces")
KINDS = {
    **dict.fromkeys(("pipeline", "pipelines", "pl"), "pipelines"),
    **dict.fromkeys(("project", "projects", "proj", "pj"), "projects"),
    **dict.fromkeys(("stagerun", "stageruns", "sr", "run", "runs"), "stageruns"),
    **dict.fromkeys(("node", "nodes", "no"), "nodes"),
}
SINGULAR = {"pipelines": "pipeline", "projects": "project", "stageruns": "stagerun", "nodes": "node"}
VOLATILE_COLUMNS = {"AGE", "HEARTBEAT"}  # ignored when --watch decides whether a row changed


class CliError(Exception):
    """A failure the user can act on: printed as `error: ...` without a traceback."""


class Unreachable(CliError):
    """No TCP connection at all; `logs -f` retries these while a node restarts."""


def api_detail(response: httpx.Response) -> str:
    """The API puts the actionable message in `detail`; anything else (a proxy page) is trimmed."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if detail is None:
        text = response.text.strip()[:300]
        detail = f"{response.request.method} {response.request.url.path}: HTTP {response.status_code} {text}"
    elif not isinstance(detail, str):
        detail = json.dumps(detail)
    elif detail in ("Not Found", "Method Not Allowed"):  # the route itself is missing: an older server
        detail = (
            f"{response.request.method} {response.request.url.path}: {detail} (does this server support it?)"
        )
    if response.status_code == 401 and "Authorization" not in response.request.headers:
        detail += " (no token: pass --token, set WINSLOW_TOKEN or add `token:` to the config file)"
    return detail


class Client:
    """Thin wrapper over httpx.Client; tests build it with an httpx.MockTransport."""

    def __init__(self, server: str, token: str | None = None, transport: httpx.BaseTransport | None = None):
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=self.server, headers=headers, transport=transport, timeout=httpx.Timeout(30.0)
        )

    def close(self) -> None:
        self.http.close()

    def _unreachable(self, exc: Exception) -> Unreachable:
        return Unreachable(
            f"cannot reach the Winslow API at {self.server} ({exc}); pass --server URL, "
            f"set WINSLOW_SERVER, or put `server: URL` in {config_file()}"
        )

    def request(self, method: str, path: str, *, allow: tuple[int, ...] = (), **kw: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kw)
        except httpx.ConnectError as exc:
            raise self._unreachable(exc) from None
        except httpx.TransportError as exc:
            raise CliError(f"{method} {self.server}{path}: {exc}") from None
        if not response.is_success and response.status_code not in allow:
            raise CliError(api_detail(response))
        return response

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, *, allow: tuple[int, ...] = (), **kw: Any
    ) -> Iterator[httpx.Response]:
        """Streams leave transport errors raw so callers that resume can tell them apart."""
        kw.setdefault("timeout", httpx.Timeout(30.0, read=None))  # a followed log may be quiet for hours
        try:
            with self.http.stream(method, path, **kw) as response:
                if not response.is_success and response.status_code not in allow:
                    response.read()
                    raise CliError(api_detail(response))
                yield response
        except httpx.ConnectError as exc:
            raise self._unreachable(exc) from None


def load_config() -> dict[str, Any]:
    try:
        return clientconfig.load(config_file())
    except clientconfig.ConfigError as exc:
        raise CliError(str(exc)) from None


def connection(args: argparse.Namespace) -> tuple[str, str | None]:
    """Flag beats environment beats config file, so one-off overrides never need editing files."""
    config = load_config()
    server = args.server or os.environ.get("WINSLOW_SERVER") or config.get("server") or DEFAULT_SERVER
    token = args.token or os.environ.get("WINSLOW_TOKEN") or config.get("token")
    return str(server), str(token) if token else None


# ---------------------------------------------------------------- formatting


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def span(seconds: float) -> str:
    """kubectl's compact ages: precise when recent, coarse when old."""
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60}m" if s < 36000 else f"{s // 3600}h"
    return f"{s // 86400}d{s % 86400 // 3600}h" if s < 864000 else f"{s // 86400}d"


def age(value: Any) -> str:
    stamp = parse_time(value)
    return span((datetime.now(UTC) - stamp).total_seconds()) if stamp else "<unknown>"


def local_time(value: Any) -> str:
    stamp = parse_time(value)
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S") if stamp else "-"


def duration(status: dict[str, Any]) -> str:
    start, finish = parse_time(status.get("startTime")), parse_time(status.get("finishTime"))
    if start is None:
        return "-"
    return span(((finish or datetime.now(UTC)) - start).total_seconds())


def human_bytes(value: Any) -> str:
    number = float(value or 0)
    for unit in ("", "Ki", "Mi", "Gi", "Ti"):
        if abs(number) < 1024 or unit == "Ti":
            return f"{number:.0f}{unit}" if unit == "" or number >= 100 else f"{number:.1f}{unit}"
        number /= 1024
    raise AssertionError("unreachable")


def text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def table(headers: list[str], rows: list[list[str]], widths: list[int] | None = None) -> list[str]:
    """Plain aligned columns like kubectl, so `awk`/`cut` keep working on the output."""
    if widths is None:
        widths = column_widths(headers, rows)
    return ["   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows]


def column_widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    return [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]


def items_of(data: Any) -> list[dict[str, Any]]:
    return list(data.get("items", [])) if data.get("kind") == "List" else [data]


Getter = Callable[[dict[str, Any]], str]


def pick(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def at(path: str, fmt: Callable[[Any], str] = text) -> Getter:
    return lambda obj: fmt(pick(obj, path))


def amounts(values: Any) -> str:
    v = values or {}
    return f"cpu {v.get('cpu', 0):g}, memory {human_bytes(v.get('memory'))}, gpu {v.get('gpu', 0)}"


def mean_percent(values: Any) -> str:
    return f"{sum(values) / len(values):.0f}%" if values else "-"


NAME, AGE = ("NAME", at("metadata.name")), ("AGE", at("metadata.creationTimestamp", age))
COLUMNS: dict[str, list[tuple[str, Getter]]] = {
    "pipelines": [NAME, ("STAGES", lambda o: str(len(pick(o, "spec.stages") or []))), AGE],
    "projects": [
        NAME,
        (
            "PIPELINE",
            lambda o: text(pick(o, "spec.pipeline") or ("<own>" if pick(o, "spec.stages") else None)),
        ),
        ("PHASE", at("status.phase")),
        ("STAGE", at("status.currentStage")),
        AGE,
    ],
    "stageruns": [
        NAME,
        ("PROJECT", at("spec.project")),
        ("STAGE", at("spec.stage")),
        ("PHASE", at("status.phase")),
        ("NODE", at("status.node")),
        ("TRIGGER", at("status.trigger")),
        ("EXIT", at("status.exitCode")),
        AGE,
    ],
    "nodes": [
        NAME,
        ("EXECUTES", lambda o: text(pick(o, "status.executes") is not False)),
        ("CPU", at("status.capacity.cpu", lambda v: f"{v or 0:g}")),
        ("MEMORY", at("status.capacity.memory", human_bytes)),
        ("GPU", at("status.capacity.gpu", lambda v: str(v or 0))),
        ("RESERVED", at("status.reservations", lambda r: amounts(r).replace("memory ", "mem "))),
        ("HEARTBEAT", at("status.heartbeat", age)),
    ],
}
WIDE: dict[str, list[tuple[str, Getter]]] = {
    "pipelines": [
        ("STAGE-NAMES", lambda o: ",".join(s.get("name", "?") for s in pick(o, "spec.stages") or []))
    ],
    "projects": [("REASON", at("status.reason"))],
    "stageruns": [
        ("IMAGE", at("spec.image")),
        ("ATTEMPT", at("spec.attempt")),
        ("MESSAGE", at("status.message")),
    ],
    "nodes": [("CPU%", at("status.utilisation.cpuPercentPerCore", mean_percent)), ("API", at("status.api"))],
}


def rows_for(kind: str, items: list[dict[str, Any]], wide: bool) -> tuple[list[str], list[list[str]]]:
    columns = COLUMNS[kind] + (WIDE[kind] if wide else [])
    return [h for h, _ in columns], [[get(it) for _, get in columns] for it in items]


def dump(data: Any, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False).rstrip("\n")


def fields(obj: dict[str, Any], spec: list[tuple[str, Getter]]) -> list[str]:
    width = max(len(label) for label, _ in spec) + 2
    return [f"{label + ':':<{width}}{get(obj)}" for label, get in spec]


def mapping(title: str, values: dict[str, Any] | None) -> list[str]:
    if not values:
        return [f"{title}:  <none>"]
    return [f"{title}:"] + [f"  {k}={v}" for k, v in values.items()]


def joined(values: Any) -> str:
    return " ".join(str(v) for v in values) if values else "-"


CREATED = ("Created", at("metadata.creationTimestamp", local_time))
DESCRIBE: dict[str, list[tuple[str, Getter]]] = {
    "projects": [
        ("Name", at("metadata.name")),
        ("Pipeline", lambda o: text(pick(o, "spec.pipeline") or "<own stages>")),
        ("Owner", at("spec.owner")),
        ("Members", at("spec.members", lambda v: ", ".join(v or []) or "-")),
        ("Paused", lambda o: text(bool(pick(o, "spec.paused")))),
        ("Phase", at("status.phase")),
        ("Reason", at("status.reason")),
        ("Current Stage", at("status.currentStage")),
        CREATED,
    ],
    "stageruns": [
        ("Name", at("metadata.name")),
        ("Project", at("spec.project")),
        ("Stage", at("spec.stage")),
        ("Attempt", at("spec.attempt")),
        ("Image", at("spec.image")),
        ("Command", at("spec.command", joined)),
        ("Args", at("spec.args", joined)),
        ("Phase", at("status.phase")),
        ("Node", at("status.node")),
        ("Trigger", at("status.trigger")),
        ("Exit Code", at("status.exitCode")),
        ("Started", at("status.startTime", local_time)),
        ("Finished", at("status.finishTime", local_time)),
        ("Duration", lambda o: duration(o.get("status", {}))),
        ("Message", at("status.message")),
    ],
    "nodes": [
        ("Name", at("metadata.name")),
        ("Executes", lambda o: text(pick(o, "status.executes") is not False)),
        ("API", at("status.api")),
        ("Build", at("status.build")),
        ("Started", at("status.started", local_time)),
        ("Heartbeat", at("status.heartbeat", lambda v: f"{age(v)} ago")),
        ("Capacity", at("status.capacity", amounts)),
        ("Reserved", at("status.reservations", amounts)),
        ("CPU", at("status.utilisation.cpuPercentPerCore", mean_percent)),
        ("Memory Used", at("status.utilisation.memoryUsed", human_bytes)),
        ("Disk Free", at("status.utilisation.diskFree", human_bytes)),
    ],
    "pipelines": [("Name", at("metadata.name")), CREATED, ("Generation", at("metadata.generation"))],
}
HISTORY: list[tuple[str, Getter]] = [
    NAME,
    ("STAGE", at("spec.stage")),
    ("NODE", at("status.node")),
    ("PHASE", at("status.phase")),
    ("TRIGGER", at("status.trigger")),
    ("START", at("status.startTime", local_time)),
    ("DURATION", lambda o: duration(o.get("status", {}))),
    ("EXIT", at("status.exitCode")),
]
STAGES: list[tuple[str, Getter]] = [
    ("STAGE", at("name")),
    ("IMAGE", at("image")),
    ("CPU", at("resources.cpu")),
    ("MEMORY", at("resources.memory")),
    ("GPU", at("resources.gpu")),
    ("CONFIRM", lambda s: text(bool(s.get("confirm")))),
]


def indented(title: str, columns: list[tuple[str, Getter]], items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return [f"{title}:  <none>"]
    headers = [h for h, _ in columns]
    rows = [[get(it) for _, get in columns] for it in items]
    return [f"{title}:"] + ["  " + line for line in table(headers, [headers, *rows])]


# ---------------------------------------------------------------- commands


def kind_arg(value: str) -> str:
    try:
        return KINDS[value.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown kind {value!r}; use one of pipeline (pl), project (pj), stagerun (sr), node (no)"
        ) from None


def cmd_apply(client: Client, args: argparse.Namespace) -> int:
    documents: list[dict[str, Any]] = []
    origins: list[tuple[str, int, int]] = []  # (file, index in file, documents in file)
    for target in args.filename:
        for path in manifest_files(target):
            docs = read_manifests(path)
            origins += [(path, i, len(docs)) for i in range(len(docs))]
            documents += docs
    if not documents:
        raise CliError(f"no manifests found in {', '.join(args.filename)}")
    files = sorted({o[0] for o in origins})
    source = files[0] if len(files) == 1 else ",".join(args.filename)
    body = {"documents": documents, "source": source, "dryRun": args.dry_run}
    try:
        reply = client.json("POST", "/api/v1/apply", json=body)
    except CliError as exc:
        raise CliError(name_files(str(exc), source, origins) if len(files) > 1 else str(exc)) from None
    suffix = " (dry run)" if reply.get("dryRun", args.dry_run) else ""
    words = {"created": "created", "updated": "configured", "unchanged": "unchanged"}
    for result in reply.get("results", []):
        word = words.get(result["result"], result["result"])
        print(f"{result['kind'].lower()}/{result['name']} {word}{suffix}")
        if args.diff and result.get("diff"):
            print(result["diff"].rstrip("\n"))
    return 0


def manifest_files(target: str) -> list[str]:
    if target == "-":
        return ["-"]
    path = Path(target)
    if path.is_dir():
        return sorted(str(p) for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not path.exists():
        raise CliError(f"{target}: no such file or directory")
    return [target]


def read_manifests(path: str) -> list[dict[str, Any]]:
    """Syntax errors stop here, before any request, so a typo never half-applies a directory."""
    try:
        content = sys.stdin.read() if path == "-" else Path(path).read_text()
        docs = [d for d in yaml.safe_load_all(content) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise CliError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{path}: {exc}") from None
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise CliError(f"{path}: document {index} is a {type(doc).__name__}, not a manifest mapping")
    return docs


def name_files(message: str, source: str, origins: list[tuple[str, int, int]]) -> str:
    """The server numbers documents across the whole batch; point at the file they came from."""

    def local(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(origins):
            return match.group(0)
        path, position, count = origins[index]
        return path if count == 1 else f"{path}[document {position}]"

    return re.sub(re.escape(source) + r"\[document (\d+)\]", local, message)


def fetch(client: Client, kind: str, name: str | None, project: str | None) -> Any:
    if name:
        return client.json("GET", f"/api/v1/{kind}/{quote(name)}")
    params = {"project": project} if project and kind == "stageruns" else None
    return client.json("GET", f"/api/v1/{kind}", params=params)


def cmd_get(client: Client, args: argparse.Namespace) -> int:
    if args.watch:
        return watch(client, args)
    data = fetch(client, args.kind, args.name, args.project)
    if args.output in ("json", "yaml"):
        print(dump(data, args.output))
        return 0
    items = items_of(data)
    if args.output == "name":
        for it in items:
            print(f"{SINGULAR[args.kind]}/{it['metadata']['name']}")
        return 0
    headers, rows = rows_for(args.kind, items, args.output == "wide")
    if not rows:
        print(f"No {args.kind} found.", file=sys.stderr)
        return 0
    print("\n".join(table(headers, [headers, *rows])))
    return 0


def watch(client: Client, args: argparse.Namespace) -> int:
    """Polling, not events: the API has no watch stream, and 1 s is plenty for stages of hours."""
    deadline = time.monotonic() + args.timeout if args.timeout else None
    seen: dict[str, Any] = {}
    widths: list[int] | None = None
    while True:
        items = items_of(fetch(client, args.kind, args.name, args.project))
        headers, rows = rows_for(args.kind, items, args.output == "wide")
        stable = [i for i, h in enumerate(headers) if h not in VOLATILE_COLUMNS]
        for it, row in zip(items, rows, strict=True):
            name = it["metadata"]["name"]
            key = it if args.output in ("json", "yaml") else [row[i] for i in stable]
            if seen.get(name) == key:
                continue
            seen[name] = key
            if args.output in ("json", "yaml"):
                print(dump(it, args.output) + ("\n---" if args.output == "yaml" else ""))
            elif args.output == "name":
                print(f"{SINGULAR[args.kind]}/{name}")
            else:
                if widths is None:
                    widths = [w + 4 for w in column_widths(headers, rows)]
                    print(table(headers, [headers], widths)[0])
                print(table(headers, [row], widths)[0])
        sys.stdout.flush()
        if deadline is not None and time.monotonic() >= deadline:
            return 0
        time.sleep(POLL_INTERVAL)


def cmd_describe(client: Client, args: argparse.Namespace) -> int:
    obj = fetch(client, args.kind, args.name, None)
    lines = fields(obj, DESCRIBE[args.kind])
    if args.kind == "projects":
        runs = items_of(client.json("GET", "/api/v1/stageruns", params={"project": args.name}))
        lines += mapping("Env", pick(obj, "spec.env")) + indented("History", HISTORY, runs)
    elif args.kind == "stageruns":
        lines += mapping("Resources", pick(obj, "spec.resources")) + mapping("Env", pick(obj, "spec.env"))
    elif args.kind == "nodes":
        for gpu in pick(obj, "status.gpus") or []:
            lines.append(
                f"GPU {gpu.get('index')}:  {gpu.get('model', '')} {human_bytes(gpu.get('memoryBytes'))}, "
                f"utilisation {text(gpu.get('utilisation'))}"
            )
        lines += ["Running:"] + ([f"  {r}" for r in pick(obj, "status.running") or []] or ["  <none>"])
    else:
        lines += mapping("Env", pick(obj, "spec.env")) + indented(
            "Stages", STAGES, pick(obj, "spec.stages") or []
        )
    print("\n".join(lines))
    return 0


def cmd_delete(client: Client, args: argparse.Namespace) -> int:
    if args.kind not in ("pipelines", "projects"):
        raise CliError(f"{args.kind} cannot be deleted; delete their project instead")
    for name in args.names:
        client.request("DELETE", f"/api/v1/{args.kind}/{quote(name)}")
        print(f"{SINGULAR[args.kind]}/{name} deleted")
    return 0


def latest_run(client: Client, project: str, stage: str | None) -> str:
    runs = items_of(client.json("GET", "/api/v1/stageruns", params={"project": project}))
    if stage:
        runs = [r for r in runs if r.get("spec", {}).get("stage") == stage]
    if not runs:
        raise CliError(f"project {project!r} has no StageRuns{f' of stage {stage!r}' if stage else ''} yet")
    return str(runs[-1]["metadata"]["name"])


def cmd_logs(client: Client, args: argparse.Namespace) -> int:
    name = args.stagerun
    if not name and not args.project:
        raise CliError("name a StageRun (PROJECT.N.STAGE), a project, or give --project")
    if not name or "." not in name:
        name = latest_run(client, args.project, name) if args.project else latest_run(client, name, None)
    sys.stdout.flush()
    stream_log(client, name, follow=args.follow, out=sys.stdout.buffer)
    return 0


def stream_log(client: Client, name: str, *, follow: bool, out: IO[bytes]) -> int:
    """Resume from the bytes already written, so a dropped connection neither repeats nor skips."""
    received, failures = 0, 0
    while True:
        params = {"follow": "true" if follow else "false", "offset": str(received)}
        try:
            with client.stream("GET", f"/api/v1/stageruns/{quote(name)}/log", params=params) as response:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    out.flush()
                    received += len(chunk)
                    failures = 0
            return received
        except (httpx.TransportError, Unreachable) as exc:
            failures += 1
            if failures > MAX_RECONNECTS:
                raise CliError(f"lost the log of {name} after {received} bytes: {exc}") from None
            time.sleep(RECONNECT_DELAY)


def cmd_project_action(client: Client, args: argparse.Namespace) -> int:
    action, project = args.command, args.project
    body: dict[str, Any] | None = None
    note = ""
    if action == "resume" and args.from_stage:
        body, note = {"from": args.from_stage}, f" from stage {args.from_stage}"
    elif action == "confirm" and args.stage:
        body, note = {"stage": args.stage}, f" (stage {args.stage})"
    client.request("POST", f"/api/v1/projects/{quote(project)}/{action}", json=body)
    print(f"project/{project} {'confirmed' if action == 'confirm' else action + 'd'}{note}")
    return 0


def cmd_kill(client: Client, args: argparse.Namespace) -> int:
    """A name with dots is a StageRun (PROJECT.N.STAGE); a project name has none."""
    kind = "stageruns" if "." in args.target else "projects"
    reply = client.json("POST", f"/api/v1/{kind}/{quote(args.target)}/kill")
    killed = reply.get("killed", [])
    subject = f"{SINGULAR[kind]}/{args.target}"
    if killed:
        print(f"{subject} killed" + (f" ({', '.join(killed)})" if kind == "projects" else ""))
    else:
        print(f"{subject}: nothing to kill" + (f" ({reply['detail']})" if reply.get("detail") else ""))
    return 0


def cmd_set_env(client: Client, args: argparse.Namespace) -> int:
    changes: dict[str, str] = {}
    unset = list(args.unset)
    for pair in args.pairs:
        if "=" in pair:
            key, value = pair.split("=", 1)
            changes[key] = value
        elif pair.endswith("-"):
            unset.append(pair[:-1])
        else:
            raise CliError(f"{pair!r}: expected KEY=VALUE, or KEY- to remove KEY")
    if not changes and not unset:
        raise CliError("nothing to change: give KEY=VALUE pairs or --unset KEY")
    client.request(
        "POST", f"/api/v1/projects/{quote(args.project)}/env", json={"set": changes, "unset": unset}
    )
    print(f"project/{args.project} env updated")
    return 0


TOP: list[tuple[str, Getter]] = [
    NAME,
    ("CPU%", at("status.utilisation.cpuPercentPerCore", mean_percent)),
    ("MEMORY-USED", at("status.utilisation.memoryUsed", human_bytes)),
    ("MEMORY-TOTAL", at("status.capacity.memory", human_bytes)),
    ("GPU", lambda o: f"{pick(o, 'status.capacity.gpu') or 0}" + gpu_load(pick(o, "status.gpus") or [])),
    ("RUNNING", at("status.running", lambda v: str(len(v or [])))),
]


def gpu_load(gpus: list[dict[str, Any]]) -> str:
    loads = [g["utilisation"] for g in gpus if g.get("utilisation") is not None]
    return f" @{sum(loads) / len(loads):.0f}%" if loads else ""


def cmd_top(client: Client, args: argparse.Namespace) -> int:
    nodes = items_of(client.json("GET", "/api/v1/nodes"))
    headers = [h for h, _ in TOP]
    print("\n".join(table(headers, [headers, *[[get(n) for _, get in TOP] for n in nodes]])))
    return 0


def cmd_version(client: Client, args: argparse.Namespace) -> int:
    try:
        version = importlib_metadata.version("winslow")
    except importlib_metadata.PackageNotFoundError:
        version = "unknown"
    print(f"Client Version: {version}")
    if not args.client:
        health = client.json("GET", "/healthz")
        print(f"Server: {client.server} (node {health.get('node', '?')}, {health.get('status', '?')})")
    return 0


# ---------------------------------------------------------------- cp


def is_remote(path: str) -> bool:
    return path.split("/", 1)[0] in REMOTE_ROOTS


def files_url(remote: str) -> str:
    return "/api/v1/files/" + quote(remote.strip("/"), safe="/")


def remote_entry(client: Client, remote: str) -> dict[str, Any] | None:
    """The server says file or directory in `X-Winslow-Type`; a server without it, in the parent's listing."""
    remote = remote.strip("/")
    if remote in REMOTE_ROOTS:
        return {"name": remote, "type": "directory"}
    parent, _, leaf = remote.rpartition("/")
    head = head_request(client, files_url(remote))
    if head.status_code == 404:
        return None
    if head.headers.get("X-Winslow-Type"):
        return {"name": leaf, "type": head.headers["X-Winslow-Type"]}
    response = client.request("GET", files_url(parent), allow=(404,))
    if response.status_code == 404 or not response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return None
    return next((e for e in listing_entries(response.json()) if e.get("name") == leaf), None)


def head_request(client: Client, url: str, **kw: Any) -> httpx.Response:
    """A HEAD error has no body to explain it: a failed one is asked again as GET, which raises with it."""
    response = client.request("HEAD", url, allow=(400, 401, 403, 404, 405, 409), **kw)
    if response.status_code not in (404, 405) and not response.is_success:
        with client.stream("GET", url, **kw):
            pass
    return response


def listing_entries(listing: Any) -> list[dict[str, Any]]:
    """`{"path", "entries": [...]}`; a bare list from early servers is accepted too."""
    entries = listing.get("entries") if isinstance(listing, dict) else listing
    return [e for e in entries or [] if isinstance(e, dict)] if isinstance(entries, list) else []


def is_dir_entry(entry: dict[str, Any] | None) -> bool:
    return entry is not None and entry.get("type") in ("dir", "directory")


def make_progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet or not sys.stdout.isatty(),
    )


def sha256_of(path: Path, progress: Progress) -> str:
    digest = hashlib.sha256()
    task = progress.add_task(f"hashing {path.name}", total=path.stat().st_size)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            progress.advance(task, len(chunk))
    progress.remove_task(task)
    return digest.hexdigest()


def upload_file(client: Client, path: Path, remote: str, progress: Progress) -> str:
    size = path.stat().st_size
    sha = sha256_of(path, progress)
    url = files_url(remote)
    head = head_request(client, url, params={"upload": "true"})
    offset = int(head.headers.get("Upload-Offset", "0") or 0) if head.is_success else 0
    if not 0 < offset < size:
        offset = 0  # nothing to continue, or an unfinished upload of a different (longer) file
    headers = {"X-Sha256": sha, "Content-Length": str(size - offset)}
    if offset:
        headers["Content-Range"] = f"bytes {offset}-{size - 1}/{size}"
    task = progress.add_task(path.name, total=size, completed=offset)

    def body() -> Iterator[bytes]:
        with path.open("rb") as fh:
            fh.seek(offset)
            while chunk := fh.read(CHUNK):
                progress.advance(task, len(chunk))
                yield chunk

    timeout = httpx.Timeout(30.0, write=None, read=300.0)  # the server hashes before answering
    client.request("PUT", url, content=body(), headers=headers, timeout=timeout)
    resumed = f", resumed at {human_bytes(offset)}" if offset else ""
    return f"{path} -> {remote.strip('/')} ({human_bytes(size)}{resumed})"


def download_file(client: Client, remote: str, target: Path, progress: Progress) -> str:
    part = target.with_name(f".{target.name}.part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", files_url(remote), headers=headers, allow=(416,)) as response:
        if response.status_code == 416:  # the part is as long as the file, or longer: start over
            part.unlink()
            return download_file(client, remote, target, progress)
        if response.status_code != 206:
            have = 0
        total = have + int(response.headers.get("Content-Length", "0") or 0)
        match = re.match(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
        total = int(match.group(1)) if match else total
        task = progress.add_task(target.name, total=total or None, completed=have)
        with part.open("ab" if have else "wb") as fh:
            for chunk in response.iter_bytes(CHUNK):
                fh.write(chunk)
                progress.advance(task, len(chunk))
        expected = response.headers.get("X-Sha256")
    if total and part.stat().st_size != total:
        raise CliError(
            f"{remote}: got {part.stat().st_size} of {total} bytes; run the same cp again to resume"
        )
    if expected and sha256_of(part, progress) != expected.lower():
        part.unlink()
        raise CliError(f"{remote}: checksum mismatch after download; the partial file was removed")
    os.replace(part, target)
    return f"{remote.strip('/')} -> {target} ({human_bytes(total or target.stat().st_size)})"


def cmd_cp(client: Client, args: argparse.Namespace) -> int:
    if is_remote(args.src) == is_remote(args.dst):
        raise CliError(
            "cp copies between this machine and the server: exactly one of SRC and DST must "
            "start with resources/ or workspaces/"
        )
    done: list[str] = []
    with make_progress(args.quiet) as progress:
        if is_remote(args.dst):
            src = Path(args.src)
            if not src.exists():
                raise CliError(f"{src}: no such file or directory")
            if src.is_dir() and not args.recursive:
                raise CliError(f"{src} is a directory; use -r to copy it")
            dst = args.dst.strip("/")
            if args.dst.endswith("/") or is_dir_entry(remote_entry(client, dst)):
                dst = f"{dst}/{src.name}"
            files = [src] if src.is_file() else sorted(p for p in src.rglob("*") if p.is_file())
            for path in files:
                remote = dst if path == src else f"{dst}/{path.relative_to(src).as_posix()}"
                done.append(upload_file(client, path, remote, progress))
        else:
            src = args.src.strip("/")
            entry = remote_entry(client, src)
            if entry is None:
                raise CliError(f"{src}: not found on {client.server}")
            dst = Path(args.dst)
            target = dst / src.rsplit("/", 1)[-1] if dst.is_dir() else dst
            if not is_dir_entry(entry):
                done.append(download_file(client, src, target, progress))
            elif not args.recursive:
                raise CliError(f"{src} is a directory; use -r to copy it")
            else:
                for remote, local in remote_tree(client, src, target):
                    local.parent.mkdir(parents=True, exist_ok=True)
                    done.append(download_file(client, remote, local, progress))
    if not args.quiet:
        print("\n".join(done))
    return 0


def remote_tree(client: Client, remote: str, local: Path) -> Iterator[tuple[str, Path]]:
    local.mkdir(parents=True, exist_ok=True)
    for entry in listing_entries(client.json("GET", files_url(remote))):
        child, path = f"{remote}/{entry['name']}", local / entry["name"]
        if is_dir_entry(entry):
            yield from remote_tree(client, child, path)
        else:
            yield child, path


# ---------------------------------------------------------------- parser


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


if __name__ == "__main__":
    sys.exit(main())
