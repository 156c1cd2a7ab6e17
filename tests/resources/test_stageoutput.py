"""What a stage reports in its output, read in any pieces (resources.stageoutput)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from winslow.resources.pipeline import ProgressForm
from winslow.resources.stageoutput import LINE_LIMIT, RESULT_KEYS, StageOutput

pytestmark = pytest.mark.timeout(60)

OUTPUT = (
    b"starting\n"
    b"WINSLOW_RESULT: accuracy=0.91\n"
    b"WINSLOW_RESULT: url=https://x.org/?a=b&c=d\n"
    b"WINSLOW_PROGRESS: 42\r\n"
    b"downloading weights 97 % done\n"
    b"\xff\xfe not utf-8\n"
    b"WINSLOW_RESULT: accuracy=0.93\n"
    b"WINSLOW_RESULT: verdict = good enough \n"
)


def read(data: bytes, form: ProgressForm = ProgressForm.MARKER) -> StageOutput:
    output = StageOutput(form)
    output.feed(data)
    return output


def test_results_take_everything_after_the_first_equals_and_a_later_line_wins():
    output = read(OUTPUT)
    assert output.results == {"accuracy": "0.93", "url": "https://x.org/?a=b&c=d", "verdict": "good enough"}
    assert output.progress == 42, "a tool's own percentage is not the stage's progress"


def test_percent_lines_take_any_percentage_when_the_stage_opts_in():
    assert read(OUTPUT, ProgressForm.PERCENT_LINES).progress == 97
    assert read(b"epoch 3: 12.5% 30%\n", ProgressForm.PERCENT_LINES).progress == 30, "the last on the line"


def test_progress_is_clamped_and_an_unfinished_line_waits_for_its_end():
    assert read(b"WINSLOW_PROGRESS: 250\n").progress == 100
    assert read(b"WINSLOW_PROGRESS: -3\n").progress == 0
    assert read(b"WINSLOW_PROGRESS: 7").progress is None
    assert read(b"WINSLOW_PROGRESS: ten\n").progress is None


def test_an_endless_line_and_too_many_keys_are_bounded():
    endless = b"WINSLOW_RESULT: big=" + b"x" * (LINE_LIMIT * 3) + b"\nWINSLOW_RESULT: small=1\n"
    assert read(endless).results == {"small": "1"}
    many = b"".join(b"WINSLOW_RESULT: k%d=v\n" % i for i in range(RESULT_KEYS + 10))
    output = read(many + b"WINSLOW_RESULT: k0=changed\n")
    assert len(output.results) == RESULT_KEYS and output.results["k0"] == "changed"


@given(st.lists(st.integers(min_value=0, max_value=len(OUTPUT)), max_size=12))
def test_any_pieces_of_the_same_output_read_the_same(cuts):
    output = StageOutput()
    bounds = [0, *sorted(cuts), len(OUTPUT)]
    for start, end in itertools.pairwise(bounds):
        output.feed(OUTPUT[start:end])
    whole = read(OUTPUT)
    assert (output.results, output.progress) == (whole.results, whole.progress)
