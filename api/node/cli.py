"""The `winslow` command: `winslow node` wires a complete node from the other layers; `winslow user`
manages who may use the API.

Longer than most modules here: it wires a whole node, and checks each flag before anything
starts, so that a wrong one is one clear line and not a traceback later.
"""

from __future__ import annotations

import argparse
import asyncio.constants
import logging
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from prometheus_client import CollectorRegistry

from winslow.api.app import create_app
from winslow.api.identity import users
from winslow.api.identity.sessions import SessionStore
from winslow.api.node import doctor
from winslow.api.server import fastpath, leftovers
from winslow.api.server.deps import ApiContext
from winslow.api.winsctl import clientconfig
from winslow.controller import metrics, notify, watchdog
from winslow.controller.capacity import Capacity, CapacityError, GpuInfo, detect, oversubscribed
from winslow.controller.context import NodeConfig, NodeContext
from winslow.controller.daemon import Daemon
from winslow.controller.eventlog import EventLog
from winslow.controller.layout import ShareLayout
from winslow.controller.leases import Leases
from winslow.controller.loop import WorkQueue, every
from winslow.controller.reconciler import Reconciler
from winslow.controller.runtime import Runtime
from winslow.controller.slurm_runtime import SlurmRuntime
from winslow.controller.stagelogs import MIN_LIMIT
from winslow.reconcilers import runfiles
from winslow.reconcilers.notify import Sender
from winslow.reconcilers.project import ProjectReconciler
from winslow.reconcilers.pruning import ContainerPruner
from winslow.reconcilers.retention import RetentionReconciler
from winslow.reconcilers.stagerun import StageRunReconciler
from winslow.reconcilers.stagerun.adopt import adopt_all
from winslow.resources import labels as node_labels
from winslow.resources.amount import Amount, Weights
from winslow.resources.base import check_dns_label
from winslow.resources.quantity import parse_memory

log = logging.getLogger("winslow")
SHUTDOWN_SECONDS = 10  # requests still open then (a stalled upload) are cut; uploads resume later


def node_name(text: str) -> str:
    """A node name from what people pass, usually `$(hostname)`: names are DNS labels (they
    become file names and container labels), so a host name's first label is taken, lowercased,
    with other characters turned into '-'. What cannot become a name is refused."""
    label = text.strip().split(".")[0]
    name = re.sub(r"[^a-z0-9-]+", "-", label.lower()).strip("-")
    try:
        return check_dns_label(name)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot be a node name: give --name with at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit (for example ws-01)"
        ) from None


def _log_bytes(text: str) -> int:
    try:
        size = parse_memory(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size < MIN_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r} is too small; at least {MIN_LIMIT} bytes (4Ki)")
    return size


def _node_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "node", help="run a node daemon on a share", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--share", required=True, type=Path, help="the shared directory (created if missing)")
    p.add_argument(
        "--name",
        type=node_name,
        default=socket.gethostname(),
        help="this node's name (default: the host name; 'WS-01.lab.example' becomes ws-01)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address the API listens on")
    p.add_argument("--port", type=int, default=8080, help="API port")
    p.add_argument("--no-execute", action="store_true", help="observe and serve only; never run stages")
    p.add_argument(
        "--lease-seconds",
        type=float,
        default=30.0,
        help="locks and elections: how long a node that went silent holds up the others",
    )
    p.add_argument(
        "--grace-seconds", type=float, default=5.0, help="how long past a lease's end others still wait"
    )
    p.add_argument(
        "--election-seconds", type=float, default=2.0, help="the longest an election waits for votes"
    )
    p.add_argument(
        "--stage-tolerance",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long this node's stages outlive its silence (a restart, a freeze, a full share): "
        "within it the node adopts them again; past it its watchdog has stopped them and the "
        "others mark them Lost. The node shows NotReady after three missed heartbeats",
    )
    p.add_argument(
        "--runtime",
        choices=("docker", "slurm"),
        default="docker",
        help="how stages run: containers on this machine (docker), or one Slurm job each (slurm: the "
        "cluster sees the share at the same path, with the same user ids)",
    )
    p.add_argument(
        "--slurm-partition", help="with --runtime slurm: the partition jobs go to (default: Slurm's)"
    )
    p.add_argument(
        "--slurm-container",
        choices=("podman", "docker"),
        default="podman",
        help="with --runtime slurm: what runs the stage's image inside the job (podman stays in the "
        "job's cgroup; a docker container escapes Slurm's limits and scancel)",
    )
    p.add_argument("--cpus", type=float, help="override detected CPUs (above the machine: a warning)")
    p.add_argument("--memory", help="override detected memory, e.g. 64Gi (above the machine: a warning)")
    p.add_argument("--gpus", type=int, help="offer the first N GPUs NVML finds (more than it finds: refused)")
    p.add_argument(
        "--simulate-gpus",
        action="store_true",
        help="for tests: --gpus above what NVML finds adds simulated GPUs (their stages get no device)",
    )
    p.add_argument(
        "--multiplier",
        action="append",
        default=[],
        metavar="CATEGORY=N",
        help="score multiplier per category (cpu, memory, gpu); repeatable",
    )
    p.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="what this node is, e.g. gpu=a100; only nodes with every label of a stage's nodeSelector "
        "take part in its election; repeatable",
    )
    p.add_argument(
        "--max-log-bytes",
        type=_log_bytes,
        default="1Gi",
        metavar="SIZE",
        help="container output kept in a StageRun's log on the share (e.g. 256Mi): its head and its tail",
    )
    p.add_argument("--tick", type=float, default=0.05, help="loop period in seconds")
    p.add_argument("--scan-seconds", type=float, default=1.0, help="how often spec files are checked")
    p.add_argument(
        "--compact-every", type=int, default=1000, help="events between snapshots of the coordination log"
    )
    p.add_argument(
        "--keep-containers",
        type=float,
        default=24.0,
        metavar="HOURS",
        help="remove finished StageRuns' containers this long after they exit",
    )
    p.add_argument(
        "--upload-max-age",
        type=leftovers.hours,
        default=leftovers.DEFAULT_HOURS,
        metavar="HOURS",
        help="remove what aborted uploads left in resources/ and workspaces/ once untouched this long",
    )
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM; with --tls-key)")
    p.add_argument("--tls-key", type=Path, help="the certificate's private key (PEM)")
    p.add_argument(
        "--public-url",
        help="how people reach this node's UI, for the links in notifications (default: http://HOST:PORT)",
    )
    p.add_argument(
        "--smtp",
        metavar="HOST:PORT",
        help="mail server for `spec.notify` email targets (password: env WINSLOW_SMTP_PASSWORD)",
    )
    p.add_argument("--smtp-from", default=f"winslow@{socket.gethostname()}", help="the sender of mails")
    p.add_argument("--smtp-starttls", action="store_true", help="upgrade the SMTP connection with STARTTLS")
    p.add_argument("--smtp-user", help="log in to the SMTP server as this user")
    p.add_argument(
        "--remind-after",
        type=float,
        default=12.0,
        metavar="HOURS",
        help="remind `spec.notify` targets of a gate still waiting for confirmation this long (and again "
        "each time as long)",
    )


_TOKEN_EXAMPLES = """examples:
  winslow user token list alice --share /srv/winslow
  winslow user token add alice --share /srv/winslow            # a second token, for CI say
  winslow user token rotate alice --share /srv/winslow         # all of alice's tokens: one new one
  winslow user token rotate alice --id 3f9c2a1b --share /srv/winslow
  winslow user token revoke alice --id 3f9c2a1b --share /srv/winslow
  winslow user token revoke alice --share /srv/winslow         # every token: alice keeps no access
"""
_REVOKE_EXAMPLES = """examples:
  winslow user revoke alice --share /srv/winslow               # sign alice out of every browser
  winslow user revoke alice --tokens --share /srv/winslow      # and revoke all her API tokens
"""


def _user_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("user", help="manage API users and tokens (settings/users.yaml)")
    verbs = p.add_subparsers(dest="user_command", required=True)
    add = verbs.add_parser("add", help="add a user and print its new token (shown only this once)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may see every project and change settings")
    add.add_argument("--group", action="append", default=[], help="a group (projects list group:NAME)")
    add.add_argument("--share", required=True, type=Path)
    listing = verbs.add_parser("list", help="list users, their groups and whether they are admins")
    listing.add_argument("--share", required=True, type=Path)
    revoke = verbs.add_parser(
        "revoke",
        help="end all of a user's web UI sessions on every node (--tokens: and revoke its API tokens)",
        epilog=_REVOKE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    revoke.add_argument("name")
    revoke.add_argument("--tokens", action="store_true", help="also revoke every API token of the user")
    revoke.add_argument("--share", required=True, type=Path)
    token = verbs.add_parser(
        "token",
        help="list, add, rotate or revoke a user's API tokens",
        epilog=_TOKEN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = token.add_subparsers(dest="token_command", required=True)
    for action, text in (
        ("list", "list a user's tokens: ids, creation times and live web UI sessions (never a secret)"),
        ("add", "give a user another token and print it (shown only this once)"),
        ("rotate", "replace a user's token by a new one, printed once; the old one stops working"),
        ("revoke", "remove a user's token and end the user's web UI sessions"),
    ):
        verb = actions.add_parser(
            action, help=text, epilog=_TOKEN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        verb.add_argument("name")
        if action in ("rotate", "revoke"):
            verb.add_argument("--id", help="only this token (ids: `winslow user token list`); default: all")
        verb.add_argument("--share", required=True, type=Path)


def _stamp(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else "-"


def _run_token(layout: ShareLayout, args: argparse.Namespace) -> int:
    path, name = layout.users_file, args.name
    sessions = SessionStore(layout.sessions, time.time)
    if args.token_command == "list":
        live = Counter(s.token for s in sessions.of_user(name))
        rows = [(t.id, _stamp(t.created), str(live[t.id])) for t in users.tokens(path, name)]
        for row in [("ID", "CREATED", "SESSIONS"), *rows]:
            print(f"{row[0]:<12} {row[1]:<22} {row[2]}")
        return 0
    if args.token_command == "revoke":
        removed = users.revoke_token(path, name, args.id)
        ended = sessions.end_user(name)
        print(
            f"revoked {len(removed)} token(s) of {name} ({', '.join(removed) or '-'}) and ended "
            f"{ended} web UI session(s); they fail on every node now",
            file=sys.stderr,
        )
        return 0
    if args.token_command == "add":
        token, info = users.add_token(path, name)
        print(token)
        print(f"added token {info.id} to {name}; the token above is shown only now", file=sys.stderr)
        return 0
    token, info, replaced = users.rotate_token(path, name, args.id)
    ended = sessions.end_user(name, replaced)
    print(token)
    print(
        f"token {info.id} of {name} replaces {', '.join(replaced) or 'nothing'}, which stop working now, "
        f"with the {ended} web UI session(s) signed in with them; the token above is shown only now",
        file=sys.stderr,
    )
    return 0


def _run_revoke(layout: ShareLayout, args: argparse.Namespace) -> int:
    known = {u.name for u in users.UserDirectory(layout.users_file).all()}
    if args.name not in known:
        raise users.UsersFileError(f"there is no user {args.name!r} in {layout.users_file}")
    removed = users.revoke_token(layout.users_file, args.name) if args.tokens else []
    ended = SessionStore(layout.sessions, time.time).end_user(args.name)
    tokens = f" and revoked {len(removed)} API token(s)" if args.tokens else ""
    print(f"ended {ended} web UI session(s) of {args.name}{tokens}, on every node", file=sys.stderr)
    return 0


def run_user(args: argparse.Namespace) -> int:
    layout = ShareLayout(args.share)
    path = layout.users_file
    if not args.share.is_dir():
        print(f"error: {args.share} does not exist; give the share a node runs on", file=sys.stderr)
        return 1
    try:
        if args.user_command == "add":
            token = users.add(path, args.name, admin=args.admin, groups=args.group)
            print(token)
            print(
                f"added {args.name} to {path}; the token above is shown only now. "
                "winsctl takes it with --token, WINSLOW_TOKEN or `token:` in its config file",
                file=sys.stderr,
            )
            return 0
        if args.user_command == "token":
            return _run_token(layout, args)
        if args.user_command == "revoke":
            return _run_revoke(layout, args)
        known = users.UserDirectory(path).all()
        rows = [(u.name, "yes" if u.admin else "no", ",".join(sorted(u.groups)) or "-") for u in known]
        for row in [("NAME", "ADMIN", "GROUPS"), *rows]:
            print(f"{row[0]:<24} {row[1]:<6} {row[2]}")
        return 0
    except users.UsersFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write to {args.share}: {exc.strerror or exc}", file=sys.stderr)
        return 1


def seed_access(layout: ShareLayout, server: str) -> None:
    """Quick start: a fresh share gets an `admin` user, whose token goes where winsctl looks for it."""
    token = users.create_first_admin(layout.users_file)
    if token is None:
        return
    path = clientconfig.config_file()
    try:
        config = clientconfig.load(path)
    except clientconfig.ConfigError as exc:
        log.warning("created user admin, but %s; the token is: %s", exc, token)
        return
    old = config.get("token")  # cannot be valid here: this share had no users until now
    clientconfig.save(path, {**config, "server": server, "token": token})
    log.info(
        "created user admin in %s; its token is in %s (mode 0600), where winsctl finds it%s",
        layout.users_file,
        path,
        f" (it replaced the token there for {config.get('server')})" if old else "",
    )


def _tls(args: argparse.Namespace) -> bool:
    """Checked before anything starts, so a wrong key file is one clear line, not a traceback later."""
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit("winslow node: give both --tls-cert and --tls-key, or neither")
    if args.tls_cert is None:
        return False
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(args.tls_cert, args.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(
            f"winslow node: cannot use --tls-cert {args.tls_cert} --tls-key {args.tls_key}: {exc}"
        ) from None
    return True


def _server_url(args: argparse.Namespace, https: bool) -> str:
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if https else 'http'}://{host}:{args.port}"


def _multipliers(items: list[str]) -> Weights:
    values = {"cpu": 1.0, "memory": 1.0, "gpu": 1.0}
    for item in items:
        key, _, value = item.partition("=")
        if key not in values:
            raise SystemExit(f"--multiplier {item}: category must be cpu, memory or gpu")
        values[key] = float(value)
    return Weights(cpu=values["cpu"], memory=values["memory"], gpu=values["gpu"])


def _labels(items: list[str]) -> dict[str, str]:
    try:
        return node_labels.parse_all(items)
    except ValueError as exc:
        raise SystemExit(f"winslow node: {exc}") from None


def _slurm_capacity(args: argparse.Namespace, runtime: SlurmRuntime) -> Capacity:
    """What a Slurm node offers in elections: the partition's nodes' total (sinfo, read once at
    start), each part replaced by --cpus/--memory/--gpus where given."""
    found = runtime.partition_capacity()
    if found is None and (args.cpus is None or args.memory is None):
        raise SystemExit(
            "winslow node: sinfo does not answer for the Slurm partition; is Slurm up "
            "(scripts/slurm-dev.sh up)? Or give --cpus and --memory"
        )
    cpus, memory, gpus = found or (0.0, 0, 0)
    try:
        if args.memory:
            memory = parse_memory(args.memory)
    except ValueError as exc:
        raise SystemExit(f"winslow node: {exc}") from None
    count = args.gpus if args.gpus is not None else gpus
    model = f"slurm:{args.slurm_partition or 'default'}"
    return Capacity(
        cpu=float(args.cpus if args.cpus is not None else cpus),
        memory=int(memory),
        gpus=[GpuInfo(i, model, 0) for i in range(count)],
    )


def _slurm_free(runtime: SlurmRuntime) -> Amount | None:
    free = runtime.partition_free()
    return None if free is None else Amount(free[0], free[1], free[2])


def _capacity(args: argparse.Namespace) -> Capacity:
    try:
        memory = parse_memory(args.memory) if args.memory else None
        return detect(args.cpus, memory, args.gpus, simulate_gpus=args.simulate_gpus)
    except (CapacityError, ValueError) as exc:
        raise SystemExit(f"winslow node: {exc}") from None


def _smtp(args: argparse.Namespace) -> notify.Smtp | None:
    """Checked before anything starts; the password only ever comes from the environment."""
    if args.smtp is None:
        if args.smtp_user or args.smtp_starttls:
            raise SystemExit("winslow node: --smtp-user and --smtp-starttls need --smtp HOST:PORT")
        return None
    try:
        host, port = notify.parse_smtp(args.smtp)
    except ValueError as exc:
        raise SystemExit(f"winslow node: --smtp {exc}") from None
    password = os.environ.get("WINSLOW_SMTP_PASSWORD")
    if args.smtp_user and not password:
        raise SystemExit("winslow node: --smtp-user needs the password in env WINSLOW_SMTP_PASSWORD")
    return notify.Smtp(host, port, args.smtp_from, args.smtp_starttls, args.smtp_user, password)


def run_node(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s %(levelname)s node={args.name} %(name)s: %(message)s",
    )
    tls = _tls(args)
    labels = _labels(args.label)
    slurm = (
        SlurmRuntime(
            Path(args.share) / "run" / "slurm", partition=args.slurm_partition, engine=args.slurm_container
        )
        if args.runtime == "slurm" and not args.no_execute
        else None
    )
    # a refused --gpus leaves the share untouched
    capacity = _slurm_capacity(args, slurm) if slurm is not None else _capacity(args)
    notes = oversubscribed(capacity) if slurm is None else []
    for note in notes:
        log.warning("%s: Docker refuses stages that ask for more than the machine has", note)
    url = _server_url(args, tls)
    smtp = _smtp(args)
    layout = ShareLayout(args.share)
    layout.ensure()
    seed_access(layout, url)
    config = NodeConfig(
        name=args.name,
        executes=not args.no_execute,
        lease_seconds=args.lease_seconds,
        grace_seconds=args.grace_seconds,
        election_seconds=args.election_seconds,
        stage_tolerance=args.stage_tolerance,
        capacity=capacity,
        multipliers=_multipliers(args.multiplier),
        labels=labels,
        max_log_bytes=args.max_log_bytes,
        remind_after=args.remind_after * 3600,
    )
    clock = time.time
    registry = CollectorRegistry(auto_describe=True)
    events = EventLog(layout.events, args.name, clock, compact_every=args.compact_every)
    runtime: Runtime | None = slurm
    if config.executes and slurm is None:
        from winslow.controller.docker_runtime import DockerRuntime

        runtime = DockerRuntime(notes=notes)
    ctx = NodeContext(
        config=config,
        layout=layout,
        events=events,
        leases=Leases(events, args.lease_seconds, args.grace_seconds),
        runtime=runtime,
        clock=clock,
        queue=WorkQueue(time.monotonic, observer=metrics.LoopMetrics(registry)),  # a wall clock jumps
    )
    if slurm is not None:
        ctx.outside_free = lambda: _slurm_free(slurm)
    events.catch_up()
    metrics.register(registry, ctx)  # counts from here on (a restart starts its counters at zero)
    adopt = adopt_all(ctx) if config.executes else []
    runfiles.check_recent(ctx)
    reconcilers: list[Reconciler] = [
        ProjectReconciler(ctx, scan_interval=args.scan_seconds),
        StageRunReconciler(ctx, adopted=adopt),
        ContainerPruner(ctx, keep_seconds=args.keep_containers * 3600),
        RetentionReconciler(ctx),
    ]
    if config.executes:
        kept = [r.lease_key for r in reconcilers]
        ctx.fence = watchdog.Fence(
            watchdog.fence_path(watchdog.state_dir(), layout.uid, args.name),
            ctx.leases,
            kept=lambda subject: any(key(subject) is not None for key in kept),
            share_uid=layout.uid,
            slurm_root=slurm.root if slurm is not None else None,
        )
        ctx.fence.refresh()  # before the watchdog starts: it leaves at once if it finds nothing to watch
        ctx.fence.ensure_watched()
    daemon = Daemon(
        ctx,
        reconcilers,
        api=url,
        tick=args.tick,
        duties=[every(1.0, lambda: runfiles.reproject(ctx), time.monotonic)],
    )
    daemon.start(adopt)
    sender = Sender(ctx, args.public_url or url, smtp, observer=metrics.NotifyCounters(registry, args.name))
    sender.start()
    sweeper = leftovers.Sweeper(layout.root, args.upload_max_age * 3600)
    sweeper.start()
    api_ctx = ApiContext(layout=layout, leases=ctx.leases, node=args.name, clock=clock, registry=registry)
    app = create_app(api_ctx)
    if tls:
        # asyncio waits 60 s for a TLS handshake, before the protocol (and its limits on headers
        # and connections, api.fastpath) sees the connection: no longer than for headers.
        asyncio.constants.SSL_HANDSHAKE_TIMEOUT = fastpath.HEADER_TIMEOUT
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            http=fastpath.Protocol,
            loop="asyncio",  # uvloop has no loop.sendfile, which api.fastpath sends downloads with
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
            ssl_certfile=str(args.tls_cert) if tls else None,
            ssl_keyfile=str(args.tls_key) if tls else None,
        )
    )
    log.info(
        "node %s serving %s on share %s (cpus=%g memory=%d gpus=%d%s, %s)",
        args.name,
        url,
        layout.root,
        capacity.cpu,
        capacity.memory,
        len(capacity.gpus),
        f" [{', '.join(f'{g.index}: {g.model}' for g in capacity.gpus)}]" if capacity.gpus else "",
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
        sweeper.stop()
        sender.stop()
        daemon.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="winslow", description="Winslow node daemon and admin commands")
    sub = parser.add_subparsers(dest="command", required=True)
    _node_parser(sub)
    _user_parser(sub)
    doctor.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "node":
        return run_node(args)
    if args.command == "user":
        return run_user(args)
    if args.command == "doctor":
        return doctor.run(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
