"""The winsctl commands, each a function of the client and the parsed arguments.

Longer than most modules here: one function per verb of winsctl, with the helpers several of
them share; the file verbs live in files.py and tree.py, the report in report.py.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import yaml

from winslow.api.winsctl import located, selector
from winslow.api.winsctl.client import (
    KINDS,
    MAX_RECONNECTS,
    SINGULAR,
    VOLATILE_COLUMNS,
    Client,
    CliError,
    Unreachable,
    api_detail,
)
from winslow.api.winsctl.render import (
    DESCRIBE,
    HISTORY,
    NAME,
    STAGES,
    Getter,
    Printable,
    at,
    column_widths,
    dump,
    fields,
    human_bytes,
    indented,
    items_of,
    mapping,
    mean_percent,
    pick,
    rows_for,
    table,
    text,
)
from winslow.resources.matrix import MatrixError, count, from_flags
from winslow.resources.wording import yaml_problem, yaml_where

POLL_INTERVAL = 1.0
RECONNECT_DELAY = 1.0


def kind_arg(value: str) -> str:
    try:
        return KINDS[value.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(
            f"unknown kind {value!r}; use one of pipeline (pl), project (pj), stagerun (sr), node (no)"
        ) from None


def cmd_apply(client: Client, args: argparse.Namespace) -> int:
    """`--diff` is kubectl diff: nothing is written, and the exit status says whether the files on
    the share would change (1) or not (0); errors exit 2 so that scripts can tell them apart."""
    try:
        return _apply(client, args)
    except CliError as exc:
        raise CliError(str(exc), code=2 if args.diff else exc.code) from None


def _apply(client: Client, args: argparse.Namespace) -> int:
    documents: list[dict[str, Any]] = []
    origins: list[tuple[str, int, int]] = []  # (file, index in file, documents in file)
    texts: dict[str, str] = {}  # to name the line of a problem the server finds
    for target in args.filename:
        for path in manifest_files(target):
            docs = read_manifests(path, texts)
            origins += [(path, i, len(docs)) for i in range(len(docs))]
            documents += docs
    if not documents:
        raise CliError(f"no manifests found in {', '.join(args.filename)}")
    files = sorted({o[0] for o in origins})
    source = files[0] if len(files) == 1 else ",".join(args.filename)
    body = {"documents": documents, "source": source, "dryRun": args.dry_run or args.diff}
    try:
        response = client.request("POST", "/api/v1/apply", json=body, allow=(422,))
    except CliError as exc:
        raise CliError(name_files(str(exc), source, origins) if len(files) > 1 else str(exc)) from None
    reply = response.json()
    if response.status_code == 422:
        problems = reply.get("problems") if isinstance(reply, dict) else None
        placed = located.render(problems, source, origins, texts) if isinstance(problems, list) else None
        detail = placed or api_detail(response)
        raise CliError(name_files(detail, source, origins) if len(files) > 1 else detail)
    for warning in reply.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    suffix = " (dry run)" if reply.get("dryRun", body["dryRun"]) else ""
    words = {"created": "created", "updated": "configured", "unchanged": "unchanged"}
    changed = False
    for result in reply.get("results", []):
        word = words.get(result["result"], result["result"])
        subject = f"{result['kind'].lower()}/{result['name']}"
        print(f"{subject} {word}{suffix}")
        changed |= result["result"] != "unchanged"
        if result.get("removed"):
            print(
                f"warning: {subject}: the file does not mention {', '.join(result['removed'])}; "
                f"{'they would be' if suffix else 'they were'} removed",
                file=sys.stderr,
            )
        if result.get("kept"):
            print(
                f"  kept {', '.join(result['kept'])} (set by pause, resume or confirm; "
                "the file does not mention it)"
            )
        if args.diff and result.get("diff"):
            print(result["diff"].rstrip("\n"))
    return 1 if args.diff and changed else 0


def manifest_files(target: str) -> list[str]:
    if target == "-":
        return ["-"]
    path = Path(target)
    if path.is_dir():
        return sorted(str(p) for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not path.exists():
        raise CliError(f"{target}: no such file or directory")
    return [target]


def read_manifests(path: str, texts: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Syntax errors stop here, before any request, so a typo never half-applies a directory."""
    try:
        content = sys.stdin.read() if path == "-" else Path(path).read_text()
        if texts is not None:
            texts[path] = content
        docs = [d for d in yaml.safe_load_all(content) if d is not None]
    except yaml.MarkedYAMLError as exc:
        line, column = yaml_where(exc)
        where = f"{path}:{line}:{column}" if line else path
        raise CliError(f"{where}: invalid YAML: {yaml_problem(exc)}") from None
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


def filters(args: argparse.Namespace) -> Callable[[dict[str, Any]], bool]:
    """What `-l/--selector` and `--tag` keep; checked before any request."""
    if (args.selector or args.tag) and args.name:
        raise CliError("a NAME names one object; -l/--selector and --tag filter lists: give one or the other")
    if args.tag and args.kind != "projects":
        raise CliError(f"--tag filters projects (their spec.tags); {args.kind} have no tags")
    try:
        wanted = selector.parse(args.selector) if args.selector else []
    except selector.SelectorError as exc:
        raise CliError(f"-l/--selector: {exc}") from None
    return lambda item: (
        selector.matches(wanted, pick(item, "metadata.labels"))
        and selector.tagged(args.tag, pick(item, "spec.tags"))
    )


def listed(client: Client, args: argparse.Namespace, keep: Callable[[dict[str, Any]], bool]) -> Any:
    data = fetch(client, args.kind, args.name, args.project)
    if args.name or not (args.selector or args.tag):
        return data
    return {**data, "items": [item for item in items_of(data) if keep(item)]}


def cmd_get(client: Client, args: argparse.Namespace) -> int:
    keep = filters(args)
    if args.watch:
        return watch(client, args, keep)
    data = listed(client, args, keep)
    for warning in data.get("warnings", []) if isinstance(data, dict) else []:
        print(f"warning: {warning}", file=sys.stderr)  # files it could not read (still listed), clocks
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


def watch(client: Client, args: argparse.Namespace, keep: Callable[[dict[str, Any]], bool]) -> int:
    """Polling, not events: the API has no watch stream, and 1 s is plenty for stages of hours."""
    deadline = time.monotonic() + args.timeout if args.timeout else None
    seen: dict[str, Any] = {}
    widths: list[int] | None = None
    while True:
        items = items_of(listed(client, args, keep))
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
    if args.kind in ("projects", "pipelines"):
        lines += mapping("Labels", pick(obj, "metadata.labels"))
    if args.kind == "projects":
        runs = items_of(client.json("GET", "/api/v1/stageruns", params={"project": args.name}))
        title, stages = project_stages(client, obj)
        lines += mapping("Env", pick(obj, "spec.env")) + indented(title, STAGES, stages)
        changes = pick(obj, "status.pipelineChanges") or []
        if changes:
            lines.append(
                f"Pipeline {pick(obj, 'spec.pipeline')} changed since the snapshot (a resume takes it):"
            )
            lines += [f"  {change}" for change in changes]
        lines += indented("History", HISTORY, runs)
        failures = pick(obj, "status.notifyFailures") or []
        if failures:
            lines.append("Notifications not sent:")
            lines += [f"  {failure}" for failure in failures]
    elif args.kind == "stageruns":
        lines += mapping("Matrix", pick(obj, "status.matrix"))
        lines += mapping("Results", pick(obj, "status.results"))
        lines += mapping("Resources", pick(obj, "spec.resources")) + mapping("Env", pick(obj, "spec.env"))
    elif args.kind == "nodes":
        for gpu in pick(obj, "status.gpus") or []:
            lines.append(
                f"GPU {gpu.get('index')}:  {gpu.get('model', '')} {human_bytes(gpu.get('memoryBytes'))}, "
                f"utilisation {text(gpu.get('utilisation'))}"
            )
        running = [f"  {r}" for r in pick(obj, "status.running") or []]
        if pick(obj, "status.runningHidden"):
            running.append(f"  and {pick(obj, 'status.runningHidden')} of projects you may not see")
        lines += ["Running:"] + (running or ["  <none>"])
    else:
        lines += mapping("Env", pick(obj, "spec.env")) + indented(
            "Stages", STAGES, pick(obj, "spec.stages") or []
        )
    print("\n".join(lines))
    return 0


def project_stages(client: Client, obj: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The stages a project runs: its snapshot once started (pipeline edits no longer reach it),
    else its own list or its pipeline as it is now."""
    snapshot = pick(obj, "status.pipeline")
    if isinstance(snapshot, dict) and snapshot.get("stages"):
        source = f"snapshot of pipeline {snapshot['name']}" if snapshot.get("name") else "snapshot"
        return f"Stages ({source}, taken when the project started)", snapshot["stages"]
    if pick(obj, "spec.stages"):
        return "Stages (its own, not started yet)", pick(obj, "spec.stages")
    name = pick(obj, "spec.pipeline")
    if not name:
        return "Stages", []
    try:
        pipeline = client.json("GET", f"/api/v1/pipelines/{quote(name)}")
    except CliError as exc:
        return f"Stages (pipeline {name}: {exc})", []
    return f"Stages (pipeline {name} as it is now; not started yet)", pick(pipeline, "spec.stages") or []


def cmd_delete(client: Client, args: argparse.Namespace) -> int:
    if args.kind not in ("pipelines", "projects", "quotas"):
        raise CliError(f"{args.kind} cannot be deleted; delete their project instead")
    if args.purge and args.kind != "projects":
        raise CliError(f"--purge removes a project's files; {args.kind} have none")
    for name in args.names:
        params = {"purge": "true"} if args.purge else None
        reply = client.json("DELETE", f"/api/v1/{args.kind}/{quote(name)}", params=params)
        subject = f"{SINGULAR[args.kind]}/{name}"
        print(f"{subject} deleted" if reply.get("deleted") else f"{subject}: purged what it left")
        for warning in reply.get("warnings", []):
            print(f"warning: {warning}", file=sys.stderr)
        if reply.get("purged"):
            print(f"  removed {', '.join(reply['purged'])}")
        if reply.get("left"):
            print(f"  left on the share: {'; '.join(reply['left'])}")
            print(
                f"  (`winsctl delete project {name} --purge` removes them; an admin's, now the spec is gone)"
            )
    return 0


def latest_run(client: Client, project: str, stage: str | None) -> str:
    runs = items_of(client.json("GET", "/api/v1/stageruns", params={"project": project}))
    if stage:
        runs = [r for r in runs if r.get("spec", {}).get("stage") == stage]
    if not runs:
        if client.request("GET", f"/api/v1/projects/{quote(project)}", allow=(404,)).status_code == 404:
            raise CliError(f"project {project!r} not found; `winsctl get projects` lists those you may see")
        raise CliError(f"project {project!r} has no StageRuns{f' of stage {stage!r}' if stage else ''} yet")
    return str(runs[-1]["metadata"]["name"])


def cmd_logs(client: Client, args: argparse.Namespace) -> int:
    name = args.stagerun
    if not name and not args.project:
        raise CliError("name a StageRun (PROJECT.N.STAGE), a project, or give --project")
    if not name or "." not in name:
        name = latest_run(client, args.project, name) if args.project else latest_run(client, name, None)
    sys.stdout.flush()
    stream_log(client, name, follow=args.follow, out=sys.stdout.buffer, raw=args.raw)
    return 0


def stream_log(client: Client, name: str, *, follow: bool, out: IO[bytes], raw: bool = False) -> int:
    """Resume from the bytes already written, so a dropped connection neither repeats nor skips.

    Unless `raw`, what reaches `out` is made inert for a terminal (render.Printable); one filter
    for the whole stream, reconnects included, so nothing split at a chunk's end slips through."""
    received, failures = 0, 0
    printable = None if raw else Printable()
    while True:
        params = {"follow": "true" if follow else "false", "offset": str(received)}
        try:
            with client.stream("GET", f"/api/v1/stageruns/{quote(name)}/log", params=params) as response:
                for chunk in response.iter_bytes():
                    out.write(chunk if printable is None else printable.feed(chunk))
                    out.flush()
                    received += len(chunk)
                    failures = 0
            if printable is not None:
                out.write(printable.end())
                out.flush()
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
    if action == "resume":
        sweep = _sweep(args.matrix, args.from_stage) if args.matrix else None
        asked = {"from": args.from_stage, "keepSnapshot": args.keep_snapshot or None, "matrix": sweep}
        body = {key: value for key, value in asked.items() if value is not None} or None
        note = f" from stage {args.from_stage}" if args.from_stage else ""
        note += f" sweeping {count(sweep)} combinations" if sweep else ""
        note += " with the pipeline as it first ran" if args.keep_snapshot else ""
    elif action == "confirm" and args.stage:
        body, note = {"stage": args.stage}, f" (stage {args.stage})"
    reply = client.json("POST", f"/api/v1/projects/{quote(project)}/{action}", json=body)
    print(f"project/{project} {'confirmed' if action == 'confirm' else action + 'd'}{note}")
    changes = reply.get("pipelineChanges") or []
    if changes:
        pipeline = reply.get("spec", {}).get("pipeline")
        print(f"  takes pipeline {pipeline} as it is now, changed since the project's snapshot:")
        for change in changes:
            print(f"    {change}")
        print("  (--keep-snapshot reruns the old one)")
    return 0


def _sweep(flags: list[str], stage: str | None) -> dict[str, list[str]]:
    if stage is None:
        raise CliError("--matrix sweeps the stage named by --from; add --from STAGE")
    try:
        return from_flags(flags)
    except MatrixError as exc:
        raise CliError(f"--matrix: {exc}") from None


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
    ("RUNNING", lambda o: str(len(pick(o, "status.running") or []) + (pick(o, "status.runningHidden") or 0))),
]


def gpu_load(gpus: list[dict[str, Any]]) -> str:
    loads = [g["utilisation"] for g in gpus if g.get("utilisation") is not None]
    return f" @{sum(loads) / len(loads):.0f}%" if loads else ""


DISK: list[tuple[str, Getter]] = [
    ("NAME", at("project")),
    ("WORKSPACES", at("workspaces")),
    ("WORKSPACE-BYTES", at("workspaceBytes", human_bytes)),
    ("LOGS", at("logBytes", human_bytes)),
    ("INPUT", at("inputBytes", human_bytes)),
    ("OUTPUT", at("outputBytes", human_bytes)),
    ("TOTAL", lambda o: human_bytes(o.get("totalBytes")) + ("+" if o.get("partial") else "")),
]


def cmd_top_projects(client: Client, args: argparse.Namespace) -> int:
    """Each project's disk use on the share, largest first; `+`: the walk was capped, at least this."""
    answer = client.json("GET", "/api/v1/disk/projects")
    if args.output == "json":
        print(json.dumps(answer, indent=2))
        return 0
    rows = answer.get("items", [])
    headers = [h for h, _ in DISK]
    print("\n".join(table(headers, [headers, *[[get(r) for _, get in DISK] for r in rows]])))
    if any(r.get("partial") for r in rows):
        print("+: the walk met its cap of entries or time, or is an older one; at least this much")
    return 0


def cmd_top(client: Client, args: argparse.Namespace) -> int:
    if args.kind == "projects":
        return cmd_top_projects(client, args)
    nodes = items_of(client.json("GET", "/api/v1/nodes"))
    if args.output == "json":
        print(json.dumps(nodes, indent=2))
        return 0
    headers = [h for h, _ in TOP]
    print("\n".join(table(headers, [headers, *[[get(n) for _, get in TOP] for n in nodes]])))
    return 0


def client_version() -> str:
    try:
        return importlib_metadata.version("winslow")
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def cmd_version(client: Client, args: argparse.Namespace) -> int:
    print(f"Client Version: {client_version()}")
    if not args.client:
        health = client.json("GET", "/healthz")
        print(f"Server: {client.server} (node {health.get('node', '?')}, {health.get('status', '?')})")
    return 0


# ---------------------------------------------------------------- cp
