"""A node that restarts resumes a run's log after what its killed process copied; the results the
stage printed there are read back from the log (the chaos test of sweeps lost one so)."""

from __future__ import annotations

from pathlib import Path

from winslow.reconcilers.stagerun.observe import Reported
from winslow.resources.pipeline import ProgressForm


def test_what_was_printed_before_a_restart_is_read_back_from_the_log(tmp_path: Path) -> None:
    log = tmp_path / "p.1.train.log"
    log.write_bytes(
        b"[winslow] 2026-12-04T17:45:11Z starting img on node-a\n"
        b"A=2 B=x\nWINSLOW_RESULT: ab=2x\nWINSLOW_PROGRESS: 40\n\xff\xfe not utf-8\n"
    )
    reported = Reported(ProgressForm.MARKER)
    reported.recall(log)
    reported.feed(b"WINSLOW_RESULT: loss=0.1\n", "2026-12-04T17:45:20.000000000Z")
    seen = reported.seen()
    assert seen.results == {"ab": "2x", "loss": "0.1"} and seen.progress == 40


def test_only_the_end_of_a_huge_log_is_read_back_and_from_a_whole_line(tmp_path: Path) -> None:
    log = tmp_path / "p.1.train.log"
    log.write_bytes(b"WINSLOW_RESULT: early=1\n" + b"x" * 1000 + b"\nWINSLOW_RESULT: late=2\n")
    reported = Reported(ProgressForm.MARKER)
    reported.recall(log, limit=100)
    assert reported.seen().results == {"late": "2"}


def test_a_run_without_a_log_recalls_nothing(tmp_path: Path) -> None:
    reported = Reported(ProgressForm.MARKER)
    reported.recall(tmp_path / "missing.log")
    assert reported.seen().results == {}
