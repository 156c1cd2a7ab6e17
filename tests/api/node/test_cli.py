"""`winslow node`'s checks before it starts: a name from `$(hostname)`, GPUs it really has."""

from __future__ import annotations

import argparse

import pytest

from tests.controller.test_capacity import FakeNvml
from winslow.api.node import cli as node_cli
from winslow.controller import capacity


@pytest.mark.parametrize(
    "given, expected",
    [
        ("Build.Example.ORG", "build"),
        ("WS-01.lab.example", "ws-01"),
        ("my_host", "my-host"),
        ("node-a", "node-a"),
        (" gpu1\n", "gpu1"),
        ("-edge-", "edge"),
    ],
)
def test_host_names_become_node_names(given, expected):
    assert node_cli.node_name(given) == expected


@pytest.mark.parametrize("bad", ["", ".lab.example", "___", "-", "x" * 64])
def test_what_cannot_become_a_node_name_is_refused_with_the_rule(bad):
    with pytest.raises(argparse.ArgumentTypeError, match="cannot be a node name: give --name with at most"):
        node_cli.node_name(bad)


def test_the_node_command_says_why_a_name_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        node_cli.main(["node", "--share", str(tmp_path / "share"), "--name", "___"])
    assert stopped.value.code == 2
    assert "argument --name: '___' cannot be a node name" in capsys.readouterr().err
    assert not (tmp_path / "share").exists()


def test_more_gpus_than_nvml_finds_stops_the_node_before_it_touches_the_share(tmp_path, monkeypatch):
    monkeypatch.setattr(capacity, "_load_nvml", lambda: FakeNvml(["NVIDIA H100"]))
    with pytest.raises(SystemExit) as stopped:
        node_cli.main(["node", "--share", str(tmp_path / "share"), "--gpus", "2"])
    assert str(stopped.value).startswith("winslow node: --gpus 2 is more than the 1 NVIDIA GPU(s) NVML finds")
    assert "(0: NVIDIA H100)" in str(stopped.value)
    assert not (tmp_path / "share").exists()


def test_a_memory_override_that_is_no_quantity_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"winslow node: .*16 GB"):
        node_cli.main(["node", "--share", str(tmp_path / "share"), "--memory", "16 GB"])
