"""Tables, times and sizes as winsctl prints them; kubectl's habits are the guide."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from winslow.resources.matrix import label


def _caret(code: int) -> str:
    """`cat -v`'s names: ^[ for ESC, ^? for DEL, M-^[ for the C1 CSI; widely known, and inert."""
    if code == 0x7F:
        return "^?"
    return ("M-" if code >= 0x80 else "") + "^" + chr((code & 0x7F) + 0x40)


CONTROLS = {c: _caret(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if c not in (0x09, 0x0A, 0x0D)}


class Printable:
    """A log made safe for a terminal, chunk by chunk: a stage's output must not retitle, clear or
    drive the terminal of whoever reads it (ESC ] 0; ... BEL, ESC [ 2J, OSC 52 to the clipboard).

    Control characters but newline, tab and carriage return (which progress bars redraw with, and
    which moves only the cursor) are shown as `cat -v` shows them (`CONTROLS`), C1
    included: those are code points U+0080..U+009F, so the bytes are decoded as UTF-8 first, and
    a character split across two chunks is held until the rest arrives. Bytes that are not UTF-8
    become U+FFFD, since a terminal in another encoding would take a lone 0x9b for CSI.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: bytes) -> bytes:
        return self._decoder.decode(chunk).translate(CONTROLS).encode()

    def end(self) -> bytes:
        """What an unfinished character at the very end stands for (U+FFFD), once no more comes."""
        return self._decoder.decode(b"", final=True).translate(CONTROLS).encode()


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


def node_condition(node: Any) -> str:
    """`Ready`, or `NotReady 2m` (since when it went silent or stopped)."""
    if pick(node, "status.ready") is not False:
        return "Ready"
    since = pick(node, "status.notReadySince")
    return f"NotReady {age(since)}" if since else "NotReady"


def progress(value: Any) -> str:
    return "-" if value is None else f"{value:g}%"


def results(values: Any) -> str:
    """`key=value` pairs, each value cut to what fits a table cell: `describe` shows them whole."""
    if not values:
        return "-"
    return " ".join(f"{k}={v if len(str(v)) <= 24 else str(v)[:23] + '…'}" for k, v in values.items())


def node_labels(values: Any) -> str:
    """`gpu=a100,disk=ssd`, as a stage's nodeSelector names them; `-` for none."""
    return ",".join(f"{k}={v}" for k, v in sorted((values or {}).items())) or "-"


def trigger(run: Any) -> str:
    """`user (alice)`: who resumed or confirmed, where the API recorded it; `+ new pipeline` when
    that resume took the pipeline as it was then (`winsctl get stagerun NAME -o yaml` says how)."""
    by = pick(run, "status.triggeredBy")
    said = f"{text(pick(run, 'status.trigger'))} ({by})" if by else text(pick(run, "status.trigger"))
    return f"{said} + new pipeline" if pick(run, "spec.pipelineChanges") else said


COLUMNS: dict[str, list[tuple[str, Getter]]] = {
    "pipelines": [NAME, ("STAGES", lambda o: str(len(pick(o, "spec.stages") or []))), AGE],
    "queue": [
        ("#", at("position")),
        ("PROJECT", lambda o: text(pick(o, "project") or "(not yours)")),
        (
            "STAGE",
            lambda o: (
                text(pick(o, "stage") or "-")
                + (f" [{label(pick(o, 'matrix'))}]" if pick(o, "matrix") else "")
            ),
        ),
        ("PRIORITY", at("priority")),
        ("WAITING", at("since", age)),
        ("WHY", at("why")),
        ("DETAIL", at("detail")),
    ],
    "quotas": [
        NAME,
        (
            "SCOPE",
            lambda o: next(
                (f"{k} {pick(o, 'spec.' + k)}" for k in ("user", "group", "project") if pick(o, "spec." + k)),
                "-",
            ),
        ),
        (
            "HARD",
            at(
                "spec.hard",
                lambda v: " ".join(f"{k}={x}" for k, x in (v or {}).items() if x is not None) or "-",
            ),
        ),
        AGE,
    ],
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
        ("TRIGGER", trigger),
        ("EXIT", at("status.exitCode")),
        AGE,
    ],
    "nodes": [
        NAME,
        ("STATUS", node_condition),
        ("EXECUTES", lambda o: text(pick(o, "status.executes") is not False)),
        ("CPU", at("status.capacity.cpu", lambda v: f"{v or 0:g}")),
        ("MEMORY", at("status.capacity.memory", human_bytes)),
        ("GPU", at("status.capacity.gpu", lambda v: str(v or 0))),
        ("RESERVED", at("status.reservations", lambda r: amounts(r).replace("memory ", "mem "))),
        ("HEARTBEAT", at("status.heartbeat", age)),
    ],
}
WIDE: dict[str, list[tuple[str, Getter]]] = {
    "queue": [("REQUEST", at("request", lambda v: " ".join(f"{k}={x:g}" for k, x in (v or {}).items())))],
    "quotas": [],
    "pipelines": [
        ("STAGE-NAMES", lambda o: ",".join(s.get("name", "?") for s in pick(o, "spec.stages") or []))
    ],
    "projects": [
        ("TAGS", at("spec.tags", lambda v: ",".join(v or []) or "-")),
        ("REASON", at("status.reason")),
    ],
    "stageruns": [
        ("IMAGE", at("spec.image")),
        ("ATTEMPT", at("spec.attempt")),
        ("MATRIX", at("status.matrix", lambda v: label(v) if v else "-")),  # as --matrix takes it
        ("PROGRESS", at("status.progress", progress)),
        ("RESULTS", at("status.results", results)),
        ("MESSAGE", at("status.message")),
    ],
    "nodes": [
        ("CPU%", at("status.utilisation.cpuPercentPerCore", mean_percent)),
        ("CLOCK", at("status.clockOffsetSeconds", lambda v: "-" if v is None else f"{v:+.1f}s")),
        ("LABELS", at("metadata.labels", node_labels)),
        ("API", at("status.api")),
    ],
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
        ("Tags", at("spec.tags", lambda v: ", ".join(v or []) or "-")),
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
        ("Trigger", trigger),
        ("Exit Code", at("status.exitCode")),
        ("Started", at("status.startTime", local_time)),
        ("Finished", at("status.finishTime", local_time)),
        ("Duration", lambda o: duration(o.get("status", {}))),
        ("Progress", at("status.progress", progress)),
        ("Message", at("status.message")),
    ],
    "nodes": [
        ("Name", at("metadata.name")),
        ("Status", node_condition),
        ("Condition", at("status.condition")),
        ("Stage Tolerance", at("status.stageTolerance", lambda v: "-" if v is None else f"{v:g}s")),
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
    ("TRIGGER", trigger),
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
