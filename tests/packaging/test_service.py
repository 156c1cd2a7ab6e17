"""The systemd unit starts the command install.sh links, with flags `winslow node` knows, and
restarts it on failure; its command line, expanded as systemd would, starts a node."""

from __future__ import annotations

import configparser
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.harness import free_port, wait_for
from tests.packaging.conftest import ROOT
from winslow.api.node import cli as node_cli

UNIT = ROOT / "scripts" / "winslow-node.service"
DEFAULTS = ROOT / "scripts" / "winslow.default"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def _defaults(**changes: str) -> dict[str, str]:
    values = {}
    for line in DEFAULTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return {**values, **changes}


def _exec_start(env: dict[str, str]) -> list[str]:
    """ExecStart as systemd expands it: ${X} one word, $X split into words, %l the short host name."""
    words = []
    for word in shlex.split(_unit()["Service"]["ExecStart"]):
        if word == "%l":
            words.append(socket.gethostname().split(".")[0])
        elif word.startswith("${"):
            words.append(env[word[2:-1]])
        elif word.startswith("$"):
            words += env[word[1:]].split()
        else:
            words.append(word)
    return words


def test_the_unit_restarts_the_node_and_waits_for_docker_and_the_network():
    unit = _unit()
    assert unit["Service"]["Restart"] == "on-failure"
    assert unit["Service"]["EnvironmentFile"] == "/etc/default/winslow"
    assert "docker.service" in unit["Unit"]["Requires"]
    after = set(unit["Unit"]["After"].split())
    assert {"network-online.target", "remote-fs.target", "docker.service"} <= after
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "--service" in (ROOT / "scripts" / "install.sh").read_text()


def test_the_unit_runs_the_linked_command_with_flags_winslow_node_knows():
    argv = _exec_start(_defaults(WINSLOW_ARGS="--cpus 2 --no-execute"))
    assert argv[0] == "/usr/local/bin/winslow", "where scripts/install.sh links it"
    parser = node_cli.argparse.ArgumentParser(prog="winslow")
    node_cli._node_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv[1:])
    assert args.share == Path("/srv/winslow") and args.port == 8080 and args.cpus == 2 and args.no_execute


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_finds_nothing_wrong_in_the_unit_but_the_missing_binary(tmp_path):
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [
        line
        for line in (checked.stdout + checked.stderr).splitlines()
        if line.strip() and "/usr/local/bin/winslow" not in line and "docker.service" not in line
    ]
    assert problems == []


def test_the_expanded_command_line_starts_a_node(tmp_path, monkeypatch):
    port = free_port()
    share = str(tmp_path / "share")
    env = _defaults(WINSLOW_SHARE=share, WINSLOW_PORT=str(port), WINSLOW_ARGS="--no-execute")
    argv = [sys.executable, "-m", "winslow.api.node.cli", *_exec_start(env)[1:]]
    monkeypatch.setenv("WINSLOW_CONFIG", str(tmp_path / "config.yaml"))
    node = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200, 30, "the node")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["node"] == node_cli.node_name(
            socket.gethostname()
        )
    finally:
        node.terminate()
        node.wait(20)
