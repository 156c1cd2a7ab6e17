"""A run's parsed log (controller.parsedlogs): rows appended as whole lines under a header,
bounded, continued after a restart, begun anew for a fresh run, and never through a link or into
a pipe that a stage left in its workspace; a failure never reaches the log's copy."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from winslow.controller.parsedlogs import ParsedLog, csv_path
from winslow.resources.parsedrows import compiled

pytestmark = pytest.mark.timeout(60)

PARSERS = compiled([("loss", r"epoch (?P<epoch>\d+) loss (?P<loss>[\d.]+)"), ("acc", r"acc (?P<acc>[\d.]+)")])
STAMP = "2026-12-04T15:30:42.5Z"


def rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.read_text().splitlines()))


def test_rows_go_under_a_header_per_parser_and_every_file_is_begun(tmp_path: Path) -> None:
    parsed = ParsedLog(tmp_path, PARSERS, fresh=True)
    parsed.feed(b"epoch 1 loss 0.5\nepoch 2 loss 0.4\nnoise\n", STAMP)
    parsed.feed(b"epoch 3 loss", STAMP)
    parsed.close()
    assert rows(csv_path(tmp_path, "loss")) == [
        ["time", "epoch", "loss"],
        ["2026-12-04T15:30:42.500Z", "1", "0.5"],
        ["2026-12-04T15:30:42.500Z", "2", "0.4"],
    ]
    assert rows(csv_path(tmp_path, "acc")) == [["time", "acc"]], "a parser with no match yet has its header"


def test_a_restarted_node_continues_a_file_and_a_fresh_run_begins_a_copied_one(tmp_path: Path) -> None:
    first = ParsedLog(tmp_path, PARSERS, fresh=True)
    first.feed(b"epoch 1 loss 0.5\n", STAMP)
    first.close()
    with csv_path(tmp_path, "loss").open("ab") as fh:
        fh.write(b"2026-12-04T15:30:43.000Z,2,0.")  # a kill mid-row
    again = ParsedLog(tmp_path, PARSERS, fresh=False, max_rows=3)
    again.feed(b"epoch 3 loss 0.3\nepoch 4 loss 0.2\nepoch 5 loss 0.1\n", STAMP)
    again.close()
    found = rows(csv_path(tmp_path, "loss"))
    assert found[0] == ["time", "epoch", "loss"] and found[1][1:] == ["1", "0.5"]
    assert found[2] == ["2026-12-04T15:30:43.000Z", "2", "0."], "the cut row stays a line of its own"
    assert [r[1] for r in found[3:]] == ["3"], "at most max_rows rows: 1, the cut one and 3"
    anew = ParsedLog(tmp_path, PARSERS, fresh=True)
    anew.feed(b"epoch 9 loss 0.9\n", STAMP)
    anew.close()
    assert [r[1] for r in rows(csv_path(tmp_path, "loss"))] == ["epoch", "9"]


def test_a_file_stops_at_its_byte_bound_on_a_whole_row(tmp_path: Path) -> None:
    parsed = ParsedLog(tmp_path, PARSERS, fresh=True, max_bytes=100)
    parsed.feed(b"".join(b"epoch %d loss 0.5\n" % i for i in range(20)), STAMP)
    parsed.close()
    data = csv_path(tmp_path, "loss").read_bytes()
    assert len(data) <= 100 and data.endswith(b"\n")


def test_a_link_or_a_pipe_the_stage_left_is_never_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / ".winslow").symlink_to(outside)
    parsed = ParsedLog(workspace, PARSERS, fresh=True)
    parsed.feed(b"epoch 1 loss 0.5\n", STAMP)  # no exception reaches the streamer
    parsed.close()
    assert list(outside.iterdir()) == []
    other = tmp_path / "ws2"
    (other / ".winslow" / "parsed").mkdir(parents=True)
    os.mkfifo(other / ".winslow" / "parsed" / "loss.csv")
    parsed = ParsedLog(other, PARSERS, fresh=False)
    parsed.feed(b"epoch 1 loss 0.5\n", STAMP)  # returns: the pipe is not waited on
    parsed.close()
    assert rows(csv_path(other, "acc")) == [["time", "acc"]], "the other parser's file is written"


def test_a_workspace_that_is_gone_costs_nothing_but_rows(tmp_path: Path) -> None:
    parsed = ParsedLog(tmp_path / "missing", PARSERS, fresh=True)
    for _ in range(3):
        parsed.feed(b"epoch 1 loss 0.5\n", STAMP)
    parsed.close()
