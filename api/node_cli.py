"""The `winslow` command: `winslow node` wires a complete node from the other layers."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from api.app import create_app
from api.deps import ApiContext
from controller.capacity import detect
from controller.context import NodeConfig, NodeContext
from controller.daemon import Daemon
from controller.eventlog import EventLog
from controller.events import Request
from controller.layout import ShareLayout
from controller.leases import Locks
from controller.loop import WorkQueue
from reconcilers import project as project_reconciler
from reconcilers import stagerun as stagerun_reconciler
from resources.quantity import parse_memory

log = logging.getLogger("winslow")


def _node_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("node", help="run a node daemon on a share")
    p.add_argument("--share", required=True, type=Path, help="the shared directory (created if missing)")
    p.add_argument("--name", default=socket.gethostname().split(".")[0].lower(), help="this node's name")
    p.add_argument("--host", default="127.0.0.1", help="address the API listens on")
    p.add_argument("--port", type=int, default=8080, help="API port")
    p.add_argument("--no-execute", action="store_true", help="observe and serve only; never run stages")
    p.add_argument("--lease-seconds", type=float, default=30.0)
    p.add_argument("--grace-seconds", type=float, default=5.0)
    p.add_argument("--election-seconds", type=float, default=2.0)
    p.add_argument("--cpus", type=float, help="override detected CPUs")
    p.add_argument("--memory", help="override detected memory, e.g. 64Gi")
    p.add_argument("--gpus", type=int, help="override detected GPUs")
    p.add_argument(
        "--multiplier",
        action="append",
        default=[],
        metavar="CATEGORY=N",
        help="score multiplier per category (cpu, memory, gpu); repeatable",
    )
    p.add_argument("--tick", type=float, default=0.1, help="loop period in seconds")
    p.add_argument("--scan-seconds", type=float, default=1.0, help="how often spec files are checked")
    p.add_argument("--log-level", default="INFO")


def _multipliers(items: list[str]) -> Request:
    values = {"cpu": 1.0, "memory": 1.0, "gpu": 1.0}
    for item in items:
        key, _, value = item.partition("=")
        if key not in values:
            raise SystemExit(f"--multiplier {item}: category must be cpu, memory or gpu")
        values[key] = float(value)
    return Request(cpu=values["cpu"], memory=values["memory"], gpu=values["gpu"])  # type: ignore[arg-type]


def run_node(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s %(levelname)s node={args.name} %(name)s: %(message)s",
    )
    layout = ShareLayout(args.share)
    layout.ensure()
    capacity = detect(args.cpus, parse_memory(args.memory) if args.memory else None, args.gpus)
    config = NodeConfig(
        name=args.name,
        executes=not args.no_execute,
        lease_seconds=args.lease_seconds,
        grace_seconds=args.grace_seconds,
        election_seconds=args.election_seconds,
        capacity=capacity,
        multipliers=_multipliers(args.multiplier),
    )
    clock = time.time
    events = EventLog(layout.events, args.name, clock, grace=args.grace_seconds)
    runtime = None
    if config.executes:
        from controller.docker_runtime import DockerRuntime

        runtime = DockerRuntime()
    ctx = NodeContext(
        config=config,
        layout=layout,
        events=events,
        locks=Locks(events, clock, args.lease_seconds),
        runtime=runtime,
        clock=clock,
        queue=WorkQueue(clock),
    )
    events.poll()
    adopt = stagerun_reconciler.adopt_all(ctx) if config.executes else []
    daemon = Daemon(
        ctx,
        {
            "project": lambda name: project_reconciler.reconcile(ctx, name),
            "stagerun": lambda name: stagerun_reconciler.reconcile(ctx, name),
        },
        api=f"http://{args.host}:{args.port}",
        tick=args.tick,
        scan_interval=args.scan_seconds,
    )
    daemon.start(adopt)
    app = create_app(ApiContext(layout=layout, events=events, node=args.name, clock=clock))
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning"))
    log.info(
        "node %s serving http://%s:%s on share %s (cpus=%g memory=%d gpus=%d, %s)",
        args.name,
        args.host,
        args.port,
        layout.root,
        capacity.cpu,
        capacity.memory,
        len(capacity.gpus),
        "executes stages" if config.executes else "observer",
    )
    stop = threading.Event()

    def _signal(*_: object) -> None:
        stop.set()
        server.should_exit = True

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    try:
        server.run()
    finally:
        daemon.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="winslow", description="Winslow node daemon and admin commands")
    sub = parser.add_subparsers(dest="command", required=True)
    _node_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "node":
        return run_node(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
