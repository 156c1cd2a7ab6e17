"""Properties of reading a stage's output (resources.stageoutput) over generated outputs: any
pieces read the same, the first `=` splits, the last line wins, everything stays bounded."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winslow.resources.pipeline import ProgressForm
from winslow.resources.stageoutput import LINE_LIMIT, RESULT_KEYS, RESULT_VALUE, StageOutput

pytestmark = pytest.mark.timeout(60)

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=30).map(str.strip)
numbers = st.decimals(min_value=-50, max_value=250, places=2).map(lambda d: f"{d:f}")


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["result", "progress", "percent", "noise", "binary", "long"]))
    if kind == "result":
        line = f"WINSLOW_RESULT: {draw(keys)}={draw(values)}".encode()
    elif kind == "progress":
        line = f"WINSLOW_PROGRESS: {draw(numbers)}".encode()
    elif kind == "percent":
        line = (
            f"step {draw(st.integers(0, 10))}: {draw(numbers)}{draw(st.sampled_from(['%', ' %']))}".encode()
        )
    elif kind == "noise":
        line = draw(st.text(max_size=40)).encode("utf-8", "surrogatepass").replace(b"\n", b" ")
    elif kind == "binary":
        line = draw(st.binary(max_size=40)).replace(b"\n", b" ")
    else:
        line = b"WINSLOW_RESULT: long=" + b"y" * draw(st.integers(LINE_LIMIT - 40, LINE_LIMIT + 40))
    return line + draw(st.sampled_from([b"\n", b"\r\n"]))


outputs = st.lists(lines(), max_size=25).map(b"".join)
forms = st.sampled_from(list(ProgressForm))


def read(data: bytes, form: ProgressForm = ProgressForm.MARKER) -> StageOutput:
    output = StageOutput(form)
    output.feed(data)
    return output


def in_pieces(data: bytes, cuts: list[int], form: ProgressForm) -> StageOutput:
    output = StageOutput(form)
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        output.feed(data[start:end])
    return output


@settings(max_examples=150)
@given(outputs, st.lists(st.integers(min_value=0), max_size=30), forms)
def test_any_pieces_of_any_output_read_the_same(data, cuts, form):
    whole = read(data, form)
    pieces = in_pieces(data, cuts, form)
    assert (pieces.results, pieces.progress) == (whole.results, whole.progress)


@settings(max_examples=150)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=30), forms)
def test_any_bytes_in_any_pieces_read_the_same_and_never_fail(data, cuts, form):
    whole = read(data, form)
    pieces = in_pieces(data, cuts, form)
    assert (pieces.results, pieces.progress) == (whole.results, whole.progress)


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=20))
def test_one_byte_at_a_time_reads_the_same(cuts):
    data = b"".join(
        [
            b"WINSLOW_RESULT: a=1\n",
            "WINSLOW_RESULT: name=caf\u00e9=ok\n".encode(),
            b"WINSLOW_PROGRESS: 12.5\n",
            b"\xff\xfe\n",
        ]
    )
    output = StageOutput()
    for byte in data:
        output.feed(bytes([byte]))
    assert output.results == {"a": "1", "name": "caf\u00e9=ok"} and output.progress == 12.5


@given(outputs, forms)
def test_what_is_kept_is_bounded(data, form):
    output = read(data, form)
    assert len(output.results) <= RESULT_KEYS
    assert all(len(value) <= RESULT_VALUE for value in output.results.values())
    assert output.progress is None or 0 <= output.progress <= 100


@given(keys, values, values)
def test_the_value_is_everything_after_the_first_equals(key, left, right):
    value = f"{left}={right}".strip()
    output = read(f"WINSLOW_RESULT: {key}={value}\n".encode())
    assert output.results == {key: value}


@given(keys, st.lists(values, min_size=1, max_size=5))
def test_a_later_line_with_the_same_key_wins(key, written):
    data = b"".join(f"WINSLOW_RESULT: {key}={v}\n".encode() for v in written)
    assert read(data).results == {key: written[-1]}


@given(
    st.lists(
        st.decimals(min_value=0, max_value=250, places=2).map(lambda d: f"{d:f}"), min_size=1, max_size=5
    )
)
def test_the_last_progress_marker_wins_clamped(written):
    data = b"".join(f"WINSLOW_PROGRESS: {n}\n".encode() for n in written)
    assert read(data).progress == min(100.0, float(written[-1]))


@given(st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=5))
def test_percent_lines_take_the_last_percentage_only_when_opted_in(percentages):
    line = " ".join(f"{p}%" for p in percentages).encode() + b"\n"
    assert read(line, ProgressForm.PERCENT_LINES).progress == percentages[-1]
    assert read(line).progress is None
